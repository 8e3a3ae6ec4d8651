"""``DQUEUE_REDIS_*``: where the Redis backends connect, declared once as a settings section.

Registered with the entry point group ``dqueue.settings``, so these settings are layered like the
core's (defaults, environment, framework, ``--config``). Read them with
``settings.section(RedisSettings)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dqueue.settings import SettingsSection, bad_value

from . import cluster, sentinel
from ._partitions import MAX_PARTITIONS

__all__ = ["RedisSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisSettings(SettingsSection):
    """The Redis server of the Redis backends; see the dqueue-redis README for each setting."""

    REDIS_URL: str | None = None
    REDIS_HOST: str = "127.0.0.1"
    REDIS_PORT: int = 6379
    REDIS_PASSWORD: str | None = None
    REDIS_DATABASE: int = 0
    REDIS_PREFIX: str = "dqueue"
    REDIS_SOCKET_TIMEOUT: float = 30.0
    REDIS_ALLOW_EVICTION: bool = False
    REDIS_WAIT_REPLICAS: int = 0
    REDIS_WAIT_TIMEOUT_MS: int = 100
    #: Queues kept in several partitions (hash slots), by name: ``{"mail": 8}``.
    REDIS_PARTITIONS: Mapping[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        """Refuse a bad port, timeout, replica or partition count, Sentinel or Cluster URL.

        A port outside 1-65535, a socket or replica timeout that is not positive, a negative
        replica count, a partition count outside 1-256, a ``redis+sentinel://`` URL that names
        no sentinel or service and a ``redis+cluster://`` URL that names no node are refused
        at start-up rather than at the first connection.
        """
        if not 0 < self.REDIS_PORT < 65536:
            raise bad_value("REDIS_PORT", "a TCP port", self.REDIS_PORT)
        if self.REDIS_SOCKET_TIMEOUT <= 0:
            raise bad_value("REDIS_SOCKET_TIMEOUT", "greater than 0", self.REDIS_SOCKET_TIMEOUT)
        if self.REDIS_WAIT_REPLICAS < 0:
            raise bad_value("REDIS_WAIT_REPLICAS", "0 (off) or more", self.REDIS_WAIT_REPLICAS)
        if self.REDIS_WAIT_TIMEOUT_MS <= 0:
            raise bad_value("REDIS_WAIT_TIMEOUT_MS", "greater than 0", self.REDIS_WAIT_TIMEOUT_MS)
        for queue, count in self.REDIS_PARTITIONS.items():
            if not 1 <= count <= MAX_PARTITIONS:
                expected = f"a number of partitions from 1 to {MAX_PARTITIONS}"
                raise bad_value(f"REDIS_PARTITIONS[{queue!r}]", expected, count)
        if self.REDIS_URL and self.REDIS_URL.startswith(sentinel.SCHEMES):
            sentinel.parse_sentinel_url(self.REDIS_URL)
        if self.REDIS_URL and self.REDIS_URL.startswith(cluster.SCHEMES):
            cluster.parse_cluster_url(self.REDIS_URL)
