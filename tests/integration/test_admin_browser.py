"""dqueue's admin pages in a real browser: Debian's Chromium, driven by Selenium.

The test project runs under ``manage.py runserver`` (a real server process, its static files
served) on an SQLite queue store; jobs are enqueued and dead-lettered by real ``manage.py``
processes. A staff user with the manage permission logs in through the login form, reads the
queues, pauses and resumes a queue and retries a dead letter, opens a queue's delayed jobs and
a job's page from its id, runs one now and cancels another, and cancels a selection of a list;
a view-only staff user sees no controls (and a job page without its arguments, a list without
checkboxes) and is told why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqueue.testing import free_port, wait_for
from tests.django_project import harness
from tests.support.http import answers

harness.ensure_django()

from django.contrib.auth.models import Permission, User  # noqa: E402

from dqueue_django.admin import MANAGE_PERMISSION  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

_CHROMIUM = shutil.which("chromium")
_CHROMEDRIVER = shutil.which("chromedriver")
if _CHROMIUM is None or _CHROMEDRIVER is None:
    pytest.skip(
        "needs Debian's chromium and chromium-driver (.ci/run installs them)",
        allow_module_level=True,
    )

_PASSWORD = "a-long-test-password"


@dataclass(frozen=True)
class Site:
    """The running test project: its address and the environment of its processes."""

    url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        """Run ``manage.py ARGS`` against the site's stores; its output (exit 0 checked)."""
        done = harness.manage(*args, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(_CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(_CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)  # elements of a page that is still loading
    yield driver
    driver.quit()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env = harness.project_env(DQTEST_BACKEND="sqlite", DQTEST_QUEUE_DB=str(tmp_path / "q.sqlite3"))
    for attempt in range(3):  # a free port can be taken by another process before the server
        address = f"127.0.0.1:{free_port()}"
        log = tmp_path / f"server-{attempt}.log"
        # --insecure: the admin's CSS is served with DEBUG off, so that layout is what users see.
        command = ("runserver", "--noreload", "--insecure", address)
        with harness.running(*command, env=env, log=log) as server:
            url = f"http://{address}"
            wait_for(
                lambda: server.poll() is not None or answers(f"{url}/admin/login/"),  # noqa: B023
                what="the server",
                explain=harness.tail(log),
            )
            if server.poll() is None:
                yield Site(url, env)
                return
        assert "already in use" in log.read_text(), log.read_text()
    pytest.fail("no free port for the server after three tries")


@pytest.fixture(autouse=True)
def _no_users() -> Iterator[None]:
    User.objects.all().delete()
    yield
    User.objects.all().delete()


def _user(username: str, *, can_manage: bool) -> str:
    user = User.objects.create_user(username, password=_PASSWORD, is_staff=True)
    if can_manage:
        app_label, codename = MANAGE_PERMISSION.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return username


def _go(browser: WebDriver, element: WebElement) -> None:
    """Click a link or button and wait until its page has given way to the next one.

    Without the wait, the next look may still find the old page (its messages, its table). The
    old page is marked with a window variable, which the next document does not have; an element
    reference would do too, but Chrome sometimes answers a look at a node of a page being replaced
    with an inspector error rather than a stale reference.
    """
    browser.execute_script("window.dqueueOldPage = true;")
    element.click()

    def replaced() -> bool:
        try:
            return bool(
                browser.execute_script(
                    "return window.dqueueOldPage === undefined"
                    " && document.readyState === 'complete';"
                )
            )
        except WebDriverException:
            # Asked between two documents: look again.
            return False

    wait_for(replaced, what="the next page")


def _log_in(browser: WebDriver, site: Site, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{site.url}/admin/login/?next=/admin/dqueue/queues/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(_PASSWORD)
    _go(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))
    wait_for(lambda: browser.current_url.endswith("/admin/dqueue/queues/"), what="the queues page")


def _counts(browser: WebDriver, queue: str) -> list[str]:
    """The cells of ``queue``'s row: ready, delayed, in flight, dead, paused, p50, p99, ..."""
    for row in browser.find_elements(By.CSS_SELECTOR, "table.dqueue-table tbody tr"):
        if row.find_element(By.TAG_NAME, "th").text == queue:
            return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    raise AssertionError(f"no row for queue {queue!r}")


def _messages(browser: WebDriver) -> list[str]:
    return [item.text for item in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li")]


def _dead_letter(site: Site) -> None:
    """A job of the default queue that fails on every attempt, run to its end by a worker."""
    site.manage("shell", "-c", "from dqtest_shop.tasks import record_then_fail as t; t('doomed')")
    site.manage("queue_worker", "default", "--burst")


def test_a_manager_reads_pauses_resumes_and_retries_in_the_browser(
    browser: WebDriver, site: Site
) -> None:
    _dead_letter(site)
    _log_in(browser, site, _user("manager", can_manage=True))

    assert _counts(browser, "default")[:4] == ["0", "0", "0", "1"]
    _go(browser, browser.find_element(By.LINK_TEXT, "default"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Queue default"

    browser.find_element(By.ID, "dqueue-for").send_keys("30m")
    _go(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Pause]"))
    assert _messages(browser)[0].startswith("Paused queue default until ")
    paused = browser.find_element(By.CSS_SELECTOR, ".dqueue-paused")
    # The pause's end shows and the table fits its box; on a narrow window the box scrolls
    # the table rather than the page sideways.
    assert paused.is_displayed()
    table = browser.find_element(By.CSS_SELECTOR, "table.dqueue-table")
    box = table.find_element(By.XPATH, "..")
    assert table.rect["width"] <= box.rect["width"] + 1
    for width in (1024, 800):
        browser.set_window_size(width, 900)
        wait_for(  # the page is laid out again after the resize
            lambda: browser.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            ),
            timeout=10,
            what=f"no sideways scrolling of the page at {width} px",  # noqa: B023
        )
    browser.set_window_size(1280, 900)

    _go(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Resume]"))
    assert _messages(browser) == ["Resumed queue default."]
    assert _counts(browser, "default")[4] == "running"

    letter = browser.find_element(By.CSS_SELECTOR, "tr.dqueue-letter input[type=checkbox]")
    letter.click()
    _go(browser, browser.find_element(By.CSS_SELECTOR, "button[value=retry]"))
    assert _messages(browser) == ["Requeued 1 dead letter(s) of queue default."]
    assert _counts(browser, "default")[:4] == ["1", "0", "0", "0"]


def test_view_only_staff_see_the_queue_but_no_controls_and_are_told_why(
    browser: WebDriver, site: Site
) -> None:
    _dead_letter(site)
    _log_in(browser, site, _user("viewer", can_manage=False))

    _go(browser, browser.find_element(By.LINK_TEXT, "default"))
    assert _counts(browser, "default")[:4] == ["0", "0", "0", "1"]
    assert "doomed" not in browser.page_source  # the job's argument is for managers only
    browser.implicitly_wait(0)  # what must be missing is not waited for
    assert browser.find_elements(By.CSS_SELECTOR, "form input[type=submit]") == []
    assert browser.find_elements(By.CSS_SELECTOR, "tr.dqueue-letter input[type=checkbox]") == []
    browser.implicitly_wait(5)
    note = browser.find_element(By.ID, "dqueue-view-only").text
    assert MANAGE_PERMISSION in note


def _delayed_jobs(site: Site, *values: str) -> list[str]:
    """Ids of jobs of the default queue due in an hour and more, in due order, one per value."""
    code = (
        "from datetime import timedelta\n"
        "from dqtest_shop.tasks import record\n"
        f"for hours, value in enumerate({list(values)!r}, start=1):\n"
        "    job = record.using(delay=timedelta(hours=hours)).enqueue('delayed', value)\n"
        "    print('job', job.id)\n"
    )
    lines = site.manage("shell", "-c", code).splitlines()
    return [line.split()[1] for line in lines if line.startswith("job ")]


def _open_delayed_job(browser: WebDriver, job_id: str) -> None:
    """From the queues page: the default queue, its delayed jobs, then the job ``job_id``."""
    _go(browser, browser.find_element(By.LINK_TEXT, "default"))
    states = browser.find_element(By.ID, "dqueue-job-states")
    _go(browser, states.find_element(By.PARTIAL_LINK_TEXT, "delayed"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Delayed jobs of queue default"
    _go(browser, browser.find_element(By.LINK_TEXT, job_id))
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Job {job_id}"


def test_a_manager_runs_a_delayed_job_now_and_cancels_another_in_the_browser(
    browser: WebDriver, site: Site
) -> None:
    first, second = _delayed_jobs(site, "first-secret", "second-secret")
    _log_in(browser, site, _user("manager", can_manage=True))

    _open_delayed_job(browser, first)
    assert browser.find_element(By.ID, "dqueue-job-state").text == "delayed"
    assert "first-secret" in browser.find_element(By.ID, "dqueue-job-arguments").text
    _go(browser, browser.find_element(By.ID, "dqueue-run-now"))
    assert _messages(browser) == ["Made 1 job(s) due now."]
    assert browser.find_element(By.ID, "dqueue-job-state").text == "ready"

    browser.get(f"{site.url}/admin/dqueue/queues/")
    _open_delayed_job(browser, second)
    _go(browser, browser.find_element(By.ID, "dqueue-cancel"))
    assert _messages(browser) == ["Cancelled 1 job(s)."]
    assert browser.find_element(By.TAG_NAME, "h1").text == "Delayed jobs of queue default"
    assert "No delayed jobs." in browser.find_element(By.ID, "dqueue-jobs").text
    states = browser.find_element(By.ID, "dqueue-job-states").text
    assert "ready (1)" in states
    assert "delayed (0)" in states


def test_a_manager_cancels_the_jobs_selected_in_a_list_in_the_browser(
    browser: WebDriver, site: Site
) -> None:
    first, second, kept = _delayed_jobs(site, "one", "two", "three")
    _log_in(browser, site, _user("manager", can_manage=True))
    _go(browser, browser.find_element(By.LINK_TEXT, "default"))
    states = browser.find_element(By.ID, "dqueue-job-states")
    _go(browser, states.find_element(By.PARTIAL_LINK_TEXT, "delayed"))

    for job_id in (first, second):
        browser.find_element(By.CSS_SELECTOR, f"input[type=checkbox][value='{job_id}']").click()
    button = browser.find_element(By.ID, "dqueue-cancel-selected")
    assert button.text == "Cancel selected"  # its words show, not an icon alone
    _go(browser, button)

    assert _messages(browser) == ["Cancelled 2 job(s)."]
    assert browser.find_element(By.TAG_NAME, "h1").text == "Delayed jobs of queue default"
    rows = browser.find_elements(By.CSS_SELECTOR, "#dqueue-jobs tr.dqueue-job")
    assert [row.find_element(By.TAG_NAME, "code").text for row in rows] == [kept]
    assert "delayed (1)" in browser.find_element(By.ID, "dqueue-job-states").text


def test_view_only_staff_see_a_job_page_without_arguments_or_buttons(
    browser: WebDriver, site: Site
) -> None:
    (job_id,) = _delayed_jobs(site, "private-value")
    _log_in(browser, site, _user("viewer", can_manage=False))

    _open_delayed_job(browser, job_id)
    assert "dqtest_shop.tasks.record" in browser.find_element(By.ID, "dqueue-job-fields").text
    assert "private-value" not in browser.page_source
    browser.implicitly_wait(0)  # what must be missing is not waited for
    # The header's logout is a form too: only the page's own content counts.
    buttons = "#content-main form button, #content-main form input[type=submit]"
    assert browser.find_elements(By.CSS_SELECTOR, buttons) == []
    browser.implicitly_wait(5)
    assert MANAGE_PERMISSION in browser.find_element(By.ID, "dqueue-view-only").text
    browser.get(f"{site.url}/admin/dqueue/jobs/delayed/default/")
    assert browser.find_element(By.LINK_TEXT, job_id)  # listed, without a checkbox to select it
    browser.implicitly_wait(0)
    assert browser.find_elements(By.CSS_SELECTOR, "#dqueue-jobs input[type=checkbox]") == []
    assert browser.find_elements(By.CSS_SELECTOR, buttons) == []
    browser.implicitly_wait(5)
