"""What ``dqueue jobs`` and ``dqueue job`` print, from views built by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dqueue.backends.base import JobResult, JobStatus
from dqueue.backends.inspection import JobPage, JobState, JobView
from dqueue.errors import JobNotFound, UsageError
from dqueue.job import Job, JobFailure
from dqueue.ops import JobDetail, JobsChanged, parse_state
from dqueue.ops.inspection import RAW_PREVIEW_CHARS
from dqueue.ops.job_views import job_detail_data, job_page_data, render_job, render_jobs

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC).timestamp()
HOSTILE = "evil\x1b[31m\nERROR forged line\u202e"


def view(
    state: JobState = JobState.DELAYED, *, task: str = "shop.tasks.send", **fields: object
) -> JobView:
    job = Job(
        id="j1",
        task=task,
        queue="mail",
        args=("ann@example.com",),
        kwargs={"subject": "hi"},
        enqueued_at=T0,
        run_after=T0 + 3600,
        attempt=1,
        max_attempts=5,
    )
    return JobView(job=job, state=state, due_at=T0 + 3600, **fields)  # type: ignore[arg-type]


def failure(attempt: int, message: str = "bad input") -> JobFailure:
    return JobFailure(
        exception_type="builtins.ValueError",
        message=message,
        traceback="Traceback ...",
        at=T0 + attempt,
        attempt=attempt,
    )


def test_a_page_of_delayed_jobs_shows_id_task_due_time_and_attempts() -> None:
    text = render_jobs(JobPage([view()]), JobState.DELAYED)

    header, _, row = text.splitlines()
    assert header.split() == ["id", "task", "due", "at", "attempt"]
    assert row.split() == ["j1", "shop.tasks.send", "2026-12-03T09:00:00+00:00", "1/5"]


def test_a_page_with_a_next_page_ends_with_the_command_that_shows_it() -> None:
    page = JobPage([view()], cursor='["delayed",1.5,"j1"]')

    text = render_jobs(page, JobState.DELAYED, next_page="dqueue jobs mail --state delayed")

    assert text.splitlines()[-1] == (
        """More: dqueue jobs mail --state delayed --cursor '["delayed",1.5,"j1"]'"""
    )


def test_an_empty_page_says_so_with_the_state() -> None:
    assert render_jobs(JobPage([]), JobState.IN_FLIGHT) == "No in-flight jobs."


def test_jobs_in_flight_show_their_worker_and_lease_end() -> None:
    running = view(JobState.IN_FLIGHT, worker_id="host:42/mail/1", lease_until=T0 + 60)

    row = render_jobs(JobPage([running]), JobState.IN_FLIGHT).splitlines()[2]

    assert row.split()[-4:] == ["host:42/mail/1", "2026-12-03T08:01:00+00:00", "-", "-"]


def test_a_job_cancelled_in_flight_says_so_in_the_list_and_on_its_page() -> None:
    running = view(JobState.IN_FLIGHT, worker_id="w", lease_until=T0 + 60, cancelled=True)

    row = render_jobs(JobPage([running]), JobState.IN_FLIGHT).splitlines()[2]
    text = render_job(JobDetail(job_id="j1", view=running, result=None))
    data = job_detail_data(JobDetail(job_id="j1", view=running, result=None))

    assert row.split()[-2] == "yes"
    assert "state:       in-flight (cancelled: this run goes on, it will not be retried)" in text
    assert data["cancelled"] is True


def test_jobs_in_flight_show_the_progress_their_task_reported() -> None:
    running = view(JobState.IN_FLIGHT, worker_id="w", lease_until=T0 + 60, progress={"done": 3})

    row = render_jobs(JobPage([running]), JobState.IN_FLIGHT).splitlines()[2]
    text = render_job(JobDetail(job_id="j1", view=running, result=None))
    data = job_page_data(JobPage([running]), "mail", JobState.IN_FLIGHT)

    assert row.endswith('{"done": 3}')
    assert 'progress:    {"done": 3}' in text.splitlines()
    assert data["jobs"][0]["progress"] == {"done": 3}


def test_a_finished_job_shows_the_last_progress_its_result_record_kept() -> None:
    record = JobResult(job_id="j1", status=JobStatus.SUCCEEDED, progress=[10, 10])

    text = render_job(JobDetail(job_id="j1", view=None, result=record))
    data = job_detail_data(JobDetail(job_id="j1", view=None, result=record))

    assert "progress:    [10, 10]" in text.splitlines()
    assert (data["progress"], data["result"]["progress"]) == ([10, 10], [10, 10])


def test_a_waiting_job_shows_no_progress_of_an_earlier_run_in_flight() -> None:
    record = JobResult(job_id="j1", status=JobStatus.FAILED, progress=0.5)

    data = job_detail_data(JobDetail(job_id="j1", view=view(), result=record))

    assert data["progress"] == 0.5  # the record's: the last reported, by the run that failed


def test_a_hostile_progress_cannot_forge_a_line_or_colour_the_terminal() -> None:
    running = view(JobState.IN_FLIGHT, worker_id="w", lease_until=T0 + 60, progress=HOSTILE)

    for text in (
        render_jobs(JobPage([running]), JobState.IN_FLIGHT),
        render_job(JobDetail(job_id="j1", view=running, result=None)),
    ):
        assert "\x1b" not in text
        assert "\u202e" not in text
        assert not any(line.startswith("ERROR forged") for line in text.splitlines())


def test_dead_jobs_show_the_first_line_of_their_failure() -> None:
    dead = view(JobState.DEAD, failure=failure(5, "bad input\nsecond line"))

    row = render_jobs(JobPage([dead]), JobState.DEAD).splitlines()[2]

    assert row.endswith("ValueError: bad input")


def test_times_are_shown_in_the_front_end_s_time_zone() -> None:
    paris = timezone(timedelta(hours=1))

    text = render_jobs(JobPage([view()]), JobState.DELAYED, tz=paris)

    assert "2026-12-03T10:00:00+01:00" in text


def test_a_hostile_task_name_cannot_forge_a_line_or_colour_the_terminal() -> None:
    hostile = view(task=HOSTILE, failure=failure(1, HOSTILE))

    for text in (
        render_jobs(JobPage([hostile]), JobState.DELAYED),
        render_jobs(JobPage([hostile]), JobState.DEAD),
        render_job(JobDetail(job_id="j1", view=hostile, result=None)),
    ):
        assert "\x1b" not in text
        assert "\u202e" not in text
        assert not any(line.startswith("ERROR forged") for line in text.splitlines())


def test_a_job_shows_its_arguments_due_time_attempts_and_worker() -> None:
    running = view(JobState.IN_FLIGHT, worker_id="host:42/mail/1", lease_until=T0 + 60)

    text = render_job(JobDetail(job_id="j1", view=running, result=None))

    assert text.splitlines() == [
        "id:          j1",
        "task:        shop.tasks.send",
        "queue:       mail",
        "state:       in-flight",
        "due at:      2026-12-03T09:00:00+00:00",
        "enqueued at: 2026-12-03T08:00:00+00:00",
        "attempts:    1 of 5",
        "worker:      host:42/mail/1",
        "lease until: 2026-12-03T08:01:00+00:00",
        'args:        ["ann@example.com"]',
        'kwargs:      {"subject": "hi"}',
    ]


def test_a_job_with_a_result_record_shows_each_failure_once_and_the_result() -> None:
    record = JobResult(
        job_id="j1",
        status=JobStatus.DEAD,
        failures=(failure(1), failure(2)),
        finished_at=T0 + 2,
        worker_ids=("host:1/mail/1", "host:2/mail/1"),
    )
    dead = view(JobState.DEAD, failure=failure(2))

    text = render_job(JobDetail(job_id="j1", view=dead, result=record))
    data = job_detail_data(JobDetail(job_id="j1", view=dead, result=record))

    assert "result:      dead at 2026-12-03T08:00:02+00:00" in text
    assert "ran on:      host:1/mail/1, host:2/mail/1" in text
    assert text.splitlines()[-3:] == [
        "failures:",
        "  attempt 1 at 2026-12-03T08:00:01+00:00: ValueError: bad input",
        "  attempt 2 at 2026-12-03T08:00:02+00:00: ValueError: bad input",
    ]
    assert [entry["attempt"] for entry in data["failures"]] == [1, 2]
    assert data["failures"][0]["traceback"] == "Traceback ..."
    assert data["result"]["status"] == "dead"


def test_a_finished_job_is_shown_from_its_result_record() -> None:
    record = JobResult(
        job_id="j1",
        status=JobStatus.SUCCEEDED,
        task="shop.tasks.add",
        queue="default",
        return_value=5,
        finished_at=T0,
        args=(2, 3),
    )

    detail = JobDetail(job_id="j1", view=None, result=record)
    text = render_job(detail)
    data = job_detail_data(detail)

    assert "state:       finished (no longer queued)" in text
    assert "returned:    5" in text
    assert "args:        [2, 3]" in text
    assert (data["state"], data["result"]["return_value"], data["args"]) == (None, 5, [2, 3])


def test_poison_is_shown_as_its_escaped_raw_payload_cut_short() -> None:
    raw = '{"v": 1, "task": "x\x1b[2J' + "A" * (RAW_PREVIEW_CHARS * 2)
    stand_in = Job(id="p1", task="<undecodable>", queue="mail", enqueued_at=T0)
    poison = JobView(job=stand_in, state=JobState.READY, due_at=T0, raw=raw)

    text = render_job(JobDetail(job_id="p1", view=poison, result=None))
    data = job_page_data(JobPage([poison]), "mail", JobState.READY)

    assert "\x1b" not in text
    assert "raw payload:" in text
    assert "args:" not in text
    shown = data["jobs"][0]["raw"]
    assert shown.isprintable()
    assert shown.endswith("more characters)")


def test_a_page_as_json_carries_the_jobs_and_the_next_cursor() -> None:
    page = JobPage([view(JobState.IN_FLIGHT, worker_id="w", lease_until=T0 + 60)], cursor="c2")

    data = json.loads(json.dumps(job_page_data(page, "mail", JobState.IN_FLIGHT)))

    assert data["cursor"] == "c2"
    (row,) = data["jobs"]
    assert (row["id"], row["state"], row["worker_id"]) == ("j1", "in_flight", "w")
    assert (row["due_at"], row["lease_until"]) == (
        "2026-12-03T09:00:00+00:00",
        "2026-12-03T08:01:00+00:00",
    )
    assert (row["args"], row["kwargs"]) == (["ann@example.com"], {"subject": "hi"})


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("ready", JobState.READY),
        ("Delayed", JobState.DELAYED),
        ("in-flight", JobState.IN_FLIGHT),
        ("in_flight", JobState.IN_FLIGHT),
        ("dead", JobState.DEAD),
    ],
)
def test_states_are_read_as_people_type_them(text: str, state: JobState) -> None:
    assert parse_state(text) is state


def test_an_unknown_state_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UsageError, match="use ready, delayed, in-flight, dead"):
        parse_state("running")


def test_ids_that_were_not_changed_are_refused_saying_why() -> None:
    change = JobsChanged(
        action="cancelled",
        job_ids=("a", "b", "c"),
        changed=("a",),
        missed={"b": None, "c": view(JobState.DEAD)},
    )

    with pytest.raises(JobNotFound) as refused:
        change.check_all_changed()

    assert str(refused.value) == "2 of 3 not cancelled: b (no such job), c (dead)"
