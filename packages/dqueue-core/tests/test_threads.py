"""dqueue's background threads leave stop signals to the main thread."""

from __future__ import annotations

import ast
import signal
import sys
import threading
from pathlib import Path

import pytest

from dqueue.threads import MAIN_THREAD_SIGNALS, BackgroundThread

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads thread signal masks from /proc"
)

CORE_SOURCE = Path(__file__).parents[1] / "src" / "dqueue"


def blocked_signals(native_id: int) -> set[int]:
    """The signals a thread of this process blocks, as the kernel reports them."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    [mask] = [line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")]
    bits = int(mask, 16)
    return {signum for signum in range(1, 65) if bits >> (signum - 1) & 1}


def test_a_background_thread_blocks_the_stop_signals_and_its_creator_does_not() -> None:
    release = threading.Event()
    thread = BackgroundThread(release.wait, name="dqueue-test")
    thread.start()
    try:
        assert thread.daemon
        assert thread.native_id is not None
        assert {signal.SIGTERM, signal.SIGINT, signal.SIGALRM} <= MAIN_THREAD_SIGNALS
        assert blocked_signals(thread.native_id) >= MAIN_THREAD_SIGNALS
        assert not MAIN_THREAD_SIGNALS & blocked_signals(threading.get_native_id())
    finally:
        release.set()
        thread.join()


def test_no_core_module_starts_a_thread_that_could_take_a_stop_signal() -> None:
    starters = []
    for path in CORE_SOURCE.rglob("*.py"):
        if path.name in {"threads.py", "demo.py"}:  # the demo's runner thread is its own main
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Thread"
            ):
                starters.append(f"{path.relative_to(CORE_SOURCE)}:{node.lineno}")
    assert starters == [], "use dqueue.threads.BackgroundThread"
