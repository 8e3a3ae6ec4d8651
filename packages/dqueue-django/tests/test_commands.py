from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import django
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from dqtest_shop.models import Record
from dqtest_shop.tasks import record, record_then_fail

from dqueue.backends import Backend
from dqueue.backends.workers import WorkerBeat, registry_of

Backends = Callable[[str], Backend]


def run(*args: str, **options: object) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def dead_letter(memory_backend: Backends) -> str:
    handle = record_then_fail("doomed")
    run("queue_worker", "default", "--burst")
    return handle.id


def test_queue_pause_for_a_duration_pauses_the_queue(memory_backend: Backends) -> None:
    output = run("queue_pause", "default", "--for", "1h2m3s")

    assert output.startswith("Paused queue default until ")
    assert memory_backend("default").paused_until("default") is not None


def test_queue_pause_reads_the_same_durations_as_the_dqueue_command(
    memory_backend: Backends,
) -> None:
    before = time.time()

    run("queue_pause", "default", "--for", "1.5h")

    until = memory_backend("default").paused_until("default")
    assert until is not None
    assert 5400 <= until - before < 5460


def test_queue_pause_until_a_time_pauses_until_then(memory_backend: Backends) -> None:
    run("queue_pause", "default", "--until", "2999-01-01T00:00:00+00:00")

    assert memory_backend("default").paused_until("default") == 32472144000.0


def test_queue_pause_reads_and_shows_times_in_time_zone(memory_backend: Backends) -> None:
    with override_settings(TIME_ZONE="Europe/Paris"):
        output = run("queue_pause", "default", "--until", "2999-01-01T00:00:00")

    assert output.strip() == "Paused queue default until 2999-01-01T00:00:00+01:00."


def test_queue_pause_without_an_end_pauses_until_resumed(memory_backend: Backends) -> None:
    output = run("queue_pause", "default")

    assert output.strip() == (
        "Paused queue default until resumed (manage.py queue_resume default)."
    )
    assert memory_backend("default").paused_until("default") is not None


def test_queue_pause_refuses_a_time_in_the_past(memory_backend: Backends) -> None:
    with pytest.raises(CommandError, match="in the past"):
        run("queue_pause", "default", "--until", "2001-01-01T00:00:00+00:00")
    assert memory_backend("default").paused_until("default") is None


def test_queue_pause_refuses_a_duration_it_cannot_read(memory_backend: Backends) -> None:
    with pytest.raises(CommandError, match="not a duration"):
        run("queue_pause", "default", "--for", "a while")


def test_queue_pause_says_when_the_backend_cannot_pause() -> None:
    sync = "dqueue.backends.synchronous.SynchronousBackend"
    with override_settings(DQUEUE_BACKEND=sync), pytest.raises(CommandError, match="cannot pause"):
        run("queue_pause", "default", "--for", "5m")


def test_queue_resume_ends_a_pause(memory_backend: Backends) -> None:
    run("queue_pause", "default", "--for", "1h")

    output = run("queue_resume", "default")

    assert output.strip() == "Resumed queue default."
    assert memory_backend("default").paused_until("default") is None


def test_queue_clear_with_yes_deletes_every_waiting_job(memory_backend: Backends) -> None:
    record("a")
    record.enqueue_in(3600, "b")

    output = run("queue_clear", "default", "--yes")

    assert output.strip() == "Cleared 2 waiting job(s) from queue default."
    assert memory_backend("default").length("default") == 0


