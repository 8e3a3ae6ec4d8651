"""Wake-ups for every process and thread that share a SQLite database file.

Every backend of one process on the same file shares one :class:`Wakeup`, notified after each
commit that makes jobs due: its waiting threads wake at once. On POSIX the notification also
crosses processes through a named pipe beside the database (``<file>-wake``): the notifier writes
one byte to it, and each process that has a thread waiting keeps a listener thread on its read
end that turns a byte into a local wake-up. The pipe is an accelerator only; a waiter still
re-checks the database every ``DQUEUE_POLL_INTERVAL``, so a lost byte (a rare race between two
listeners draining the same pipe), a pipe that can't be created or a platform without them
costs latency, never a job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import stat
import threading
from typing import Final

from ..threads import BackgroundThread

__all__ = ["WAKE_SUFFIX", "Wakeup", "wakeup_for"]

#: Appended to the database path to name the pipe that carries wake-ups across processes.
WAKE_SUFFIX: Final = "-wake"

_log = logging.getLogger(__name__)


def _sigpipe_kills() -> bool:
    """Whether writing to a pipe whose readers just left would kill this process.

    Python ignores ``SIGPIPE``, but a host that embeds it (some application servers) may not;
    there a wake-up is not worth the risk, and polling does the job.
    """
    sigpipe = getattr(signal, "SIGPIPE", None)
    return sigpipe is not None and signal.getsignal(sigpipe) == signal.SIG_DFL


class _Pipe:
    """The named pipe beside one database: a cached non-blocking write end, and a listener."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._write_fd: int | None = None
        self._read_fd: int | None = None
        self._listener: threading.Thread | None = None
        self._stopping = False
        self._warned = False

    # -- notifying ------------------------------------------------------------------------------

    def poke(self) -> None:
        """Write one byte for the listeners of every process; never block, never raise."""
        fd = self._write_fd
        if fd is None:
            if _sigpipe_kills():
                return
            fd = self._open_writer()
            if fd is None:
                return  # no process is listening (or no pipe): nobody to wake
        try:
            os.write(fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: its listeners have bytes to wake on already
        except OSError:
            self._drop_writer(fd)  # every reader went away (EPIPE): reopen next time

    def _open_writer(self) -> int | None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None  # ENXIO: no reader; ENOENT: no process ever waited on this file
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)  # never write into a regular file that happens to have the name
            return None
        with self._lock:
            if self._write_fd is None:
                self._write_fd = fd
                return fd
        os.close(fd)  # another thread opened one meanwhile
        return self._write_fd

    def _drop_writer(self, fd: int) -> None:
        with self._lock:
            if self._write_fd != fd or self._read_fd is not None:
                return  # our own listener keeps a reader: the write end stays valid
            self._write_fd = None
        with contextlib.suppress(OSError):
            os.close(fd)

    # -- listening ------------------------------------------------------------------------------

    def listen(self, wakeup: Wakeup) -> None:
        """Start (once) the thread that turns bytes in the pipe into wake-ups of ``wakeup``."""
        if not self._idle():
            return
        with self._lock:
            if not self._idle():  # another thread started it meanwhile
                return
            read_fd = self._open_reader()
            if read_fd is None:
                return
            if self._write_fd is None:
                # Our own write end: the read end never sees EOF, so select never spins.
                try:
                    self._write_fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError as exc:
                    os.close(read_fd)
                    self._give_up(f"cannot write {self.path!r}: {exc}")
                    return
            self._read_fd = read_fd
            self._stopping = False
            self._listener = BackgroundThread(
                self._listen, name="dqueue-sqlite-wake", args=(read_fd, wakeup)
            )
            self._listener.start()

    def _idle(self) -> bool:
        """No listener runs, and the pipe has not been found unusable."""
        return self._listener is None and not self._warned

    def _open_reader(self) -> int | None:
        try:
            with contextlib.suppress(FileExistsError):
                self._make_fifo()
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError) as exc:  # AttributeError: no os.mkfifo (Windows)
            self._give_up(f"cannot use {self.path!r}: {exc}")
            return None
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.close(fd)
            self._give_up(f"{self.path!r} is not a named pipe")
            return None
        return fd

    def _make_fifo(self) -> None:
        database = self.path[: -len(WAKE_SUFFIX)]
        try:
            mode = stat.S_IMODE(os.stat(database).st_mode) & 0o666
        except OSError:
            mode = 0o600
        os.mkfifo(self.path, 0o600)
        # Whoever may write the database may wake its workers (the umask would narrow it).
        os.chmod(self.path, mode | 0o600)

    def _give_up(self, reason: str) -> None:
        self._warned = True
        _log.debug("dqueue: no cross-process wake-ups, polling instead: %s", reason)

    def _listen(self, read_fd: int, wakeup: Wakeup) -> None:
        while not self._stopping:
            try:
                select.select([read_fd], [], [])
                # Drain before waking the waiters: a byte written after this read stays in the
                # pipe and wakes them again, so a commit is never followed by nobody looking.
                while os.read(read_fd, 4096):
                    pass
            except BlockingIOError:
                pass  # drained (or another process's listener took the byte first)
            except OSError:
                return  # closed under us
            wakeup.wake_local()

    def close(self) -> None:
        """Stop the listener and close both ends (the pipe itself stays for other processes)."""
        with self._lock:
            listener, self._listener = self._listener, None
            read_fd, self._read_fd = self._read_fd, None
            write_fd, self._write_fd = self._write_fd, None
            self._stopping = True
        if listener is not None and write_fd is not None:
            with contextlib.suppress(OSError):
                os.write(write_fd, b"\0")  # wake it to see that it must stop
            listener.join(timeout=5.0)
        for fd in (read_fd, write_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def forget_inherited(self) -> None:
        """In a forked child: close the parent's descriptors (its listener did not come along)."""
        for fd in (self._read_fd, self._write_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = None
        self._listener = None


class Wakeup:
    """A generation counter and a condition: waiters that saw generation *n* wake at *n + 1*."""

    def __init__(self, pipe_path: str | None = None) -> None:
        self.condition = threading.Condition(threading.Lock())
        self.generation = 0
        self._waiters = 0
        self._pipe = _Pipe(pipe_path) if pipe_path is not None else None

    def notify(self) -> None:
        """Wake every thread waiting on this file, in this process and others (cheap if none)."""
        self.wake_local()
        if self._pipe is not None:
            self._pipe.poke()

    def wake_local(self) -> None:
        """Wake the threads of this process waiting on this file."""
        # Bump first, then look for waiters: a waiter registers under the lock and checks the
        # generation before it sleeps, so it either sees this bump or is seen here.
        self.generation += 1
        if self._waiters:
            with self.condition:
                self.condition.notify_all()

    def wait(self, generation: int, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` unless a notify came after ``generation`` was read."""
        if self._pipe is not None:
            self._pipe.listen(self)
        with self.condition:
            self._waiters += 1
            try:
                if self.generation == generation:
                    self.condition.wait(timeout_s)
            finally:
                self._waiters -= 1

    def close(self) -> None:
        """Stop listening for other processes and close the pipe (reopened when next used)."""
        if self._pipe is not None:
            self._pipe.close()


_wakeups: dict[str, Wakeup] = {}
_wakeups_lock = threading.Lock()


def _forget_wakeups_after_fork() -> None:
    global _wakeups_lock
    _wakeups_lock = threading.Lock()  # another thread may have held it at the fork
    for wakeup in _wakeups.values():
        if wakeup._pipe is not None:
            wakeup._pipe.forget_inherited()
    _wakeups.clear()


os.register_at_fork(after_in_child=_forget_wakeups_after_fork)


def wakeup_for(path: str) -> Wakeup:
    """The wake-up shared by every backend of this process on the file at ``path``."""
    with _wakeups_lock:
        wakeup = _wakeups.get(path)
        if wakeup is None:
            pipe = path + WAKE_SUFFIX if os.name == "posix" else None
            wakeup = _wakeups[path] = Wakeup(pipe)
        return wakeup
