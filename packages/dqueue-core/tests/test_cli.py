from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dqueue.backends import get_backend
from dqueue.cli import main

TASKS_MODULE = "dqueue_cli_test_tasks"


@pytest.fixture(scope="session")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli_tasks")
    (directory / f"{TASKS_MODULE}.py").write_text(
        textwrap.dedent(
            """
            from dqueue import task

            @task(queue="mail")
            def send(to, subject="hi"):
                return to

            @task(queue="mail", max_attempts=1)
            def explode():
                raise RuntimeError("kaboom")
            """
        )
    )
    return directory


@pytest.fixture
def sqlite(tmp_path: Path, tasks_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings from the environment, as a deployment would have them: SQLite in tmp_path."""
    monkeypatch.syspath_prepend(str(tasks_dir))
    path = tmp_path / "queue.sqlite3"
    monkeypatch.setenv("DQUEUE_BACKEND", "dqueue.backends.sqlite.SQLiteBackend")
    monkeypatch.setenv("DQUEUE_SQLITE_PATH", str(path))
    monkeypatch.setenv("DQUEUE_TASKS", TASKS_MODULE)
    monkeypatch.setenv("DQUEUE_MIDDLEWARE", "[]")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dqueue: error: ")
    assert "Traceback" not in err
    return lines[0]


def stored(queue: str) -> Any:
    return get_backend(queue).counts(queue)


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_prints_the_job_id_of_the_stored_job(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["ann"]')
    assert code == 0
    [job] = get_backend("mail").reserve("mail", worker_id="t", timeout_s=0)
    assert out.strip() == job.id
    assert job.args == ("ann",)


def test_enqueue_with_delay_stores_a_delayed_job(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["b"]', "--delay", "60")
    assert code == 0
    assert stored("mail").delayed == 1


def test_enqueue_to_another_queue(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--kwargs", '{"to": "c"}', "--queue", "other")
    assert stored("other").ready == 1


def test_enqueue_of_an_unregistered_task_is_one_line_and_exit_1(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "enqueue", f"{TASKS_MODULE}.missing")
    assert code == 1
    assert "not registered" in one_error_line(err)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--args", "[bad", "--args: not valid JSON"),
        ("--args", '{"a": 1}', "--args: expected a JSON list"),
        ("--kwargs", "[1]", "--kwargs: expected a JSON object"),
        ("--delay", "-1", "must be 0 or more seconds"),
    ],
)
def test_enqueue_refuses_bad_options_with_usage_status(
    sqlite: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    code, _, err = run(capsys, "enqueue", f"{TASKS_MODULE}.send", option, value)
    assert code == 2
    assert message in one_error_line(err)
    assert stored("mail").total == 0


def test_enqueue_of_arguments_the_task_cannot_take_stores_nothing(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '[{"1": [1e999]}]')
    assert code != 0
    one_error_line(err)
    assert stored("mail").total == 0


# -- status, pause, resume ---------------------------------------------------------------------


def test_status_shows_counts_per_queue(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["a"]')
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["b"]', "--delay", "60")
    code, out, _ = run(capsys, "status", "--json", "mail")
    assert code == 0
    [row] = json.loads(out)
    assert (row["queue"], row["ready"], row["delayed"], row["backend"]) == (
        "mail",
        1,
        1,
        "SQLiteBackend",
    )


def test_status_table_lists_known_queues(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 0
    table, _, where = out.partition("\n\n")  # the table, then where the SQLite file is
    header, _, *rows = table.splitlines()
    assert header.split()[:5] == ["queue", "ready", "delayed", "in", "flight"]
    assert where.startswith(f"SQLite file: {sqlite}")
    queues = [row.split()[0] for row in rows]
    assert queues == sorted(queues)
    assert {"default", "mail"} <= set(queues)  # other tests' tasks may add theirs


def test_status_of_an_unknown_queue_is_an_error(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "nope")
    assert code == 1
    assert "unknown queue 'nope'" in one_error_line(err)


def test_pause_for_a_duration_then_resume(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pause", "mail", "--for", "1h")
    assert code == 0
    assert out.startswith("Paused queue mail until ")
    _, out, _ = run(capsys, "status", "--json", "mail")
    assert json.loads(out)[0]["paused_until"] is not None
    assert run(capsys, "resume", "mail")[0] == 0
    _, out, _ = run(capsys, "status", "--json", "mail")
    assert json.loads(out)[0]["paused_until"] is None


def test_pause_until_an_aware_time(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pause", "mail", "--until", "2999-01-01T00:00:00+00:00")
    assert code == 0
    assert out.strip() == "Paused queue mail until 2999-01-01T00:00:00+00:00."


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2000-01-01T00:00:00+00:00", "in the past"),
        ("2999-01-01T00:00:00", "no time zone"),
        ("tomorrow", "not an ISO 8601 time"),
    ],
)
def test_pause_refuses_bad_until(
    sqlite: Path, capsys: pytest.CaptureFixture[str], until: str, message: str
) -> None:
    code, _, err = run(capsys, "pause", "mail", "--until", until)
    assert code == 2
    assert message in one_error_line(err)


# -- clear, deduplicate, dead letters ----------------------------------------------------------


def test_clear_with_yes_deletes_waiting_jobs(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["a"]')
    code, out, _ = run(capsys, "clear", "mail", "--yes")
    assert code == 0
    assert out.strip() == "Cleared 1 waiting job(s) from queue mail."
    assert stored("mail").total == 0


def test_clear_without_yes_and_without_a_terminal_refuses(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["a"]')
    code, _, err = run(capsys, "clear", "mail")
    assert code == 2
    assert "without --yes" in one_error_line(err)
    assert stored("mail").ready == 1


def test_deduplicate_reports_how_many_jobs_remain(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["same"]')
    code, out, _ = run(capsys, "deduplicate", "mail")
    assert code == 0
    assert out.strip() == "Deduplication reduced the queue from 3 jobs to 1 job(s)."


def _one_dead_letter(capsys: pytest.CaptureFixture[str]) -> str:
    _, out, _ = run(capsys, "enqueue", f"{TASKS_MODULE}.explode")
    assert run(capsys, "worker", "mail", "--burst")[0] == 0
    return out.strip()


def test_worker_burst_runs_jobs_and_dead_letters_failures(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _one_dead_letter(capsys)
    code, out, _ = run(capsys, "dead", "list", "mail", "--json")
    assert code == 0
    [letter] = json.loads(out)
    assert letter["id"] == job_id
    assert letter["failure"]["message"] == "kaboom"


def test_dead_list_table_shows_the_failure(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _one_dead_letter(capsys)
    _, out, _ = run(capsys, "dead", "list", "mail")
    assert job_id in out
    assert "RuntimeError: kaboom" in out


def test_dead_list_shows_tracebacks_when_asked(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _one_dead_letter(capsys)
    _, out, _ = run(capsys, "dead", "list", "mail", "--failure-tracebacks")
    assert f"\n{job_id}:\nTraceback (most recent call last):" in out
    assert "RuntimeError: kaboom" in out


def test_dead_retry_puts_a_letter_back_on_its_queue(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _one_dead_letter(capsys)
    code, out, _ = run(capsys, "dead", "retry", "mail", job_id)
    assert code == 0
    assert out.strip() == "Requeued 1 dead letter(s) of queue mail."
    counts = stored("mail")
    assert (counts.ready, counts.dead) == (1, 0)


def test_dead_purge_all_with_yes_deletes_every_letter(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _one_dead_letter(capsys)
    code, out, _ = run(capsys, "dead", "purge", "mail", "--all", "--yes")
    assert code == 0
    assert out.strip() == "Purged 1 dead letter(s) of queue mail."
    assert stored("mail").dead == 0


def test_dead_retry_needs_ids_or_all(sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dead", "retry", "mail")
    assert code == 2
    assert "give job ids or --all" in one_error_line(err)


# -- configuration and runner options ----------------------------------------------------------


def _config(tmp_path: Path, workers: dict[str, int]) -> str:
    path = tmp_path / "special.py"
    path.write_text(f"WORKERS = {workers!r}\n")
    return str(path)


def test_configuration_splits_the_readme_pool_one_worker_per_machine(
    sqlite: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DQUEUE_WORKERS", '{"queue1": 3}')
    here = []
    for machine in ("1", "2", "3"):
        code, out, _ = run(capsys, "configuration", "--machine", machine, "--of", "3", "--json")
        assert code == 0
        data = json.loads(out)
        row = next(row for row in data["queues"] if row["queue"] == "queue1")
        assert row["pool"] == 3
        here.append(row["slots"])
    # One worker on each machine; which one depends on the queues sorted before queue1.
    assert [len(slots) for slots in here] == [1, 1, 1]
    assert sorted(slot for slots in here for slot in slots) == [1, 2, 3]


def test_exact_configuration_runs_the_config_files_counts_here(
    sqlite: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DQUEUE_WORKERS", '{"queue1": 3}')
    config = _config(tmp_path, {"queue1": 2})
    code, out, _ = run(
        capsys, "--config", config, "configuration", "--exact-configuration", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "exact"
    assert data["queues"] == [
        {"queue": "queue1", "backend": "SQLiteBackend", "pool": 2, "here": 2, "slots": [1, 2]}
    ]


def test_configuration_text_names_machine_and_middleware(
    sqlite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "configuration", "--machine", "2", "--of", "2")
    assert code == 0
    assert out.splitlines()[0] == "dqueue configuration: machine 2 of 2"
    assert "mail" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runner", "--exact-configuration"], "--exact-configuration needs --config"),
        (["runner", "--machine", "2"], "--machine and --of go together"),
        (["runner", "--machine", "3", "--of", "2"], "between 1 and --of (2), not 3"),
        (["runner", "--machine", "0", "--of", "2"], "must be 1 or more"),
        (["runner", "--only-queue", "nope"], "--only-queue 'nope' is not a known queue"),
        (["worker", "mail", "0"], "must be 1 or more"),
        (["frobnicate"], "invalid choice"),
        (["status", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_runner_and_worker_option_mistakes_are_one_line(
    sqlite: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code in (1, 2)
    assert message in one_error_line(err)


def test_exact_configuration_refuses_pool_options(
    sqlite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, {"queue1": 2})
    code, _, err = run(
        capsys, "--config", config, "runner", "--exact-configuration", "--only-queue", "queue1"
    )
    assert code == 2
    assert "cannot be combined with --only-queue" in one_error_line(err)


def test_runner_refuses_the_synchronous_backend_before_starting_workers(
    tasks_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tasks_dir))
    code, _, err = run(capsys, "--tasks", TASKS_MODULE, "runner")
    assert code == 1
    assert "cannot serve worker processes" in one_error_line(err)


def test_worker_refuses_the_memory_backend(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DQUEUE_BACKEND", "dqueue.backends.memory.MemoryBackend")
    code, _, err = run(capsys, "worker", "default")
    assert code == 1
    assert "cannot serve a worker process" in one_error_line(err)


def test_a_bad_setting_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DQUEUE_PREFETCH", "0")
    code, _, err = run(capsys, "status")
    assert code == 1
    assert "DQUEUE_PREFETCH" in one_error_line(err)


def test_a_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", "/nonexistent/special.py", "status")
    assert code == 1
    assert "does not exist" in one_error_line(err)


def test_a_task_module_that_cannot_be_imported_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--tasks", "no_such_module_here", "status")
    assert code == 1
    assert "no_such_module_here" in one_error_line(err)


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "runner" in out


# -- as a real process -------------------------------------------------------------------------


def test_python_m_dqueue_reports_a_bad_option_in_one_line_with_status_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dqueue", "pause"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "dqueue: error: the following arguments are required: queue (see 'dqueue --help')"
    )


def test_dqueue_command_prints_status_of_a_sqlite_store(sqlite: Path, tmp_path: Path) -> None:
    import os

    env = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    env.update(
        DQUEUE_BACKEND="dqueue.backends.sqlite.SQLiteBackend", DQUEUE_SQLITE_PATH=str(sqlite)
    )
    done = subprocess.run(
        [sys.executable, "-m", "dqueue", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert [row["queue"] for row in json.loads(done.stdout)] == ["default"]


def test_async_concurrency_option_sets_the_setting_for_this_worker_only() -> None:
    from dqueue.cli.parser import build_parser, worker_settings
    from dqueue.settings import Settings

    given = build_parser().parse_args(["worker", "mail", "--async-concurrency", "50"])
    assert worker_settings(Settings(), vars(given)).ASYNC_CONCURRENCY == 50
    absent = build_parser().parse_args(["worker", "mail"])
    assert worker_settings(Settings(ASYNC_CONCURRENCY=3), vars(absent)).ASYNC_CONCURRENCY == 3