def a_terminal_answering(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    """Questions are asked on a terminal, where the user answers ``answer``."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)


def test_queue_clear_asks_and_aborts_on_no(
    memory_backend: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    record("a")
    a_terminal_answering(monkeypatch, "n")

    with pytest.raises(CommandError, match="aborted; nothing changed"):
        run("queue_clear", "default")
    assert memory_backend("default").length("default") == 1


def test_queue_clear_asks_and_clears_on_yes(
    memory_backend: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    record("a")
    a_terminal_answering(monkeypatch, "y")

    run("queue_clear", "default")

    assert memory_backend("default").length("default") == 0


def test_queue_clear_without_yes_and_without_a_terminal_refuses(memory_backend: Backends) -> None:
    record("a")

    with pytest.raises(CommandError, match="without --yes"):
        run("queue_clear", "default")
    assert memory_backend("default").length("default") == 1


def test_queue_deduplicate_removes_identical_waiting_jobs(memory_backend: Backends) -> None:
    for _ in range(3):
        record("same", "1")
    record("other", "2")

    output = run("queue_deduplicate", "default")

    assert output.strip() == "Deduplication reduced the queue from 4 jobs to 2 job(s)."
    assert memory_backend("default").length("default") == 2


def test_queue_deduplicate_says_when_nothing_was_duplicated(memory_backend: Backends) -> None:
    record("one")

    output = run("queue_deduplicate", "default")

    assert output.strip() == "No duplicate jobs detected (queue length remains 1)."


def test_queue_worker_in_burst_mode_runs_the_waiting_jobs(memory_backend: Backends) -> None:
    record("burst", "1")
    record("burst", "2")

    run("queue_worker", "default", "--burst")

    assert list(Record.objects.values_list("value", flat=True)) == ["1", "2"]


def test_queue_dead_list_shows_the_failed_job_and_why(dead_letter: str) -> None:
    output = run("queue_dead", "list", "default")

    assert dead_letter in output
    assert "dqtest_shop.tasks.record_then_fail" in output
    assert "RuntimeError: failing on purpose after writing" in output


def test_queue_dead_list_as_json_carries_the_failure(dead_letter: str) -> None:
    rows = json.loads(run("queue_dead", "list", "default", "--json"))

    assert [row["id"] for row in rows] == [dead_letter]
    assert rows[0]["failure"]["exception_type"] == "builtins.RuntimeError"


def test_queue_dead_retry_puts_the_job_back(dead_letter: str, memory_backend: Backends) -> None:
    output = run("queue_dead", "retry", "default", dead_letter)

    assert output.strip() == "Requeued 1 dead letter(s) of queue default."
    assert memory_backend("default").length("default") == 1
    assert memory_backend("default").dead_letters("default") == []


def test_queue_dead_list_shows_tracebacks_when_asked(dead_letter: str) -> None:
    output = run("queue_dead", "list", "default", "--failure-tracebacks")

    assert f"\n{dead_letter}:\nTraceback (most recent call last):" in output


def test_queue_dead_purge_of_an_id_deletes_that_letter(
    dead_letter: str, memory_backend: Backends
) -> None:
    output = run("queue_dead", "purge", "default", dead_letter)

    assert output.strip() == "Purged 1 dead letter(s) of queue default."
    assert memory_backend("default").dead_letters("default") == []


def test_queue_dead_retry_of_an_unknown_id_names_the_list_command(dead_letter: str) -> None:
    with pytest.raises(CommandError, match=r"see 'manage.py queue_dead list default'"):
        run("queue_dead", "retry", "default", "nope-1")


def test_queue_dead_purge_of_everything_needs_yes(
    dead_letter: str, memory_backend: Backends
) -> None:
    with pytest.raises(CommandError, match="--yes"):
        run("queue_dead", "purge", "default")

    run("queue_dead", "purge", "default", "--yes")

    assert memory_backend("default").dead_letters("default") == []


def test_queue_jobs_lists_delayed_jobs_in_due_order(memory_backend: Backends) -> None:
    later = record.enqueue_in(7200, "later").id
    sooner = record.enqueue_in(3600, "sooner").id

    output = run("queue_jobs", "default", "--state", "delayed")

    rows = output.splitlines()[2:]
    assert [row.split()[0] for row in rows] == [sooner, later]
    assert all("dqtest_shop.tasks.record" in row for row in rows)


def test_queue_jobs_ends_a_full_page_with_the_command_for_the_next(
    memory_backend: Backends,
) -> None:
    for hours in (1, 2, 3):
        record.enqueue_in(3600 * hours, "later")

    first = run("queue_jobs", "default", "--state", "delayed", "--limit", "2")
    hint = first.strip().splitlines()[-1]
    assert hint.startswith("More: manage.py queue_jobs default --state delayed --limit 2 --cursor ")
    cursor = shlex.split(hint)[-1]

    rest = json.loads(
        run("queue_jobs", "default", "--state", "delayed", "--cursor", cursor, "--json")
    )

    assert len(rest["jobs"]) == 1
    assert rest["cursor"] is None


def test_queue_job_shows_a_job_s_arguments_and_due_time_in_time_zone(
    memory_backend: Backends,
) -> None:
    job_id = record.using(run_after=datetime(2999, 1, 1, tzinfo=UTC)).enqueue("later", "x").id

    with override_settings(TIME_ZONE="Europe/Paris"):
        output = run("queue_job", job_id)

    assert f"id:          {job_id}" in output
    assert "state:       delayed" in output
    assert "due at:      2999-01-01T01:00:00+01:00" in output
    assert 'args:        ["later", "x"]' in output


def test_queue_job_as_json_shows_each_failure_of_a_dead_job(dead_letter: str) -> None:
    data = json.loads(run("queue_job", dead_letter, "--json"))

    assert data["state"] == "dead"
    assert [failure["exception_type"] for failure in data["failures"]] == ["builtins.RuntimeError"]


def test_queue_cancel_cancels_a_waiting_job(memory_backend: Backends) -> None:
    job_id = record.enqueue_in(3600, "later").id

    output = run("queue_cancel", job_id)

    assert output.strip() == "Cancelled 1 job(s)."
    assert memory_backend("default").counts("default").delayed == 0


def test_queue_cancel_of_a_dead_letter_says_it_is_dead(dead_letter: str) -> None:
    with pytest.raises(CommandError, match=rf"1 of 1 not cancelled: {dead_letter} \(dead\)"):
        run("queue_cancel", dead_letter)


def test_queue_run_now_makes_a_delayed_job_ready(memory_backend: Backends) -> None:
    job_id = record.enqueue_in(3600, "later").id

    output = run("queue_run_now", job_id)

    assert output.strip() == "Made 1 job(s) due now."
    counts = memory_backend("default").counts("default")
    assert (counts.ready, counts.delayed) == (1, 0)


def test_queue_run_now_at_a_time_reads_it_in_time_zone(memory_backend: Backends) -> None:
    job_id = record("now").id

    with override_settings(TIME_ZONE="Europe/Paris"):
        output = run("queue_run_now", job_id, "--at", "2999-01-01T00:00:00")

    assert output.strip() == "Made 1 job(s) due at 2999-01-01T00:00:00+01:00."
    assert memory_backend("default").counts("default").delayed == 1


def test_queue_status_as_json_counts_jobs_per_state(memory_backend: Backends) -> None:
    record("now")
    record.enqueue_in(3600, "later")

    rows = json.loads(run("queue_status", "default", "--json"))

    assert rows[0]["queue"] == "default"
    assert (rows[0]["ready"], rows[0]["delayed"]) == (1, 1)


def test_queue_status_lists_every_known_queue(memory_backend: Backends) -> None:
    output = run("queue_status")

    assert output.splitlines()[0].split()[0] == "queue"
    expected = {"default", "slow"} | ({"django-tasks"} if django.VERSION >= (6, 0) else set())
    assert {line.split()[0] for line in output.splitlines()[2:]} == expected


def test_queue_status_shows_the_pool_beside_live_workers_and_flags_a_queue_nobody_serves(
    memory_backend: Backends,
) -> None:
    record("now")

    rows = json.loads(run("queue_status", "default", "--json"))

    assert (rows[0]["workers"], rows[0]["live_workers"], rows[0]["no_live_worker"]) == (1, 0, True)
    assert "queue default has 1 ready job(s) and no live worker" in run("queue_status", "default")


def test_queue_workers_lists_the_live_workers_with_their_job(memory_backend: Backends) -> None:
    beat = WorkerBeat(
        worker_id="h:1:w",
        name="default/1",
        queue="default",
        host="h",
        pid=1,
        started_at=time.time(),
        job_id="job-1",
        job_task="dqtest_shop.tasks.record",
        job_started_at=time.time(),
    )
    registry_of(memory_backend("default")).beat(beat, ttl_s=60)

    [row] = json.loads(run("queue_workers", "--json"))
    text = run("queue_workers", "default")

    assert (row["name"], row["job_id"]) == ("default/1", "job-1")
    assert "dqtest_shop.tasks.record[job-1]" in text.splitlines()[2]
    assert run("queue_workers", "slow").strip() == "No live workers."


def test_queue_configuration_as_json_splits_the_pool(tmp_path: Path) -> None:
    with override_settings(DQUEUE_WORKERS={"queue1": 3, "default": 1}):
        machines = [
            json.loads(run("queue_configuration", "--json", "--machine", str(n), "--of", "3"))
            for n in (1, 2, 3)
        ]

    for data in machines:
        queue1 = next(row for row in data["queues"] if row["queue"] == "queue1")
        assert (queue1["pool"], queue1["here"]) == (3, 1)


def test_queue_configuration_shows_cron_entries_with_their_next_run() -> None:
    output = run("queue_configuration")

    assert "record_tick: manage.py record_tick cron --suffix=-tick" in output


def test_exact_configuration_needs_a_config_file() -> None:
    with pytest.raises(CommandError, match="needs --config"):
        run("queue_configuration", "--exact-configuration")


def test_exact_configuration_runs_the_config_file_s_workers(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_WORKERS = {'queue1': 2}\n")

    data = json.loads(
        run("queue_configuration", "--exact-configuration", "--json", config=str(special))
    )

    assert [(row["queue"], row["here"]) for row in data["queues"]] == [("queue1", 2)]
    assert data["services"] == []


def test_a_machine_number_beyond_the_pool_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="--machine"):
        run("queue_configuration", "--machine", "3", "--of", "2")


def test_a_config_file_that_does_not_exist_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        run("queue_status", config=str(tmp_path / "missing.py"))


def test_the_runner_refuses_a_backend_that_cannot_serve_workers() -> None:
    memory = "dqueue.backends.memory.MemoryBackend"
    with (
        override_settings(DQUEUE_BACKEND=memory),
        pytest.raises(CommandError, match="cannot serve worker processes"),
    ):
        run("queue_runner")


class TerminalOutput(StringIO):
    """Output that says it is a terminal, as a person's would."""

    def isatty(self) -> bool:
        return True


def test_queue_dead_retry_of_all_shows_progress_on_a_terminal_and_the_summary_on_stdout(
    dead_letter: str, memory_backend: Backends
) -> None:
    out, err = StringIO(), TerminalOutput()

    call_command("queue_dead", "retry", "default", stdout=out, stderr=err)

    assert err.getvalue() == "\r\x1b[Kretried 1 of 1 dead letters\r\x1b[K"
    assert out.getvalue() == "Requeued 1 dead letter(s) of queue default.\n"
    assert memory_backend("default").length("default") == 1


def test_queue_status_refuses_an_interval_it_cannot_read() -> None:
    with pytest.raises(CommandError, match=r"^Error: argument --interval: 'soon' is not a dur"):
        run("queue_status", "--watch", "--interval", "soon")
