"""dqueue's pages in the Django admin, through Django's test client."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client, override_settings
from django.test.utils import setup_test_environment, teardown_test_environment
from django.urls import reverse
from dqtest_shop.tasks import charge, record, record_then_fail

from dqueue import ops
from dqueue.backends import Backend
from dqueue.backends.lifecycle import dead_letter_from_decode_error
from dqueue_django.admin import MANAGE_PERMISSION
from tests.django_project.admin_clients import login, messages_of

Backends = Callable[[str], Backend]

QUEUES_URL = "/admin/dqueue/queues/"
DEFAULT_URL = "/admin/dqueue/queue/default/"
SECRET = "secret-customer@example.com"


@pytest.fixture(scope="module", autouse=True)
def _test_environment() -> Iterator[None]:
    """Let the test client see the templates' context (pytest-django would do this)."""
    setup_test_environment()
    yield
    teardown_test_environment()


@pytest.fixture(autouse=True)
def _no_users() -> Iterator[None]:
    User.objects.all().delete()
    yield
    User.objects.all().delete()


@pytest.fixture
def dead_letter(memory_backend: Backends) -> str:
    """The id of a job that failed for good on the default queue, with a secret argument."""
    handle = record_then_fail("doomed", SECRET)
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())
    return handle.id


def test_queues_page_shows_each_queue_with_its_counts(
    memory_backend: Backends, viewer: Client
) -> None:
    record("a")
    record("b")

    response = viewer.get(QUEUES_URL)

    assert response.status_code == 200
    rows = {row["queue"]: row for row in response.context["rows"]}
    assert rows["default"]["ready"] == 2
    assert rows["default"]["workers"] == 1
    assert rows["default"]["backend"] == "dqueue.backends.memory.MemoryBackend"
    assert "slow" in rows
    assert f'href="{DEFAULT_URL}"' in response.content.decode()


def test_admin_index_lists_queues_under_the_dqueue_app(viewer: Client) -> None:
    response = viewer.get("/admin/")

    apps = {app["app_label"]: app for app in response.context["app_list"]}
    assert "Queues" in [model["name"] for model in apps["dqueue_django"]["models"]]
    assert f'href="{QUEUES_URL}"' in response.content.decode()


def test_queue_page_shows_dead_letters_with_failure_and_traceback(
    dead_letter: str, manager: Client
) -> None:
    response = manager.get(DEFAULT_URL)

    assert response.status_code == 200
    (letter,) = response.context["letters"]
    assert letter["id"] == dead_letter
    assert letter["summary"] == "RuntimeError: failing on purpose after writing"
    html = response.content.decode()
    assert dead_letter in html
    assert "<summary>Traceback</summary>" in html


def test_view_only_staff_see_a_dead_letter_by_its_id_task_and_exception_type(
    dead_letter: str, viewer: Client
) -> None:
    response = viewer.get(DEFAULT_URL)

    (letter,) = response.context["letters"]
    assert (letter["id"], letter["task"]) == (dead_letter, "dqtest_shop.tasks.record_then_fail")
    assert letter["summary"] == "RuntimeError"
    html = response.content.decode()
    assert dead_letter in html
    assert "failing on purpose" not in html
    assert "<summary>Traceback</summary>" not in html


@pytest.fixture
def declined(memory_backend: Backends) -> str:
    """The id of a dead letter whose failure message and traceback echo its secret argument."""
    handle = charge(SECRET)
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())
    return handle.id


def test_no_page_shows_view_only_staff_a_failure_message_traceback_or_argument(
    declined: str, viewer: Client
) -> None:
    pages = [
        "/admin/",
        "/admin/dqueue_django/",
        QUEUES_URL,
        DEFAULT_URL,
        *(f"{DEFAULT_URL}?limit={limit}" for limit in (20, 100, 500)),
        *(reverse("admin:dqueue_confirm", args=[name, "default"]) for name in ("clear", "purge")),
    ]

    for page in pages:
        html = viewer.get(page).content.decode()
        assert SECRET not in html, page
        assert "was declined" not in html, page
        assert "Traceback" not in html, page
    html = viewer.get(DEFAULT_URL).content.decode()
    assert declined in html
    assert "dqtest_shop.tasks.charge" in html
    assert "ValueError" in html


