"""The admin's pages of single jobs (lists by state, a job's page, its buttons), through
Django's test client."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.test.utils import setup_test_environment, teardown_test_environment
from django.urls import reverse
from dqtest_shop.tasks import charge, record, record_then_fail

from dqueue.backends import Backend
from dqueue.backends.inspection import JobState
from dqueue.job import Job
from dqueue_django.admin import MANAGE_PERMISSION
from tests.django_project.admin_clients import login, messages_of
from tests.support.poison import SECRET as POISON_SECRET
from tests.support.poison import inject

Backends = Callable[[str], Backend]

SECRET = "secret-customer@example.com"
DEFAULT_URL = "/admin/dqueue/queue/default/"


def jobs_url(state: str, queue: str = "default") -> str:
    return reverse("admin:dqueue_jobs", args=[state, queue])


def job_url(job_id: str) -> str:
    return reverse("admin:dqueue_job", args=[job_id])


@pytest.fixture(scope="module", autouse=True)
def _test_environment() -> Iterator[None]:
    """Let the test client see the templates' context."""
    setup_test_environment()
    yield
    teardown_test_environment()


@pytest.fixture(autouse=True)
def _no_users() -> Iterator[None]:
    User.objects.all().delete()
    yield
    User.objects.all().delete()


def _delayed(value: str = SECRET, *, hours: int = 1) -> str:
    """The id of a job of the default queue due in ``hours``, holding ``value``."""
    return record.using(delay=timedelta(hours=hours)).enqueue("delayed", value).id


def _state(memory_backend: Backends, job_id: str) -> JobState | None:
    view = memory_backend("default").job(job_id)  # type: ignore[attr-defined]
    return None if view is None else view.state  # type: ignore[no-any-return]


def test_the_queue_page_links_to_its_jobs_in_each_state_with_their_counts(
    memory_backend: Backends, viewer: Client
) -> None:
    _delayed()

    html = viewer.get(DEFAULT_URL).content.decode()

    for state in ("ready", "delayed", "in-flight", "dead"):
        assert f'href="{jobs_url(state)}"' in html
    assert ">delayed</a> (1)" in html


def test_the_delayed_jobs_of_a_queue_are_listed_in_due_order_linking_to_their_pages(
    memory_backend: Backends, viewer: Client
) -> None:
    later = _delayed(hours=2)
    sooner = _delayed(hours=1)
    record("ready")

    response = viewer.get(jobs_url("delayed"))

    assert response.status_code == 200
    assert [row["id"] for row in response.context["rows"]] == [sooner, later]
    assert f'href="{job_url(sooner)}"' in response.content.decode()


def test_a_list_shows_no_arguments_even_to_managers(
    memory_backend: Backends, manager: Client
) -> None:
    _delayed()

    assert SECRET not in manager.get(jobs_url("delayed")).content.decode()


def test_a_list_pages_with_the_store_s_cursor_not_an_offset(
    memory_backend: Backends, viewer: Client
) -> None:
    ids = [_delayed(hours=hours) for hours in range(1, 23)]

    first = viewer.get(jobs_url("delayed"))
    next_query = first.context["next_query"]
    second = viewer.get(f"{jobs_url('delayed')}?{next_query}")

    assert "cursor=" in next_query
    assert "offset" not in next_query
    assert f'href="?{next_query}"'.replace("&", "&amp;") in first.content.decode()
    assert [row["id"] for row in first.context["rows"]] == ids[:20]
    assert [row["id"] for row in second.context["rows"]] == ids[20:]
    assert second.context["next_query"] is None


def test_a_cursor_that_is_not_the_store_s_is_one_error_not_a_server_error(
    memory_backend: Backends, viewer: Client
) -> None:
    response = viewer.get(jobs_url("delayed") + "?cursor=%3Cb%3Enonsense")

    assert response.status_code == 200
    (error,) = response.context["errors"]
    assert "not a cursor" in error
    assert "<b>nonsense" not in response.content.decode()


def test_an_unknown_state_or_queue_is_not_found(memory_backend: Backends, viewer: Client) -> None:
    assert viewer.get(jobs_url("sleeping")).status_code == 404
    assert viewer.get(jobs_url("ready", "no-such-queue")).status_code == 404


def test_a_dead_letter_s_id_links_to_its_page(memory_backend: Backends, viewer: Client) -> None:
    job_id = record_then_fail("doomed", SECRET).id
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())

    html = viewer.get(DEFAULT_URL).content.decode()

    assert f'href="{job_url(job_id)}"' in html


def test_a_manager_sees_a_job_s_task_state_due_time_and_arguments(
    memory_backend: Backends, manager: Client
) -> None:
    job_id = _delayed()

    response = manager.get(job_url(job_id))

    assert response.status_code == 200
    job = response.context["job"]
    assert (job["id"], job["task"], job["queue"], job["state"]) == (
        job_id,
        "dqtest_shop.tasks.record",
        "default",
        "delayed",
    )
    assert job["due_at"] is not None
    assert SECRET in response.content.decode()


