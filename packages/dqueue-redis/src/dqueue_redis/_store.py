"""What both Redis backends share: the connection, key layout, scripts and error handling."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar, cast

import redis
from redis.cluster import RedisCluster

from dqueue.backends.base import Backend, StoreOptions
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.errors import BackendError, BackendUnavailable, ConfigurationError
from dqueue.job import Job
from dqueue.settings import Settings

from . import cluster
from ._partitions import partition_index, partition_tags
from .connection import (
    CLIENT_ERRORS,
    Client,
    connect,
    describe_target,
    disconnect,
    eviction_policy,
    script_runner,
    translate_error,
)
from .scripts import SOURCES, Arg, HeldConnections
from .settings import RedisSettings

__all__ = ["RedisOptions", "RedisStore", "queue_base"]

T = TypeVar("T")

_logger = logging.getLogger("dqueue.redis")
#: Replicas falling behind is said at most this often per backend instance.
_REPLICA_WARNING_INTERVAL_S = 60.0


def queue_base(prefix: str, queue: str) -> str:
    """``<prefix>:{<queue>}:``, the start of every key of ``queue``.

    Every key of a queue shares the hash tag ``{<queue>}``, so each Lua script touches one
    slot, as Redis Cluster requires; scripts derive the keys from this base themselves (the
    package README has the full table). The name is escaped inside the tag (``%``, ``{`` and
    ``}``), so no name can end the tag early or collide with another queue's keys.
    """
    return f"{prefix}:{{{_escape(queue)}}}:"


def _escape(queue: str) -> str:
    return queue.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisOptions(StoreOptions):
    """The options of a Redis store: the shared ones and its key prefix."""

    #: The start of every key (``DQUEUE_REDIS_PREFIX``).
    prefix: str = "dqueue"
    #: Run even when the server may evict keys (``DQUEUE_REDIS_ALLOW_EVICTION``).
    allow_eviction: bool = False
    #: Replicas that must hold an enqueue or a settle before it returns, 0 for none
    #: (``DQUEUE_REDIS_WAIT_REPLICAS``).
    wait_replicas: int = 0
    #: How long to wait for them (``DQUEUE_REDIS_WAIT_TIMEOUT_MS``).
    wait_timeout_ms: int = 100
    #: Partitions of the queues kept in several, by name (``DQUEUE_REDIS_PARTITIONS``).
    partitions: Mapping[str, int] = field(default_factory=dict)


class RedisStore(Backend):
    """The plumbing under :class:`~dqueue_redis.RedisBackend` and its reliable sibling."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = True

    def __init__(
        self,
        options: RedisOptions,
        *,
        client: Client,
        target: str = "redis",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(options, clock=clock)
        self.options: RedisOptions = options
        self.target = target
        self.prefix = options.prefix
        #: The redis-py client (one connection pool per backend instance, or per node of a
        #: cluster).
        self.client = client
        self._bases: dict[str, str] = {}
        self._partition_bases: dict[str, tuple[str, ...]] = {}
        self._queues_key = f"{self.prefix}:queues"  # the one key outside a queue's slot
        self._known_queues: set[str] = set()
        self._instance = secrets.token_hex(4)
        self._mode = "1" if self.supports_leases else "0"
        self._lua = {name: client.register_script(text) for name, text in SOURCES.items()}
        self._runner = script_runner(client)
        self._server_ahead_s: float | None = None  # the server's clock minus time.time()
        self._leased: dict[str, str] = {}  # job id -> key base, of jobs reserved here
        self._wait = (options.wait_replicas, options.wait_timeout_ms)
        self._next_replica_warning = 0.0
        self._turns: dict[str, int] = {}  # queue in partitions -> the partition to look at first
        self._beat_queues: dict[str, str] = {}  # worker id -> the queue it last beat on here

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """A backend on the server that the ``DQUEUE_REDIS_*`` settings name."""
        server = settings.section(RedisSettings)
        options = RedisOptions.from_settings(
            settings,
            prefix=server.REDIS_PREFIX,
            allow_eviction=server.REDIS_ALLOW_EVICTION,
            wait_replicas=server.REDIS_WAIT_REPLICAS,
            wait_timeout_ms=server.REDIS_WAIT_TIMEOUT_MS,
            partitions=server.REDIS_PARTITIONS,
        )
        return cls(options, client=connect(settings), target=describe_target(settings), clock=clock)

    def base(self, queue: str) -> str:
        """The start of every key of ``queue`` (see :func:`queue_base`)."""
        base = self._bases.get(queue)
        if base is None:
            base = self._bases[queue] = queue_base(self.prefix, queue)
        return base

    def partitions(self, queue: str) -> tuple[str, ...]:
        """The key base of each partition of ``queue``: its own base alone when it has one.

        See :mod:`dqueue_redis._partitions` (``DQUEUE_REDIS_PARTITIONS``).
        """
        bases = self._partition_bases.get(queue)
        if bases is None:
            tags = partition_tags(_escape(queue), self.options.partitions.get(queue, 1))
            bases = tuple(f"{self.prefix}:{{{tag}}}:" for tag in tags)
            self._partition_bases[queue] = bases
        return bases

    def placed(self, queues: Sequence[str]) -> list[tuple[str, str]]:
        """``(queue, key base)`` of every partition of ``queues``, in order."""
        return [(queue, base) for queue in queues for base in self.partitions(queue)]

    def base_of(self, job: Job) -> str:
        """The key base of the partition that takes ``job`` (see :meth:`partitions`).

        A job this instance reserved is where it was found; any other is where it would go.

        Raises:
            InvalidTask: the job's ``meta["partition_key"]`` is not a string.
        """
        bases = self.partitions(job.queue)
        if len(bases) == 1:
            return bases[0]
        leased = self._leased.get(job.id)
        return leased if leased is not None else bases[partition_index(job, len(bases))]

    # -- calling Redis -----------------------------------------------------------------------

    def _call(self, operation: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run ``operation``, raising only dqueue errors.

        A connection error is retried once, on a fresh connection, when the operation is safe
        to apply twice: a pooled connection may have been cut by a server restart.
        """
        try:
            try:
                return operation()
            except redis.ConnectionError:
                if not idempotent:
                    raise
            return operation()
        except CLIENT_ERRORS as exc:
            raise translate_error(exc, self.target) from exc

    def _argv(self, base: str, args: Sequence[Arg], now: float | None) -> tuple[str, list[Arg]]:
        """A script's key and arguments on the keys at ``base``, ``args`` last.

        The key base (a queue's, or one partition's), the time (``now``, else the clock's) and
        the delivery mode come first (``lua/common.lua``).
        """
        sent = repr(self.clock.time() if now is None else now)
        return base + "jobs", [base, sent, self._mode, *args]

    def _script(
        self,
        name: str,
        base: str,
        args: Sequence[Arg],
        *,
        now: float | None = None,
        idempotent: bool = True,
        replicate: bool = False,
    ) -> Any:
        """Run script ``name`` on the keys at ``base`` (see :meth:`partitions`) with ``args``.

        With ``replicate``, the call also waits for ``wait_replicas`` replicas (if any).
        """
        script, (key, argv) = self._lua[name], self._argv(base, args, now)
        wait = self._wait if replicate and self._wait[0] else None
        reply, acknowledged = self._call(
            lambda: self._runner.run_and_wait(script, [key, *argv], wait), idempotent=idempotent
        )
        if wait is not None:
            self._check_replicas(acknowledged, name)
        return reply

    def _scripts(
        self,
        calls: Sequence[tuple[str, str, Sequence[Arg]]],
        *,
        now: float | None = None,
        replicate: bool = False,
    ) -> list[Any]:
        """Run scripts, each on its key base, in one round trip (a pipeline when several)."""
        if len(calls) == 1:
            return [self._script(*calls[0], now=now, replicate=replicate)]
        now = self.clock.time() if now is None else now
        wait = self._wait if replicate and self._wait[0] else None
        runs = []
        for name, base, args in calls:
            key, argv = self._argv(base, args, now)
            runs.append((self._lua[name], [key, *argv]))
        replies, acknowledged = self._call(lambda: self._runner.run_all(runs, wait))
        if wait is not None:
            self._check_replicas(acknowledged, calls[0][0])
        return replies

    @property
    def _runs_in_order(self) -> bool:
        """Whether :meth:`_scripts_in_order` can be had here.

        Not on a cluster (each slot on its node), nor when writes wait for replicas (``WAIT``
        goes after the writes it covers).
        """
        return isinstance(self._runner, HeldConnections) and not self._wait[0]

    def _scripts_in_order(
        self, calls: Sequence[tuple[str, str, Sequence[Arg]]], *, now: float, idempotent: bool
    ) -> list[Any]:
        """Run scripts in one round trip on this thread's connection, in order; their replies.

        Only where :attr:`_runs_in_order` says so.
        """
        runner = cast(HeldConnections, self._runner)
        runs = []
        for name, base, args in calls:
            key, argv = self._argv(base, args, now)
            runs.append((self._lua[name], [key, *argv]))

        def run() -> list[Any]:
            replies = runner.run_in_order(runs)
            for reply in replies:
                if isinstance(reply, redis.ResponseError):
                    raise reply
            return replies

        return self._call(run, idempotent=idempotent)

    def _pipeline(self, *commands: Sequence[Arg], transaction: bool = False) -> list[Any]:
        """Send ``commands`` (a name, then its arguments) in one round trip; their replies.

        With ``transaction``, they apply as one (``MULTI`` ... ``EXEC``).
        """

        def run() -> list[Any]:
            with self.client.pipeline(transaction=transaction) as pipeline:
                for command in commands:
                    pipeline.execute_command(*command)
                return pipeline.execute()

        return self._call(run)

    def _check_replicas(self, acknowledged: int, operation: str) -> None:
        """Warn (once a minute) when fewer replicas than asked hold a write; raise for an enqueue.

        An enqueue raises since its caller asked for jobs that survive a failover; a settle
        that is lost in one only makes its job run again.

        Raises:
            BackendUnavailable: an enqueue reached fewer replicas than ``wait_replicas``. The
                jobs are stored on the master; enqueueing them again with the same ids is safe.
        """
        wanted, timeout_ms = self._wait
        if acknowledged >= wanted:
            return
        message = (
            f"Redis at {self.target}: {operation} reached {acknowledged} of"
            f" DQUEUE_REDIS_WAIT_REPLICAS={wanted} replicas within {timeout_ms} ms"
        )
        now = time.monotonic()
        if now >= self._next_replica_warning:
            self._next_replica_warning = now + _REPLICA_WARNING_INTERVAL_S
            _logger.warning("%s; a failover before they catch up loses it", message)
        if operation == "enqueue":
            raise BackendUnavailable(f"{message}: stored on the master only")

    def _note_queues(self, queues: Sequence[str]) -> None:
        """Record queue names for :meth:`queues` (once per name and backend instance)."""
        new = [queue for queue in queues if queue not in self._known_queues]
        if new:
            self._call(lambda: self.client.sadd(self._queues_key, *new))
            self._known_queues.update(new)

    # -- lifecycle ---------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise :class:`~dqueue.errors.BackendUnavailable` when Redis cannot be reached."""
        self._call(self.client.ping)

    def health_warnings(self) -> list[str]:
        """A warning when the server may evict keys: a job evicted is lost without a trace.

        Raises:
            ConfigurationError: its ``maxmemory-policy`` is not ``noeviction`` and
                ``DQUEUE_REDIS_ALLOW_EVICTION`` does not accept the risk.
        """
        server = f"Redis at {self.target}"
        try:
            policy = self._call(lambda: eviction_policy(self.client))
        except BackendError as exc:
            return [f"could not read the maxmemory-policy of {server}: {exc}"]
        if policy is None:
            return [
                f"could not read the maxmemory-policy of {server} (CONFIG GET and INFO were "
                "refused): unless it is noeviction, Redis may evict queued jobs without a trace"
            ]
        if policy == "noeviction":
            return []
        risk = f"{server} has maxmemory-policy {policy}: it may evict queued jobs without a trace"
        fix = "CONFIG SET maxmemory-policy noeviction (and in the server's configuration)"
        if not self.options.allow_eviction:
            raise ConfigurationError(
                f"{risk}. Run {fix}, or set DQUEUE_REDIS_ALLOW_EVICTION=true to accept the risk"
            )
        return [f"{risk} (accepted by DQUEUE_REDIS_ALLOW_EVICTION); {fix} prevents it"]

    def close(self) -> None:
        """Close every connection (the backend reconnects if used again)."""
        disconnect(self.client)

    def location(self, queue: str) -> str | None:
        """On Redis Cluster, the master that holds ``queue``'s slot (``host:port slot N``).

        For a queue in partitions, the masters that hold them (``N partitions on host:port,
        ...``).
        """
        bases = self.partitions(queue)
        if len(bases) == 1:
            return cluster.location(self.client, bases[0] + "jobs")
        if not isinstance(self.client, RedisCluster):
            return None
        nodes = sorted({cluster.node_of(self.client, base + "jobs") for base in bases})
        return f"{len(bases)} partitions on {', '.join(nodes)}"

    def queues(self) -> list[str]:
        """Every queue that got jobs (or a worker's heartbeat), sorted."""
        members = self._call(lambda: self.client.smembers(self._queues_key))
        return sorted(member.decode() for member in cast(set[bytes], members))