@pytest.fixture
def corrupt_letter(memory_backend: Backends, monkeypatch: pytest.MonkeyPatch) -> str:
    """A dead letter whose stored payload could not be decoded and holds a secret."""
    payload = f'{{"id": "x", "args": ["{SECRET}"], "attempt": "<b>bold</b>"}}'
    letter = dead_letter_from_decode_error("default", payload, f"bad attempt {SECRET}", 1.0)
    monkeypatch.setattr(ops, "dead_letters", lambda *args, **kwargs: [letter])
    return letter.job.id


def test_view_only_staff_see_a_corrupt_dead_letter_without_its_payload_or_reason(
    corrupt_letter: str, viewer: Client
) -> None:
    response = viewer.get(DEFAULT_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert corrupt_letter in html
    assert SECRET not in html
    assert "Stored payload" not in html


def test_staff_with_the_permission_see_a_corrupt_dead_letter_s_payload_escaped(
    corrupt_letter: str, manager: Client
) -> None:
    html = manager.get(DEFAULT_URL).content.decode()

    assert SECRET in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html


def test_staff_with_the_permission_see_the_failure_message_and_traceback(
    declined: str, manager: Client
) -> None:
    html = manager.get(DEFAULT_URL).content.decode()

    assert f"ValueError: card {SECRET} was declined" in html
    assert "Traceback (most recent call last)" in html


def test_a_dead_letter_shows_the_attempt_that_failed(dead_letter: str, viewer: Client) -> None:
    response = viewer.get(DEFAULT_URL)

    assert ">1/1<" in response.content.decode()


def test_the_dead_letter_list_is_limited_to_the_newest(
    memory_backend: Backends, viewer: Client
) -> None:
    for number in range(21):
        record_then_fail("doomed", str(number))
    call_command("queue_worker", "default", "--burst", stdout=StringIO(), stderr=StringIO())

    shown = viewer.get(DEFAULT_URL).context["letters"]
    more = viewer.get(DEFAULT_URL + "?limit=100").context["letters"]

    assert (len(shown), len(more)) == (20, 21)


def test_people_who_are_not_staff_are_sent_to_the_login_page(memory_backend: Backends) -> None:
    client = login("customer", staff=False)

    response = client.get(QUEUES_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_visitors_are_sent_to_the_login_page() -> None:
    response = Client().get(DEFAULT_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_view_only_staff_see_no_job_arguments(dead_letter: str, viewer: Client) -> None:
    response = viewer.get(DEFAULT_URL)

    assert SECRET not in response.content.decode()
    assert "args" not in response.context["letters"][0]
    assert response.context["can_manage"] is False


def test_view_only_staff_cannot_retry(
    dead_letter: str, viewer: Client, memory_backend: Backends
) -> None:
    response = viewer.post(DEFAULT_URL, {"action": "retry", "ids": [dead_letter]})

    assert response.status_code == 403
    assert len(memory_backend("default").dead_letters("default")) == 1


def test_view_only_staff_cannot_clear(memory_backend: Backends, viewer: Client) -> None:
    record("a")

    response = viewer.post(reverse("admin:dqueue_confirm", args=["clear", "default"]))

    assert response.status_code == 403
    assert memory_backend("default").length("default") == 1


def test_permitted_staff_see_job_arguments(dead_letter: str, manager: Client) -> None:
    response = manager.get(DEFAULT_URL)

    assert SECRET in response.content.decode()


def test_retry_of_a_selected_dead_letter_puts_it_back(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    response = manager.post(DEFAULT_URL, {"action": "retry", "ids": [dead_letter]}, follow=True)

    assert messages_of(response) == ["Requeued 1 dead letter(s) of queue default."]
    assert memory_backend("default").dead_letters("default") == []
    assert memory_backend("default").counts("default").ready == 1


def test_purge_of_a_selected_dead_letter_deletes_it(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    response = manager.post(DEFAULT_URL, {"action": "purge", "ids": [dead_letter]}, follow=True)

    assert messages_of(response) == ["Purged 1 dead letter(s) of queue default."]
    assert memory_backend("default").counts("default").dead == 0


def test_retry_without_a_selection_does_nothing_and_says_so(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    response = manager.post(DEFAULT_URL, {"action": "retry"}, follow=True)

    assert messages_of(response) == ["No dead letters were selected: nothing done."]
    assert memory_backend("default").counts("default").dead == 1


def test_retry_of_an_id_that_is_no_dead_letter_says_so(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    response = manager.post(
        DEFAULT_URL, {"action": "retry", "ids": [dead_letter, "no-such-id"]}, follow=True
    )

    assert messages_of(response) == [
        "Requeued 1 dead letter(s) of queue default.",
        "Queue default: 1 of the 2 job id(s) are not dead letters of queue 'default'; "
        "the other 1 were requeued",
    ]


def test_retry_all_puts_every_dead_letter_back(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    manager.post(DEFAULT_URL, {"action": "retry_all"})

    assert memory_backend("default").counts("default").dead == 0


def test_purge_all_asks_first_then_deletes_every_dead_letter(
    dead_letter: str, manager: Client, memory_backend: Backends
) -> None:
    url = reverse("admin:dqueue_confirm", args=["purge", "default"])

    asked = manager.get(url)
    assert asked.status_code == 200
    assert memory_backend("default").counts("default").dead == 1
    done = manager.post(url, follow=True)

    assert messages_of(done) == ["Purged 1 dead letter(s) of queue default."]
    assert memory_backend("default").counts("default").dead == 0


def test_clear_asks_first_then_deletes_waiting_jobs(
    memory_backend: Backends, manager: Client
) -> None:
    record("a")
    url = reverse("admin:dqueue_confirm", args=["clear", "default"])

    asked = manager.get(url)
    assert "1 ready and 0 delayed" in asked.content.decode()
    done = manager.post(url, follow=True)

    assert messages_of(done) == ["Cleared 1 waiting job(s) from queue default."]
    assert memory_backend("default").length("default") == 0


def test_pause_for_a_duration_pauses_the_queue(memory_backend: Backends, manager: Client) -> None:
    response = manager.post(DEFAULT_URL, {"action": "pause", "for": "1h"}, follow=True)

    assert messages_of(response)[0].startswith("Paused queue default until ")
    assert memory_backend("default").paused_until("default") is not None


def test_pause_until_a_time_pauses_until_then(memory_backend: Backends, manager: Client) -> None:
    manager.post(DEFAULT_URL, {"action": "pause", "until": "2999-01-01T00:00:00+00:00"})

    assert memory_backend("default").paused_until("default") == 32472144000.0


def test_pause_with_both_or_neither_time_is_refused(
    memory_backend: Backends, manager: Client
) -> None:
    response = manager.post(DEFAULT_URL, {"action": "pause"}, follow=True)

    assert "either how long" in messages_of(response)[0]
    assert memory_backend("default").paused_until("default") is None


def test_pause_until_a_past_time_is_refused(memory_backend: Backends, manager: Client) -> None:
    response = manager.post(
        DEFAULT_URL, {"action": "pause", "until": "2001-01-01T00:00:00+00:00"}, follow=True
    )

    assert "in the past" in messages_of(response)[0]
    assert memory_backend("default").paused_until("default") is None


def test_resume_ends_a_pause(memory_backend: Backends, manager: Client) -> None:
    memory_backend("default").pause("default", 32472144000.0)

    response = manager.post(DEFAULT_URL, {"action": "resume"}, follow=True)

    assert messages_of(response) == ["Resumed queue default."]
    assert memory_backend("default").paused_until("default") is None


def test_a_paused_queue_shows_until_when(memory_backend: Backends, viewer: Client) -> None:
    memory_backend("default").pause("default", 32472144000.0)

    response = viewer.get(QUEUES_URL)

    assert "2999-01-01T00:00:00+00:00" in response.content.decode()


def test_migrate_creates_the_manage_permission() -> None:
    app_label, codename = MANAGE_PERMISSION.split(".")

    assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()


def test_superusers_may_act_without_the_permission_given(
    memory_backend: Backends,
) -> None:
    client = login("root", superuser=True)

    client.post(DEFAULT_URL, {"action": "pause", "for": "5m"})

    assert memory_backend("default").paused_until("default") is not None


def test_actions_need_the_csrf_token(memory_backend: Backends) -> None:
    login("manager", can_manage=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="manager"))

    response = client.post(DEFAULT_URL, {"action": "pause", "for": "5m"})

    assert response.status_code == 403
    assert memory_backend("default").paused_until("default") is None


def test_actions_with_the_csrf_token_are_done(memory_backend: Backends) -> None:
    login("manager", can_manage=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="manager"))
    token = client.get(DEFAULT_URL).context["csrf_token"]

    client.post(DEFAULT_URL, {"action": "pause", "for": "5m", "csrfmiddlewaretoken": token})

    assert memory_backend("default").paused_until("default") is not None


def test_an_unknown_queue_is_not_found(memory_backend: Backends, viewer: Client) -> None:
    assert viewer.get("/admin/dqueue/queue/no-such-queue/").status_code == 404


def test_an_unknown_confirmation_is_not_found(memory_backend: Backends, manager: Client) -> None:
    assert manager.get("/admin/dqueue/confirm/explode/default/").status_code == 404


def test_html_in_queue_data_is_escaped(memory_backend: Backends, manager: Client) -> None:
    with override_settings(DQUEUE_WORKERS={"<b>bold</b>": 1}):
        html = manager.get(QUEUES_URL).content.decode()

    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


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


def test_a_store_that_is_down_is_a_banner_on_the_queues_page(
    store_down: None, viewer: Client
) -> None:
    response = viewer.get(QUEUES_URL)

    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode()
    assert "unreachable" in response.context["errors"][0]


def test_a_store_that_is_down_is_a_banner_on_a_queue_page(store_down: None, viewer: Client) -> None:
    response = viewer.get(DEFAULT_URL)

    assert response.status_code == 200
    assert "unreachable" in response.context["errors"][0]


def test_an_action_on_a_store_that_is_down_is_an_error_message(
    store_down: None, manager: Client
) -> None:
    response = manager.post(DEFAULT_URL, {"action": "resume"}, follow=True)

    assert response.status_code == 200
    assert "unreachable" in messages_of(response)[0]


def test_a_store_that_is_down_is_one_banner_on_a_queue_page(
    store_down: None, manager: Client
) -> None:
    response = manager.get(DEFAULT_URL)

    assert len(response.context["errors"]) == 1
    assert response.content.decode().count('class="errornote"') == 1


def test_the_pause_form_s_example_end_is_in_the_future(
    memory_backend: Backends, manager: Client
) -> None:
    from datetime import datetime

    from django.utils import timezone

    page = manager.get(DEFAULT_URL).content.decode()
    example = page.split('id="dqueue-until" size="24" placeholder="')[1].split('"')[0]
    assert datetime.fromisoformat(example) > timezone.now()


def test_view_only_staff_are_told_why_the_controls_are_missing(
    memory_backend: Backends, viewer: Client, manager: Client
) -> None:
    assert 'id="dqueue-view-only"' in viewer.get(DEFAULT_URL).content.decode()
    assert MANAGE_PERMISSION in viewer.get(DEFAULT_URL).content.decode()
    assert 'id="dqueue-view-only"' not in manager.get(DEFAULT_URL).content.decode()


def test_a_queue_page_refreshes_like_the_queues_page(
    memory_backend: Backends, viewer: Client
) -> None:
    def page(query: str) -> str:
        return viewer.get(DEFAULT_URL + query).content.decode()

    assert 'http-equiv="refresh" content="5"' in page("?refresh=5")
    assert 'http-equiv="refresh"' not in page("")
    assert 'http-equiv="refresh"' not in page("?refresh=1")  # not one of the choices
