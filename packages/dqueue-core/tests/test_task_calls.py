"""A task call that could never run is refused at the call, and nothing is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dqueue import bulk_enqueue, configure, get_backend, task
from dqueue.backends.memory import MemoryBackend
from dqueue.errors import EncodeError, InvalidTask, SignatureMismatch


@task(queue="calls")
def greet(name: str, *, polite: bool = False) -> str:
    return f"dear {name}" if polite else name


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND="memory")
    backend = get_backend("calls")
    assert isinstance(backend, MemoryBackend)
    return backend


def _stored(backend: MemoryBackend) -> int:
    return backend.counts("calls").total


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("ann", "bob"), {}, "too many positional arguments"),
        ((), {}, "missing a required argument: 'name'"),
        (("ann",), {"loud": True}, "unexpected keyword argument 'loud'"),
        (("ann", True), {}, "too many positional arguments"),  # polite is keyword-only
    ],
)
def test_arguments_that_do_not_fit_the_signature_raise_type_error_and_store_nothing(
    memory: MemoryBackend, args: tuple[object, ...], kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(TypeError, match=words) as raised:
        greet(*args, **kwargs)
    assert isinstance(raised.value, SignatureMismatch)
    assert f"{greet.name}(name, *, polite=False)" in str(raised.value)
    assert _stored(memory) == 0


def test_every_way_of_enqueueing_checks_the_arguments(memory: MemoryBackend) -> None:
    with pytest.raises(TypeError):
        greet.enqueue("ann", "bob")
    with pytest.raises(TypeError):
        greet.enqueue_in(timedelta(minutes=5), "ann", "bob")
    with pytest.raises(TypeError):
        greet.using(priority=3, queue="calls").enqueue()
    assert _stored(memory) == 0
    greet("ann", polite=True)  # and what fits goes through
    greet(name="bob")
    assert _stored(memory) == 2


def test_a_call_that_fitted_once_does_not_let_a_different_call_through(
    memory: MemoryBackend,
) -> None:
    # Accepted calls are remembered by shape (how many positional arguments, which keywords):
    # each other shape is still checked, whatever went through before.
    for _ in range(2):
        greet("ann")
        greet("ann", polite=True)
    for args, kwargs in [
        (("ann", "bob"), {}),
        ((), {"polite": True}),
        (("ann",), {"loud": True}),
        (("ann",), {"polite": True, "loud": True}),
    ]:
        with pytest.raises(SignatureMismatch):
            greet(*args, **kwargs)
    assert _stored(memory) == 4


def test_a_bad_call_in_a_bulk_enqueue_raises_at_that_call(memory: MemoryBackend) -> None:
    with bulk_enqueue():
        greet("ann")
        with pytest.raises(TypeError):
            greet("ann", "bob")
    with greet.bulk_enqueue() as enqueue, pytest.raises(TypeError):
        enqueue(polite=True)
    assert _stored(memory) == 1


def test_the_message_names_parameters_never_the_values_given(memory: MemoryBackend) -> None:
    with pytest.raises(TypeError) as raised:
        greet("secret-address@example.com", "secret-2")
    assert "secret" not in str(raised.value)
    assert "name" in str(raised.value)


# -- functions no worker can import ----------------------------------------------------------

_SCRIPT = """
import sys
from dqueue import configure, get_backend, task

configure(BACKEND=sys.argv[1], SQLITE_PATH=sys.argv[2])


@task
def double(n):
    print("ran", n * 2)


try:
    handle = double(21)
except Exception as exc:
    print(type(exc).__name__, exc)
else:
    print("enqueued", handle.task)
if sys.argv[1] == "sqlite":
    print("stored", get_backend("default").counts("default").total)
"""


def _run(tmp_path: Path, *command: str, backend: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")}
    database = str(tmp_path / "queue.sqlite3")
    done = subprocess.run(
        [sys.executable, *command, backend, database],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_a_task_defined_in_a_script_run_directly_is_refused_unless_it_runs_in_process(
    tmp_path: Path,
) -> None:
    (tmp_path / "script.py").write_text(_SCRIPT)
    out = _run(tmp_path, "script.py", backend="sqlite")
    assert "InvalidTask task __main__.double cannot be enqueued" in out
    assert "python -m package.module" in out
    assert "stored 0" in out
    inline = _run(tmp_path, "script.py", backend="synchronous")
    assert "ran 42" in inline
    assert "enqueued __main__.double" in inline


def test_a_script_run_with_dash_m_is_enqueued_under_its_import_name_not_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "jobs.py").write_text(_SCRIPT)
    (tmp_path / "script.py").write_text(_SCRIPT)
    assert "stored 0" in _run(tmp_path, "script.py", backend="sqlite")
    out = _run(tmp_path, "-m", "shop.jobs", backend="sqlite")
    assert "enqueued shop.jobs.double" in out
    assert "stored 1" in out


def _defined_by_exec(namespace: dict[str, object]) -> Callable[..., object]:
    exec("def shout(text):\n    return text.upper()\n", namespace)  # noqa: S102 - a shell's way
    shout = namespace["shout"]
    assert callable(shout)
    return shout


@pytest.mark.parametrize(
    ("namespace", "reason"),
    [
        ({}, "interactive shell"),  # no __name__: the functions of Django's plain shell
        ({"__name__": __name__}, "defined outside that module"),  # a shell's `-c` code
    ],
)
def test_a_task_defined_outside_any_module_is_refused_by_a_store_for_workers(
    tmp_path: Path, namespace: dict[str, object], reason: str
) -> None:
    configure(BACKEND="sqlite", SQLITE_PATH=str(tmp_path / "queue.sqlite3"))
    shout = task(_defined_by_exec(namespace))
    with pytest.raises(InvalidTask, match=reason):
        shout("hi")
    assert get_backend("default").counts("default").total == 0


def test_a_task_defined_outside_any_module_runs_on_an_in_process_store_or_when_named(
    tmp_path: Path,
) -> None:
    configure(BACKEND="sqlite", SQLITE_PATH=str(tmp_path / "queue.sqlite3"))
    with pytest.raises(InvalidTask):
        task(_defined_by_exec({}))("hi")
    # Named explicitly, it is trusted to be registered by that name where workers import it.
    task(name="shop.tasks.shout")(_defined_by_exec({}))("hi")
    assert get_backend("default").counts("default").total == 1
    configure(BACKEND="memory")
    task(_defined_by_exec({}))("hi")
    assert get_backend("default").counts("default").total == 1


# -- tuples -----------------------------------------------------------------------------------


def test_a_tuple_argument_is_refused_at_the_call_and_nothing_is_stored(
    memory: MemoryBackend,
) -> None:
    with pytest.raises(EncodeError, match="argument 0 of .*greet holds a tuple"):
        greet(("ann", "bob"))
    with pytest.raises(EncodeError, match="meta 'pair' of .*greet holds a tuple"):
        greet.using(meta={"pair": (1, 2)})("ann")
    assert _stored(memory) == 0
