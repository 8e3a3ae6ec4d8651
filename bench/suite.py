"""What both benchmarks share above the harness: systems, rounds, the report and the JSON."""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import itertools
import shlex
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness import (
    BENCH_DIR,
    PYTHON,
    BenchError,
    Column,
    Goal,
    Probe,
    ProducerSession,
    Results,
    base_env,
    format_value,
    goals_table,
    log,
    machine_info,
    markdown_table,
    measure_drain,
    measure_lateness,
    package_version,
    produce,
    results_table,
    write_json,
)

COLUMNS = [
    Column("enqueue_one", "enqueue 1-by-1 /s", "rate"),
    Column("enqueue_bulk", "enqueue bulk /s", "rate"),
    Column("drain_1", "drain 1 proc /s", "rate"),
    Column("drain_2", "drain 2 procs /s", "rate"),
    Column("drain_1_incr", "drain 1 proc +INCR /s", "rate"),
    Column("drain_2_incr", "drain 2 procs +INCR /s", "rate"),
    Column("cpu_1", "worker CPU µs/job", "us"),
    Column("cpu_1_incr", "worker CPU µs/job +INCR", "us"),
    Column("late_p50", "late p50 ms", "ms"),
    Column("late_p99", "late p99 ms", "ms"),
    Column("late_max", "late max ms", "ms"),
    Column("rss", "worker RSS MB", "mb"),
]


@dataclass(frozen=True)
class System:
    """One system under benchmark: how to produce into it and how to start its workers."""

    name: str
    producer: str  # the key of peers.produce.PRODUCERS
    kind: str  # "dqueue", "peer" or "floor"
    commands: Callable[[int, bool], list[list[str]]]  # (processes, with scheduler) -> argvs
    env: dict[str, str] = field(default_factory=dict)
    delays: bool = True
    config: str = ""
    versions: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        """Why this system can't run here, or None."""
        return None


@dataclass(frozen=True)
class DqueueSystem(System):
    """A dqueue backend: available once its backend class and the worker command exist."""

    def unavailable(self) -> str | None:
        try:
            # Registered names first (dqueue-redis registers the seed's dotted paths), as the
            # worker resolves them.
            from dqueue.backends import backend_class

            backend_class(self.env["DQUEUE_BACKEND"])
        except Exception as exc:  # whatever fails, the part is not ready
            return f"{self.env['DQUEUE_BACKEND']} cannot be imported ({exc})"
        return None