def test_view_only_staff_see_a_job_without_its_arguments_or_buttons(
    memory_backend: Backends, viewer: Client
) -> None:
    job_id = _delayed()

    response = viewer.get(job_url(job_id))

    html = response.content.decode()
    assert job_id in html
    assert "dqtest_shop.tasks.record" in html
    assert SECRET not in html
    assert "arguments" not in response.context["job"]
    assert 'name="action"' not in html
    assert MANAGE_PERMISSION in html


def test_view_only_staff_see_a_dead_letter_s_page_with_its_exception_type_only(
    memory_backend: Backends, viewer: Client, manager: Client
) -> None:
    job_id = charge(SECRET).id
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())

    seen = viewer.get(job_url(job_id)).content.decode()
    managed = manager.get(job_url(job_id)).content.decode()

    assert "ValueError" in seen
    assert SECRET not in seen
    assert "was declined" not in seen
    assert "Traceback" not in seen
    assert f"ValueError: card {SECRET} was declined" in managed
    assert "Traceback (most recent call last)" in managed


def test_run_now_makes_a_delayed_job_ready(memory_backend: Backends, manager: Client) -> None:
    job_id = _delayed()

    response = manager.post(job_url(job_id), {"action": "run_now"}, follow=True)

    assert messages_of(response) == ["Made 1 job(s) due now."]
    assert response.context["job"]["state"] == "ready"
    assert _state(memory_backend, job_id) is JobState.READY


def test_reschedule_moves_a_job_to_a_later_time(memory_backend: Backends, manager: Client) -> None:
    job_id = record("soon").id

    response = manager.post(job_url(job_id), {"action": "reschedule", "in": "2h"}, follow=True)

    (message,) = messages_of(response)
    assert message.startswith("Made 1 job(s) due at ")
    assert _state(memory_backend, job_id) is JobState.DELAYED


def test_reschedule_with_a_duration_that_cannot_be_read_is_one_error(
    memory_backend: Backends, manager: Client
) -> None:
    job_id = _delayed()

    response = manager.post(job_url(job_id), {"action": "reschedule", "in": "soonish"}, follow=True)

    (message,) = messages_of(response)
    assert "soonish" in message or "duration" in message
    assert _state(memory_backend, job_id) is JobState.DELAYED


def test_cancel_removes_a_waiting_job_and_returns_to_its_list(
    memory_backend: Backends, manager: Client
) -> None:
    job_id = _delayed()

    response = manager.post(job_url(job_id), {"action": "cancel"}, follow=True)

    assert messages_of(response) == ["Cancelled 1 job(s)."]
    assert response.redirect_chain[-1][0] == jobs_url("delayed")
    assert response.context["rows"] == []
    assert _state(memory_backend, job_id) is None


def test_cancel_of_a_dead_letter_is_refused_in_one_line(
    memory_backend: Backends, manager: Client
) -> None:
    job_id = record_then_fail("doomed").id
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())

    response = manager.post(job_url(job_id), {"action": "cancel"}, follow=True)

    assert messages_of(response) == [f"1 of 1 not cancelled: {job_id} (dead)"]
    assert _state(memory_backend, job_id) is JobState.DEAD


def test_view_only_staff_cannot_cancel_or_run_now(memory_backend: Backends, viewer: Client) -> None:
    job_id = _delayed()

    for action in ("cancel", "run_now"):
        assert viewer.post(job_url(job_id), {"action": action}).status_code == 403
    assert _state(memory_backend, job_id) is JobState.DELAYED


def test_job_buttons_need_the_csrf_token(memory_backend: Backends) -> None:
    login("manager", can_manage=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="manager"))
    job_id = _delayed()

    refused = client.post(job_url(job_id), {"action": "run_now"})
    assert refused.status_code == 403
    assert _state(memory_backend, job_id) is JobState.DELAYED
    token = client.get(job_url(job_id)).context["csrf_token"]
    client.post(job_url(job_id), {"action": "run_now", "csrfmiddlewaretoken": token})

    assert _state(memory_backend, job_id) is JobState.READY


def test_a_job_that_is_not_stored_is_a_page_that_says_so(
    memory_backend: Backends, viewer: Client
) -> None:
    response = viewer.get(job_url("<b>no-such-job</b>"))

    assert response.status_code == 404
    assert "No job with the id" in response.context["errors"][0]
    assert "<b>no-such-job</b>" not in response.content.decode()


def test_html_in_a_job_is_escaped(memory_backend: Backends, manager: Client) -> None:
    job_id = _delayed("<script>alert(1)</script>")

    html = manager.get(job_url(job_id)).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.fixture
