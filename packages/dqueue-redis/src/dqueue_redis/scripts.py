"""The Lua scripts: each is its own file in ``lua/``, after what it uses of ``lua/common.lua``.

The shared prelude is linked (:mod:`dqueue_redis.lua_link`): a script carries only the helpers
and key names it calls, since Redis runs every definition of a script's text on every call.

Each backend registers the scripts with its client as redis-py ``Script`` objects, run by SHA
(``EVALSHA``) and loaded again when the server forgot one (``NOSCRIPT``: it restarted, or failed
over): in pipelines by redis-py, alone by :class:`HeldConnections`. A refused script never ran,
so running it again is always safe. On Redis Cluster, :class:`~dqueue_redis.cluster.ClusterScripts`
runs them instead, each on the node of its key's slot: both are a :class:`ScriptRunner`.
"""

from __future__ import annotations

import importlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Protocol

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from .lua_link import link

__all__ = ["SOURCES", "Arg", "HeldConnections", "ScriptRunner"]

#: What a script takes as an argument.
Arg = str | bytes | int | float


def _hiredis_packer() -> Callable[[tuple[Arg, ...]], bytes] | None:
    """The packer redis-py itself calls when hiredis is installed (``dqueue-redis[hiredis]``)."""
    try:
        hiredis = importlib.import_module("hiredis")
    except ImportError:
        return None
    packer: Callable[[tuple[Arg, ...]], bytes] = hiredis.pack_command
    return packer


_pack_command = _hiredis_packer()


def _sources() -> dict[str, str]:
    folder = resources.files(__package__).joinpath("lua")
    prelude = folder.joinpath("common.lua").read_text("utf-8")
    scripts = [e for e in folder.iterdir() if e.name.endswith(".lua") and e.name != "common.lua"]
    return {
        script.name.removesuffix(".lua"): link(
            prelude, f"\n-- {script.name}\n{script.read_text('utf-8')}"
        )
        for script in scripts
    }


#: The text of every script, by the name of its file in ``lua/`` (``"reserve"``); a backend
#: registers each with its client (``redis.Redis.register_script``).
SOURCES: dict[str, str] = _sources()


class ScriptRunner(Protocol):
    """How a backend runs its scripts: alone, or several in one round trip."""

    def run_and_wait(
        self, script: Script, key_and_args: Sequence[Arg], wait: tuple[int, int] | None
    ) -> tuple[Any, int]:
        """Run ``script`` with one key (the first of ``key_and_args``).

        With ``wait`` (replicas, timeout in ms), wait for the replicas. Returns its reply, and
        how many replicas acknowledged (0 without ``wait``).
        """
        ...

    def run_all(
        self, calls: Sequence[tuple[Script, Sequence[Arg]]], wait: tuple[int, int] | None
    ) -> tuple[list[Any], int]:
        """Run scripts (each with one key, then its arguments) in one round trip.

        Then wait as :meth:`run_and_wait` does. Returns their replies, and how many replicas
        hold every write.
        """
        ...