@functools.cache
def dqueue_has_cli() -> bool:
    """Whether ``python -m dqueue worker`` exists and starts (it is being written)."""
    if importlib.util.find_spec("dqueue.__main__") is None:
        return False
    check = subprocess.run(
        [PYTHON, "-m", "dqueue", "worker", "--help"],
        env=base_env(),
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    works = check.returncode == 0 and "--tasks" in check.stdout
    if not works:
        log("`python -m dqueue worker --help` fails: using the Python API stand-in")
    return works


def dqueue_workers(processes: int, scheduled: bool) -> list[list[str]]:
    """One ``dqueue worker`` process per slot (the Python API stand-in while the CLI is missing)."""
    if dqueue_has_cli():
        command = [PYTHON, "-m", "dqueue", "worker", "bench"]
        return [
            [*command, str(slot), "--tasks", "peers.dqueue_tasks"]
            for slot in range(1, processes + 1)
        ]
    return [
        [PYTHON, "-m", "peers.dqueue_worker", "bench", str(slot)]
        for slot in range(1, processes + 1)
    ]


def dqueue_worker_description() -> str:
    if dqueue_has_cli():
        return "`python -m dqueue worker bench SLOT --tasks peers.dqueue_tasks` per process"
    return (
        "`python -m peers.dqueue_worker bench SLOT` per process (dqueue.worker.Worker through its "
        "Python API: the `python -m dqueue worker` command did not exist yet)"
    )


@dataclass
class Context:
    """What a round needs besides the system: settings, where to record, how to reset."""

    args: argparse.Namespace
    results: Results
    probe: Probe
    logdir: Path
    #: The environment of one measurement (a fresh store where the store is a file).
    env_for: Callable[[System], dict[str, str]]
    #: Empty the store (no process of any system is running).
    reset: Callable[[], None]
    #: Empty the store while the producer sessions of the enqueue phase stay connected.
    reset_between_enqueues: Callable[[], None] = lambda: None
    #: The drain views: "probe" (the task only counts) and "incr" (it also does one Redis
    #: ``INCR``: ``BENCH_PROBE_INCR``); metrics of the second end in ``_incr``.
    views: Sequence[str] = ("probe",)


def rotated(systems: Sequence[System], index: int) -> list[System]:
    """The systems in a different order each round, so that none always runs first or last."""
    shift = index % max(1, len(systems))
    return [*systems[shift:], *systems[:shift]]


def attempt(
    ctx: Context, system: System, what: str, measure: Callable[[dict[str, str]], None]
) -> None:
    """Reset the store and run one measurement; a failure is recorded, and the run goes on."""
    ctx.reset()
    log(f"  {system.name}: {what}")
    try:
        measure(ctx.env_for(system))
    except BenchError as exc:
        log(f"    failed: {exc}")
        ctx.results.error(system.name, f"{what}: {exc}")


def enqueue_phase(systems: Sequence[System], ctx: Context) -> None:
    """Enqueue figures: one producer process per system, the systems alternating every second
    or so for ``--enqueue-rounds`` rounds, so that all of them meet the same load."""
    args, results = ctx.args, ctx.results
    ctx.reset()
    sessions: dict[str, ProducerSession] = {}
    try:
        for system in systems:
            try:
                sessions[system.name] = ProducerSession(
                    system.producer, ctx.env_for(system), ctx.logdir
                )
            except BenchError as exc:
                results.error(system.name, f"enqueue: {exc}")
        for index in range(args.enqueue_rounds):
            log(f"enqueue round {index + 1} of {args.enqueue_rounds}")
            for system in rotated([s for s in systems if s.name in sessions], index):
                for mode, n in (("one", args.enqueue_jobs), ("bulk", args.bulk_jobs)):
                    try:
                        out = sessions[system.name].measure(mode, n)
                    except BenchError as exc:
                        results.error(system.name, f"enqueue {mode}: {exc}")
                        sessions.pop(system.name).close()
                        break
                    if "unsupported" in out:
                        results.note(system.name, f"enqueue {mode}: {out['unsupported']}")
                    else:
                        results.add(system.name, f"enqueue_{mode}", out["n"] / out["seconds"])
            ctx.reset_between_enqueues()
    finally:
        for session in sessions.values():
            session.close()
    ctx.reset()


def measure_drains(system: System, ctx: Context) -> None:
    """Drain figures of one system, once per view, with 1 and 2 worker processes."""
    args, results, name = ctx.args, ctx.results, system.name

    def drain(processes: int, view: str) -> Callable[[dict[str, str]], None]:
        suffix = "_incr" if view == "incr" else ""

        def measure(env: dict[str, str]) -> None:
            def fill() -> None:
                produce(system.producer, "fill", args.jobs, env)

            outcome = measure_drain(
                n=args.jobs,
                fill=fill,
                commands=system.commands(processes, False),
                env={**env, "BENCH_PROBE_INCR": "1"} if suffix else env,
                probe=ctx.probe,
                logdir=ctx.logdir,
                timeout_s=args.timeout,
                cap_s=args.drain_cap,
                what=f"{name} drain {processes}{suffix}",
            )
            metric = f"drain_{processes}{suffix}"
            results.add(name, f"{metric}_counted", outcome.counted)
            results.add(name, metric, outcome.jobs_per_s)
            results.add(name, f"{metric}_wall_s", outcome.wall_s)
            if outcome.cpu_us_per_job is not None:
                results.add(name, f"cpu_{processes}{suffix}", outcome.cpu_us_per_job)
            if processes == 1 and not suffix:
                results.add(name, "rss", outcome.peak_rss_total_mb)
                results.add(name, "rss_largest_process", outcome.peak_rss_process_mb)
            if outcome.extra_runs:
                results.note(name, f"{metric}: {outcome.extra_runs} jobs ran twice")

        return measure

    for view in ctx.views:
        what = " (+INCR per job)" if view == "incr" else ""
        attempt(ctx, system, f"drain, 1 process{what}", drain(1, view))
        attempt(ctx, system, f"drain, 2 processes{what}", drain(2, view))


def measure_delays(system: System, ctx: Context) -> None:
    """Lateness figures of one system, once."""
    args, results, name = ctx.args, ctx.results, system.name

    def lateness(env: dict[str, str]) -> None:
        outcome = measure_lateness(
            system=system.producer,
            jobs=args.lateness_jobs,
            spread_s=args.spread,
            commands=system.commands(1, True),
            env=env,
            probe=ctx.probe,
            logdir=ctx.logdir,
            what=f"{name} lateness",
        )
        results.add(name, "late_p50", outcome.p50_ms)
        results.add(name, "late_p99", outcome.p99_ms)
        results.add(name, "late_max", outcome.max_ms)
        results.add(name, "late_min", outcome.min_ms)

    attempt(ctx, system, "lateness", lateness)


def add_common_arguments(parser: argparse.ArgumentParser, defaults: dict[str, int]) -> None:
    parser.add_argument("--quick", action="store_true", help="a small run (1 round, fewer jobs)")
    parser.add_argument("--rounds", type=int, help="rounds of drains and delays (3; quick 1)")
    parser.add_argument("--enqueue-rounds", type=int, help="rounds of enqueues (5; quick 2)")
    parser.add_argument("--jobs", type=int, help=f"jobs per drain (default {defaults['jobs']:,})")
    parser.add_argument(
        "--enqueue-jobs", type=int, help=f"jobs enqueued one by one (default {defaults['one']:,})"
    )
    parser.add_argument(
        "--bulk-jobs", type=int, help=f"jobs enqueued in bulk (default {defaults['bulk']:,})"
    )
    parser.add_argument("--lateness-jobs", type=int, default=200, help="delayed jobs (200)")
    parser.add_argument("--spread", type=float, default=2.0, help="seconds they are due over (2)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a drain may take")
    parser.add_argument(
        "--drain-cap",
        type=float,
        default=5.0,
        help="cut a drain this many seconds after its first run and take the rate over the "
        "jobs run by then, so that a slow peer doesn't take minutes (5; 0: never)",
    )
    parser.add_argument("--only", help="comma-separated systems to run (default: all)")
    parser.add_argument(
        "--phases",
        default="enqueue,drain,lateness",
        help="comma-separated phases to run (default: enqueue,drain,lateness)",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write every figure as JSON ('-': stdout)"
    )


def finish_arguments(
    args: argparse.Namespace, defaults: dict[str, int], quick: dict[str, int]
) -> None:
    pick = quick if args.quick else defaults
    args.phases = {phase.strip() for phase in args.phases.split(",")}
    unknown = args.phases - {"enqueue", "drain", "lateness"}
    if unknown:
        names = ", ".join(sorted(unknown))
        sys.exit(f"unknown phase(s): {names} (known: enqueue, drain, lateness)")
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.enqueue_rounds = args.enqueue_rounds or (2 if args.quick else 5)
    args.drain_cap = args.drain_cap or None
    args.jobs = args.jobs or pick["jobs"]
    args.enqueue_jobs = args.enqueue_jobs or pick["one"]
    args.bulk_jobs = args.bulk_jobs or pick["bulk"]


def select(systems: list[System], only: str | None) -> list[System]:
    """The systems named by ``--only`` (all without it); an unknown name exits with one line."""
    if not only:
        return systems
    wanted = {name.strip() for name in only.split(",")}
    unknown = wanted - {s.name for s in systems}
    if unknown:
        known = ", ".join(s.name for s in systems)
        sys.exit(f"unknown system(s): {', '.join(sorted(unknown))} (known: {known})")
    return [s for s in systems if s.name in wanted]


def run_rounds(systems: Sequence[System], ctx: Context) -> dict[str, str]:
    """Every phase for every available system; returns the skipped ones with why.

    Phases, each round-robin over the systems in a rotating order: enqueue (``--enqueue-rounds``
    rounds), drains (``--rounds``), lateness (``--rounds``).
    """
    skipped = {s.name: reason for s in systems if (reason := s.unavailable())}
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    runnable = [s for s in systems if s.name not in skipped]
    phases = ctx.args.phases
    if "enqueue" in phases:
        enqueue_phase(runnable, ctx)
    for index in range(ctx.args.rounds if "drain" in phases else 0):
        log(f"drain round {index + 1} of {ctx.args.rounds}")
        for system in rotated(runnable, index):
            measure_drains(system, ctx)
    for index in range(ctx.args.rounds if "lateness" in phases else 0):
        log(f"lateness round {index + 1} of {ctx.args.rounds}")
        for system in rotated([s for s in runnable if s.delays], index):
            measure_delays(system, ctx)
    ctx.reset()
    return skipped


def best(
    results: Results, systems: Sequence[str], metric: str, *, low: bool = False
) -> tuple[str | None, float | None]:
    """The system with the highest (or lowest) median of ``metric``, and that median."""
    found = [(s, v) for s in systems if (v := results.median(s, metric)) is not None]
    if not found:
        return None, None
    return (min if low else max)(found, key=lambda item: item[1])


def goal(
    name: str, value: float | None, fmt: str, target: str, met: Callable[[float], bool]
) -> Goal:
    unit = {"ms": " ms", "us": " µs"}.get(fmt, "") if value is not None else ""
    shown = format_value(value, fmt) + unit
    return Goal(name, shown, target, None if value is None else met(value))


def measured_columns(results: Results, systems: Sequence[str]) -> list[Column]:
    """The columns of ``COLUMNS`` that some system has a figure for in this run."""
    return [c for c in COLUMNS if any(results.median(s, c.metric) is not None for s in systems)]


def ratios_table(results: Results, numerators: Sequence[str], others: Sequence[str]) -> str:
    shown = measured_columns(results, [*numerators, *others])
    metrics = [c for c in shown if c.fmt in ("rate", "us")]
    rows = []
    for name in numerators:
        for other in others:
            cells = [format_value(results.ratio(name, other, c.metric), "ratio") for c in metrics]
            rows.append([f"{name} ÷ {other}", *cells])
    return markdown_table(["ratio", *(c.title for c in metrics)], rows)


def scaling(results: Results, name: str, suffix: str = "") -> float | None:
    """``name``'s drain with 2 processes ÷ with 1: the median of the per-round ratios."""
    one = results.rounds.get(name, {}).get(f"drain_1{suffix}", [])
    two = results.rounds.get(name, {}).get(f"drain_2{suffix}", [])
    pairs = [b / a for a, b in zip(one, two, strict=False) if a]
    return statistics.median(pairs) if pairs else None


def scaling_table(results: Results, names: Sequence[str]) -> str | None:
    """Per system and view: drain with 2 processes ÷ with 1 (median of the per-round ratios)."""
    rows = []
    for name in names:
        cells = [format_value(scaling(results, name, suffix), "ratio") for suffix in ("", "_incr")]
        if any(cell != "—" for cell in cells):
            rows.append([name, *cells])
    if not rows:
        return None
    return markdown_table(["system", "drain 2 procs ÷ 1 proc", "+INCR view"], rows)


def report(
    *,
    title: str,
    script: str,
    argv: Sequence[str],
    args: argparse.Namespace,
    systems: Sequence[System],
    results: Results,
    goals: Sequence[Goal],
    skipped: dict[str, str],
    extra_versions: dict[str, str],
    elapsed_s: float,
) -> None:
    """Print the tables, ratios and goals; write the JSON when asked."""
    versions = {package: package_version(package) for s in systems for package in s.versions}
    versions.update(extra_versions)
    names = [s.name for s in systems if s.name in results.rounds]
    dqueue_names = [s.name for s in systems if s.kind == "dqueue" and s.name in results.rounds]
    others = [s.name for s in systems if s.kind != "dqueue" and s.name in results.rounds]
    now = datetime.now(UTC)
    command = f"python {script} {shlex.join(argv)}".rstrip()

    print(f"\n## {title} ({now:%Y-%m-%d %H:%M} UTC, {elapsed_s:.0f} s)\n")
    print(f"command: {command}")
    print(
        f"rounds: {args.rounds}; drains of {args.jobs:,} no-op jobs; enqueue {args.enqueue_jobs:,}"
        f" one by one, {args.bulk_jobs:,} in bulk; {args.lateness_jobs} delayed jobs due over "
        f"{args.spread:g} s; every figure is the median of the rounds"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    machine = machine_info()
    print(
        f"machine: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average now {machine['load_average']}\n"
    )
    print(results_table(results, names, measured_columns(results, names)))
    if dqueue_names and others:
        print("\nRatios (medians of the per-round ratios of this run):\n")
        print(ratios_table(results, dqueue_names, others))
    if scaling := scaling_table(results, names):
        print("\nTwo worker processes against one (medians of the per-round ratios):\n")
        print(scaling)
    if goals:
        print("\nGoals:\n")
        print(goals_table(goals))
    print()
    for system in systems:
        for processes, suffix in itertools.product((1, 2), ("", "_incr")):
            metric = f"drain_{processes}{suffix}_counted"
            counted = results.rounds.get(system.name, {}).get(metric, [])
            if counted and min(counted) < args.jobs:
                view = " +INCR" if suffix else ""
                print(
                    f"note: {system.name}: drain {processes} proc{view}: cut {args.drain_cap:g} s "
                    f"after its first run; rate over the {min(counted):,.0f}-"
                    f"{max(counted):,.0f} of {args.jobs:,} jobs run by then"
                )
        for note in results.notes.get(system.name, []):
            print(f"note: {system.name}: {note}")
        for error in results.errors.get(system.name, []):
            print(f"error: {system.name}: {error.splitlines()[0]}")
    for name, reason in skipped.items():
        print(f"skipped: {name}: {reason}")

    if args.json:
        write_json(
            args.json,
            {
                "benchmark": title,
                "date": now.isoformat(timespec="seconds"),
                "command": command,
                "elapsed_s": round(elapsed_s, 1),
                "machine": machine,
                "versions": versions,
                "parameters": {
                    k: sorted(v) if isinstance(v, set) else v
                    for k, v in vars(args).items()
                    if k != "json"
                },
                "configuration": {s.name: s.config for s in systems},
                "rounds": results.rounds,
                "medians": results.medians(),
                "goals": [vars(g) for g in goals],
                "notes": results.notes,
                "errors": results.errors,
                "skipped": skipped,
            },
        )


def exit_cleanly_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into an exit that runs every ``finally`` (workers, server, files)."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)
