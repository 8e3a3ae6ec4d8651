"""Worker hooks: what metrics, logs, touch files and process titles attach to.

.. code-block:: python

    class CountAcks(WorkerHooks):
        acks = 0

        def job_finished(self, outcome: Outcome) -> None:
            self.acks += outcome.kind is OutcomeKind.ACK

    remove = worker.add_hook(CountAcks())  # ...; remove() takes it off again

A hook overrides the :class:`WorkerHooks` methods it needs; the worker calls only those. Hooks
run in the worker's thread, except ``store_error`` (also the lease thread) and ``settled``
(also the watchdog thread, before it ends a stuck worker's process). A hook must not raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Final, Protocol

from .backends.base import Outcome, OutcomeKind
from .clock import SYSTEM_CLOCK, Clock
from .job import Job
from .logs import printable
from .proctitle import set_process_title

__all__ = ["HookList", "ProcessTitle", "TouchFile", "WorkerHooks", "WorkerLog"]

_logger = logging.getLogger("dqueue.worker")

_TOUCH_EVERY_S: Final = 1.0
_EVENTS: Final = ("waiting", "job_started", "job_finished", "settled", "store_error")


class WorkerHooks(Protocol):
    """What happens in a worker, event by event; every method is optional (a no-op here)."""

    def waiting(self) -> None:
        """The worker waits for jobs to reserve."""
        return

    def job_started(self, job: Job) -> None:
        """``job`` starts running."""
        return

    def job_finished(self, outcome: Outcome) -> None:
        """A job ran (whatever its outcome); ``outcome`` is not settled yet."""
        return

    def settled(
        self, outcomes: Sequence[Outcome], lost_ids: Collection[str], dropped: Sequence[Outcome]
    ) -> None:
        """The store took ``outcomes`` except ``lost_ids``; ``dropped`` were never sent.

        The jobs of lost and dropped outcomes had lost their lease: another worker owns them.
        """
        return

    def store_error(self, operation: str) -> None:
        """A store call failed: ``reserve``, ``settle``, ``renew`` or ``recover``."""
        return


class HookList:
    """A worker's hooks, as lists of the bound methods each event calls (rebuilt on change)."""

    on_waiting: list[Callable[[], None]]
    on_job_started: list[Callable[[Job], None]]
    on_job_finished: list[Callable[[Outcome], None]]
    on_settled: list[Callable[[Sequence[Outcome], Collection[str], Sequence[Outcome]], None]]
    on_store_error: list[Callable[[str], None]]

    def __init__(self, hooks: Sequence[WorkerHooks] = ()) -> None:
        self._update(list(hooks))

    def add(self, hook: WorkerHooks) -> Callable[[], None]:
        """Attach ``hook`` (after the others); return the function that detaches it."""
        self._update([*self._hooks, hook])
        return lambda: self._update([h for h in self._hooks if h is not hook])

    def _update(self, hooks: list[WorkerHooks]) -> None:
        # New lists, not changed ones: a thread iterating the old list is not disturbed.
        self._hooks = hooks
        for event in _EVENTS:
            default = getattr(WorkerHooks, event)
            overridden = [h for h in hooks if getattr(type(h), event) is not default]
            setattr(self, f"on_{event}", [getattr(h, event) for h in overridden])

    def settled(
        self, outcomes: Sequence[Outcome], lost_ids: Collection[str], dropped: Sequence[Outcome]
    ) -> None:
        """Tell every hook of a settle."""
        for hook in self.on_settled:
            hook(outcomes, lost_ids, dropped)

    def store_error(self, operation: str) -> None:
        """Tell every hook of a failed store call."""
        for hook in self.on_store_error:
            hook(operation)


class ProcessTitle(WorkerHooks):
    """Shows ``dqueue worker QUEUE/SLOT [idle]`` or ``[running TASK[ID]]`` in ``ps``."""

    def __init__(self, name: str) -> None:
        self._idle = f"dqueue worker {name} [idle]"
        self._running = f"dqueue worker {name} [running "

    def waiting(self) -> None:
        """Title the process idle."""
        set_process_title(self._idle)

    def job_started(self, job: Job) -> None:
        """Name the running task and job id (never its arguments: ``ps`` is public)."""
        set_process_title(self._running + job.describe() + "]")


class WorkerLog(WorkerHooks):
    """Logs what the worker's own lines don't: lost leases (each run: :mod:`dqueue.run_log`)."""

    def settled(
        self, outcomes: Sequence[Outcome], lost_ids: Collection[str], dropped: Sequence[Outcome]
    ) -> None:
        """Warn of each outcome that another worker's job now."""
        for outcome in dropped:
            what = f"{outcome.job.describe()} was lost; its outcome ({outcome.kind.value})"
            _logger.warning("lease of %s is dropped, another worker owns it", what)
        for job_id in lost_ids:
            _logger.warning("lease of job %s was lost before it was settled", printable(job_id))


class TouchFile(WorkerHooks):
    """``DQUEUE_TOUCH_FILE`` (``%s``: the queue), whose mtime says "this queue ran a job".

    Touched after a success, at most once a second (fast jobs don't pay a syscall each).
    """

    def __init__(self, pattern: str, queue: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(pattern.replace("%s", queue))
        self._clock = clock
        self._last = float("-inf")
        self._warned = False

    def job_finished(self, outcome: Outcome) -> None:
        """Touch the file after a success, unless that was done within a second."""
        if outcome.kind is not OutcomeKind.ACK:
            return
        now = self._clock.time()
        if now - self._last < _TOUCH_EVERY_S:
            return
        self._last = now
        try:
            self.path.touch()
        except OSError as exc:
            if not self._warned:
                self._warned = True
                _logger.warning("cannot touch DQUEUE_TOUCH_FILE %s: %s", self.path, exc)