def poison(memory_backend: Backends) -> str:
    """The id of a waiting job of the default queue whose stored payload does not decode."""
    payload = b"<b>bold</b>\x1b[2J " + POISON_SECRET.encode()
    inject(memory_backend("default"), "default", "p0", payload)
    return "p0"


def test_a_poison_job_s_raw_payload_is_shown_escaped_only_to_managers(
    poison: str, manager: Client, viewer: Client
) -> None:
    managed = manager.get(job_url(poison))
    seen = viewer.get(job_url(poison))

    assert managed.status_code == seen.status_code == 200
    raw = managed.context["job"]["raw"]
    assert raw.isprintable()
    assert POISON_SECRET in managed.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in managed.content.decode()
    assert "<b>bold" not in managed.content.decode()
    assert "\x1b" not in managed.content.decode()
    assert POISON_SECRET not in seen.content.decode()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def store_down() -> Iterator[None]:
    """Redis configured on a loopback port nothing listens on."""
    with override_settings(
        DQUEUE_BACKEND="dqueue.backends.redis.RedisBackend",
        DQUEUE_REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0",
    ):
        yield


def test_a_store_that_is_down_is_one_banner_on_a_jobs_list(
    store_down: None, viewer: Client
) -> None:
    response = viewer.get(jobs_url("delayed"))

    assert response.status_code == 200
    assert response.content.decode().count('class="errornote"') == 1
    assert "unreachable" in response.context["errors"][0]


def test_a_store_that_is_down_is_one_banner_on_a_job_page(store_down: None, viewer: Client) -> None:
    response = viewer.get(job_url("some-id"))

    assert response.status_code == 200
    assert response.content.decode().count('class="errornote"') == 1
    assert "unreachable" in response.context["errors"][0]


def test_a_button_on_a_store_that_is_down_is_one_error_message(
    store_down: None, manager: Client
) -> None:
    response = manager.post(job_url("some-id"), {"action": "cancel"}, follow=True)

    (message,) = messages_of(response)
    assert "unreachable" in message


def test_a_job_of_an_in_flight_run_can_be_cancelled_and_stays_on_its_page(
    memory_backend: Backends, manager: Client
) -> None:
    backend = memory_backend("default")
    backend.enqueue(Job(id="running-1", task="dqtest_shop.tasks.record", queue="default"))
    (taken,) = backend.reserve("default", worker_id="w1", timeout_s=0, limit=1)

    response = manager.post(job_url(taken.id), {"action": "cancel"}, follow=True)

    assert messages_of(response) == ["Cancelled 1 job(s)."]
    assert response.context["job"]["cancelled"] is True
    assert "will not be retried" in response.content.decode()


def test_managers_see_the_progress_of_a_job_in_flight_and_viewers_do_not(
    memory_backend: Backends, manager: Client, viewer: Client
) -> None:
    backend = memory_backend("default")
    backend.enqueue(Job(id="running-2", task="dqtest_shop.tasks.record", queue="default"))
    (taken,) = backend.reserve("default", worker_id="w1", timeout_s=0, limit=1)
    backend.set_progress(taken, {"rows": 40, "of": SECRET}, worker_id="w1")  # type: ignore[attr-defined]

    shown = manager.get(job_url(taken.id))
    hidden = viewer.get(job_url(taken.id))

    assert shown.context["job"]["progress"] == f'{{"rows": 40, "of": "{SECRET}"}}'
    assert 'id="dqueue-job-progress"' in shown.content.decode()
    assert "progress" not in hidden.context["job"]
    assert SECRET not in hidden.content.decode()


def test_the_in_flight_list_shows_cancelled_runs_and_progress_to_managers_only(
    memory_backend: Backends, manager: Client, viewer: Client
) -> None:
    backend = memory_backend("default")
    for job_id in ("running-3", "running-4"):
        backend.enqueue(Job(id=job_id, task="dqtest_shop.tasks.record", queue="default"))
    reported, cancelled = backend.reserve("default", worker_id="w1", timeout_s=0, limit=2)
    long_progress = {"rows": 40, "of": SECRET, "note": "x" * 500}
    backend.set_progress(reported, long_progress, worker_id="w1")  # type: ignore[attr-defined]
    manager.post(job_url(cancelled.id), {"action": "cancel"})

    shown = manager.get(jobs_url("in-flight"))
    hidden = viewer.get(jobs_url("in-flight"))

    rows = {row["id"]: row for row in shown.context["rows"]}
    assert rows[reported.id]["progress"].startswith(f'{{"rows": 40, "of": "{SECRET}"')
    assert len(rows[reported.id]["progress"]) == 120  # one line, cut short
    assert "progress" not in rows[cancelled.id]  # none reported: the cell says "-"
    assert (rows[reported.id]["cancelled"], rows[cancelled.id]["cancelled"]) == (False, True)
    page = shown.content.decode()
    assert ">Progress</th>" in page
    assert ">Cancelled</th>" in page
    assert "<td>yes</td>" in page
    assert ">Progress</th>" not in hidden.content.decode()
    assert SECRET not in hidden.content.decode()
    assert all("progress" not in row for row in hidden.context["rows"])