class HeldConnections:
    """Runs single scripts on a pool connection each thread holds, rather than checks out per call.

    Speed only: one-by-one enqueue ran 1.63x as fast as through ``Script.__call__`` (0.93x against
    0.57x of the former hand-written transport, medians of 11 interleaved rounds of
    ``BENCH_DQUEUE_BASELINE=... bench/bench_redis.py --phases enqueue --enqueue-rounds 11``,
    2026-12-03), and 1.21x as fast as a client with ``single_connection_client=True``: the
    pool's checkout polls the socket each time. Parsing stays redis-py's, and packing too
    without hiredis; with it, a single script's command goes to ``hiredis.pack_command`` as
    redis-py's own packer would send it, without that packer's pass over every argument:
    about 10 µs of CPU less an enqueue, 149 → 138 µs (minimums of 5 interleaved runs of 3,000
    ``noop.enqueue()`` on a local Redis, 2026-12-04).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pool = client.connection_pool
        self._local = threading.local()

    def run(self, script: Script, key_and_args: Sequence[Arg]) -> Any:
        """Run ``script`` with one key (the first of ``key_and_args``), as ``Script`` would."""
        return self.run_and_wait(script, key_and_args, None)[0]

    def run_and_wait(
        self, script: Script, key_and_args: Sequence[Arg], wait: tuple[int, int] | None
    ) -> tuple[Any, int]:
        """Run ``script``; with ``wait`` (replicas, timeout in ms), ``WAIT`` right after it.

        ``WAIT`` covers the writes of its own connection, so it goes on the same one, in the
        same round trip. Returns the script's reply and how many replicas acknowledged (0
        without ``wait``).
        """
        connection = self._connection()
        try:
            for _ in range(2):
                command = ("EVALSHA", script.sha, 1, *key_and_args)
                if _pack_command is None:
                    connection.send_command(*command)
                else:  # str, bytes and numbers: nothing for redis-py to convert first
                    connection.send_packed_command([_pack_command(command)])
                if wait is not None:
                    connection.send_command("WAIT", *wait)
                reply: Any
                try:
                    reply = connection.read_response()
                except redis.ResponseError as exc:
                    reply = exc  # the WAIT reply is still to be read
                acknowledged = int(connection.read_response()) if wait is not None else 0
                if not isinstance(reply, NoScriptError):
                    break
                connection.send_command("SCRIPT", "LOAD", script.script)
                connection.read_response()
            if isinstance(reply, redis.ResponseError):
                raise reply  # every reply was read whole: the connection is still in step
            return reply, acknowledged
        except redis.ResponseError:
            raise
        except BaseException:
            # Back to the pool, which reconnects it where the pool says: a held connection
            # would reconnect to its old address, a dead master after a Sentinel failover.
            connection.disconnect()
            self._local.held = None
            raise

    def run_in_order(self, calls: Sequence[tuple[Script, Sequence[Arg]]]) -> list[Any]:
        """Run scripts (each with one key, then its arguments) in one round trip, in order.

        On the held connection, unlike :meth:`run_all`: a redis-py pipeline asks the server
        whether it knows its scripts first, a round trip more. A script the server did not
        know (``NOSCRIPT``) never ran: it is loaded and run again after the others. A reply
        that is an error is returned as the error, the others as they are.
        """
        connection = self._connection()
        try:
            # One write for all: a send per command would cost the system calls saved here.
            commands = [("EVALSHA", script.sha, 1, *args) for script, args in calls]
            connection.send_packed_command(connection.pack_commands(commands))
            replies: list[Any] = []
            for _ in calls:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)  # the next replies are still to be read
            for index, (script, key_and_args) in enumerate(calls):
                if isinstance(replies[index], NoScriptError):
                    try:
                        replies[index] = self.run(script, key_and_args)
                    except redis.ResponseError as exc:
                        replies[index] = exc
            return replies
        except BaseException:
            connection.disconnect()  # back to the pool's address, as in run_and_wait
            self._local.held = None
            raise

    def run_all(
        self, calls: Sequence[tuple[Script, Sequence[Arg]]], wait: tuple[int, int] | None
    ) -> tuple[list[Any], int]:
        """Run scripts in one pipeline, then ``WAIT`` on its connection when ``wait`` is given.

        redis-py loads the scripts a pipeline runs before it sends the pipeline.
        """
        with self._client.pipeline(transaction=False) as pipeline:
            for script, key_and_args in calls:
                script(keys=[str(key_and_args[0])], args=key_and_args[1:], client=pipeline)
            if wait is not None:
                pipeline.wait(*wait)
            replies = pipeline.execute()
        return replies, int(replies.pop()) if wait is not None else 0

    def _connection(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():  # a forked child takes its own
            held = self._local.held = _Held(self._pool)
        return held.connection


class _Held:
    """A connection one thread took from the pool; it goes back when the thread ends."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pid = os.getpid()
        # redis-py leaves its connection class untyped.
        self.connection: Any = pool.get_connection()
        weakref.finalize(self, pool.release, self.connection)
