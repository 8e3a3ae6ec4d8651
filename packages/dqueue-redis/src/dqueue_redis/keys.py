"""The key layout: every key of a queue shares the hash tag ``{<queue>}``.

One queue's keys all hash to one slot, so each Lua script touches one slot, as Redis Cluster
requires. The queue name is escaped inside the tag (``%``, ``{`` and ``}``), so no name can end
the tag early or collide with another queue's keys. The package README has the full table.
"""

from __future__ import annotations

__all__ = ["QueueKeys", "escape_queue", "queues_key"]


def escape_queue(queue: str) -> str:
    """The queue name as written inside its hash tag."""
    return queue.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def queues_key(prefix: str) -> str:
    """The set of every queue name that got jobs (the only key outside a queue's slot)."""
    return f"{prefix}:queues"


class QueueKeys:
    """The keys of one queue. Scripts get ``base`` and derive the rest themselves."""

    __slots__ = ("base", "jobs", "paused", "prefix", "queue", "wake")

    def __init__(self, prefix: str, queue: str) -> None:
        self.prefix = prefix
        self.queue = queue
        #: ``<prefix>:{<queue>}:``, the start of every key of the queue.
        self.base = f"{prefix}:{{{escape_queue(queue)}}}:"
        #: Hash: job id -> payload, of waiting jobs (and, at-least-once, of leased ones).
        self.jobs = self.base + "jobs"
        #: List: wake-up tokens for waiting workers.
        self.wake = self.base + "wake"
        #: String: when the pause ends (epoch seconds), with a TTL.
        self.paused = self.base + "paused"

    def waiter(self, waiter_id: str) -> str:
        """List: the private wake-up key of one waiting reserve call."""
        return f"{self.base}w:{waiter_id}"

    def result(self, job_id: str) -> str:
        """Hash: the result record of a job that keeps one."""
        return f"{self.base}r:{job_id}"