def test_a_job_id_no_url_can_hold_is_listed_without_a_link(
    memory_backend: Backends, viewer: Client
) -> None:
    memory_backend("default").enqueue(
        Job(id="forged\nline", task="dqtest_shop.tasks.record", queue="default")
    )

    response = viewer.get(jobs_url("ready"))

    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert row["url"] is None


def test_the_dead_jobs_list_shows_view_only_staff_the_exception_type_only(
    memory_backend: Backends, viewer: Client, manager: Client
) -> None:
    charge(SECRET)
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())

    (seen,) = viewer.get(jobs_url("dead")).context["rows"]
    (managed,) = manager.get(jobs_url("dead")).context["rows"]

    assert seen["failure"] == "ValueError"
    assert managed["failure"] == f"ValueError: card {SECRET} was declined"
    assert SECRET not in viewer.get(jobs_url("dead")).content.decode()


# -- a selection of a list ----------------------------------------------------------------------


def test_cancel_selected_cancels_the_chosen_jobs_and_names_those_it_could_not(
    memory_backend: Backends, manager: Client
) -> None:
    first, second, kept = _delayed(hours=1), _delayed(hours=2), _delayed(hours=3)
    selected = {"action": "cancel", "ids": [first, second, "gone-1"]}

    response = manager.post(jobs_url("delayed"), selected, follow=True)

    assert messages_of(response) == [
        "Cancelled 2 job(s).",
        "1 of 3 not cancelled: gone-1 (no such job)",
    ]
    assert response.redirect_chain[-1][0] == jobs_url("delayed")
    assert [row["id"] for row in response.context["rows"]] == [kept]
    assert (_state(memory_backend, first), _state(memory_backend, second)) == (None, None)


def test_run_now_selected_makes_the_chosen_delayed_jobs_ready(
    memory_backend: Backends, manager: Client
) -> None:
    chosen, kept = _delayed(hours=1), _delayed(hours=2)

    response = manager.post(
        jobs_url("delayed"), {"action": "run_now", "ids": [chosen]}, follow=True
    )

    assert messages_of(response) == ["Made 1 job(s) due now."]
    assert _state(memory_backend, chosen) is JobState.READY
    assert _state(memory_backend, kept) is JobState.DELAYED


def test_a_selection_action_without_a_selection_does_nothing_and_says_so(
    memory_backend: Backends, manager: Client
) -> None:
    job_id = record("waiting").id

    response = manager.post(jobs_url("ready"), {"action": "cancel"}, follow=True)

    assert messages_of(response) == ["No jobs were selected: nothing done."]
    assert _state(memory_backend, job_id) is JobState.READY


def test_only_managers_see_checkboxes_and_only_on_the_ready_and_delayed_lists(
    memory_backend: Backends, manager: Client, viewer: Client
) -> None:
    job_id = _delayed()
    record("waiting")

    for state in ("ready", "delayed"):
        html = manager.get(jobs_url(state)).content.decode()
        assert 'type="checkbox" name="ids"' in html
        assert 'id="dqueue-cancel-selected"' in html
        seen = viewer.get(jobs_url(state)).content.decode()
        assert 'name="ids"' not in seen
        assert 'name="action"' not in seen
    assert 'id="dqueue-run-now-selected"' in manager.get(jobs_url("delayed")).content.decode()
    assert 'id="dqueue-run-now-selected"' not in manager.get(jobs_url("ready")).content.decode()
    assert 'name="ids"' not in manager.get(jobs_url("in-flight")).content.decode()
    selected = {"action": "cancel", "ids": [job_id]}
    assert viewer.post(jobs_url("delayed"), selected).status_code == 403
    assert manager.post(jobs_url("dead"), selected).status_code == 405
    assert _state(memory_backend, job_id) is JobState.DELAYED


def test_a_selection_action_needs_the_csrf_token(memory_backend: Backends) -> None:
    login("manager", can_manage=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="manager"))
    job_id = _delayed()
    selected = {"action": "cancel", "ids": [job_id]}

    assert client.post(jobs_url("delayed"), selected).status_code == 403
    assert _state(memory_backend, job_id) is JobState.DELAYED
    token = client.get(jobs_url("delayed")).context["csrf_token"]
    client.post(jobs_url("delayed"), {**selected, "csrfmiddlewaretoken": token})

    assert _state(memory_backend, job_id) is None
