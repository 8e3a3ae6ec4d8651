"""Redis Sentinel: the ``redis+sentinel://`` URL, and a client that follows the master.

``redis+sentinel://[user:password@]host:port[,host:port…]/service_name[/db]`` names the
sentinels (any number, each ``host:port``), the service they watch and the database.
``rediss+sentinel://`` speaks TLS to the sentinels and the servers. The credentials are the
servers'; the sentinels are asked without them.

The client is redis-py's ``Sentinel(...).master_for(service_name)``: each new connection asks
the sentinels where the master is, and a connection that meets a demoted master (``READONLY``)
is dropped, so once the backend's caller retries (the worker does, with backoff), commands
reach the promoted replica without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis
from redis.sentinel import Sentinel

from dqueue.errors import ConfigurationError

from ._urls import parse_host_list

__all__ = ["SCHEMES", "SentinelTarget", "parse_sentinel_url"]

#: The schemes that select Sentinel, plain and TLS.
SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def describe(self) -> str:
        """The URL without the password, for messages."""
        scheme = SCHEMES[1] if self.tls else SCHEMES[0]
        user = f"{self.username}@" if self.username else ""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"{scheme}://{user}{hosts}/{self.service_name}/{self.db}"

    def connect(self, options: dict[str, Any]) -> redis.Redis:
        """A client of the service's current master, with the connection ``options``."""
        socket_options = {key: value for key, value in options.items() if key.startswith("socket_")}
        # redis-py leaves Sentinel untyped.
        sentinel: Any = Sentinel
        client: redis.Redis = sentinel(
            list(self.sentinels),
            sentinel_kwargs={**socket_options, "ssl": self.tls},
            **options,
        ).master_for(
            self.service_name,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.tls,
        )
        return client


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Read a ``redis+sentinel://`` URL.

    Raises:
        ConfigurationError: no sentinel, a sentinel without a valid port, no service name or a
            database that is not a number; the message names the part, never the password.
    """
    parsed = parse_host_list(
        url,
        SCHEMES,
        system="Sentinel",
        host_word="sentinel",
        usage="redis+sentinel://host:port/service_name",
    )
    service_name, _, db = parsed.path.partition("/")
    if not service_name:
        raise ConfigurationError(
            "DQUEUE_REDIS_URL names no Sentinel service: write "
            "redis+sentinel://host:port[,host:port...]/service_name[/db]"
        )
    if db and not db.isdigit():
        raise ConfigurationError(
            f"DQUEUE_REDIS_URL: the database after the service name must be a number, not {db!r}"
        )
    return SentinelTarget(
        parsed.hosts,
        unquote(service_name),
        int(db or 0),
        parsed.username,
        parsed.password,
        tls=parsed.tls,
    )
