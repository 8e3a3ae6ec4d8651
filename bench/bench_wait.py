"""What ``DQUEUE_REDIS_WAIT_REPLICAS=1`` costs an enqueue: a master and one replica, both local.

    python bench/bench_wait.py [--jobs 2000] [--rounds 7]

Each round enqueues ``--jobs`` jobs one by one through ``ReliableRedisBackend``, once without
``WAIT`` and once with ``WAIT 1 100`` after each enqueue script, the two interleaved (the order
swapped every round) so that a busy machine slows both alike. Prints, per mode, the median over
rounds of the microseconds per enqueue and of the master's CPU per enqueue (``INFO cpu``), and
the ratio with/without. On loopback ``WAIT`` costs the replica's round trip: the master sends
the write, the replica applies it and acknowledges its offset (``REPLCONF ACK``, which
``WAIT`` asks for at once rather than waiting for the replica's once-a-second report).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import redis
from harness import free_port, redis_server_binary, workdir

from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue_redis import ReliableRedisBackend

QUEUE = "bench"


def start_server(binary: str, folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """A server on a free loopback port, persistence off; returns once it answers."""
    port = free_port()
    folder.mkdir()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(folder), "--protected-mode", "no",
               *extra]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def cpu_s(client: redis.Redis) -> float:
    """The server's CPU time so far (user + system)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def one_round(port: int, replicas: int, jobs: int) -> tuple[float, float]:
    """Microseconds per enqueue, and master CPU microseconds per enqueue."""
    settings = Settings().replace(
        REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_PREFIX="bench", REDIS_WAIT_REPLICAS=replicas
    )
    backend = ReliableRedisBackend.from_settings(settings)
    master = redis.Redis(port=port)
    batch = [Job(id=new_job_id(), task="bench.noop", queue=QUEUE, enqueued_at=time.time())
             for _ in range(jobs)]  # fmt: skip
    backend.enqueue(batch[0])  # loads the scripts and opens the connection outside the clock
    cpu_before = cpu_s(master)
    start = time.perf_counter()
    for job in batch[1:]:
        backend.enqueue(job)
    elapsed = time.perf_counter() - start
    cpu = cpu_s(master) - cpu_before
    master.flushall()
    backend.close()
    return elapsed / (jobs - 1) * 1e6, cpu / (jobs - 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    binary, kind = redis_server_binary()
    with workdir("dqueue-bench-wait-") as folder:
        master, port = start_server(binary, folder / "master")
        replica, replica_port = start_server(
            binary, folder / "replica", "--replicaof", "127.0.0.1", str(port)
        )
        try:
            client = redis.Redis(port=replica_port)
            while client.info("replication")["master_link_status"] != "up":
                time.sleep(0.05)
            figures: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
            for number in range(arguments.rounds):
                for replicas in (0, 1) if number % 2 == 0 else (1, 0):
                    figures[replicas].append(one_round(port, replicas, arguments.jobs))
        finally:
            replica.kill()
            master.kill()
    print(f"{kind} {binary}; {arguments.jobs} enqueues one by one, {arguments.rounds} rounds")
    medians = {}
    for replicas, rows in figures.items():
        wall = statistics.median(row[0] for row in rows)
        cpu = statistics.median(row[1] for row in rows)
        medians[replicas] = wall
        label = "WAIT 1 100" if replicas else "no WAIT   "
        print(f"  {label}: {wall:7.1f} us per enqueue, master CPU {cpu:5.1f} us per enqueue")
    print(f"  ratio with/without WAIT: {medians[1] / medians[0]:.2f}x")


if __name__ == "__main__":
    main()
