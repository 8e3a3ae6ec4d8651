"""A queue in partitions: where each partition's keys live and which partition takes a job.

A queue given N partitions (``DQUEUE_REDIS_PARTITIONS = {"mail": 8}``) keeps its jobs under N
key bases instead of one, each with a hash tag of its own, so that on Redis Cluster each is in
a slot of its own and the queue is served by every master. Every script still touches one
partition, so one slot. On a single server the partitions are only keys.

The 16,384 slots are cut in N equal ranges; a cluster made by ``redis-cli --cluster create``
gives each master one range of slots, so one partition per range spreads them over the masters
as evenly as N allows. Partition 0 is the queue's own keys (tag ``<queue>``), in whichever
range its slot is: jobs stored before the queue had partitions are still served. Partition
``i`` takes the ``i``-th of the other ranges, with the first tag ``<queue>%#<i>``,
``<queue>%#<i>.1``, ... whose slot falls in it. ``%#`` never occurs in an escaped queue name
(:func:`~dqueue_redis._store.queue_base` writes ``%`` as ``%25``), so no queue's keys can be
another's partition.

A job goes to the partition its routing key hashes to (CRC-32, the same in every process):
its unique key when it has one, so that a unique key is unique across the partitions; else
``meta["partition_key"]`` when the caller gave one, so that jobs with the same key keep their
order; else its id, which spreads jobs evenly and sends a job enqueued twice under one id to
the same partition, where it is refused as on any queue.
"""

from __future__ import annotations

import zlib

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from dqueue.errors import InvalidTask
from dqueue.job import Job

__all__ = ["MAX_PARTITIONS", "PARTITION_KEY", "partition_index", "partition_tags"]

#: The most partitions a queue may have: far more than any cluster has masters.
MAX_PARTITIONS = 256
#: The ``meta`` key whose value (a string) keeps related jobs in one partition, in order.
PARTITION_KEY = "partition_key"


def partition_tags(escaped: str, count: int) -> tuple[str, ...]:
    """The hash tags of the ``count`` partitions of the queue whose escaped name is ``escaped``.

    The first is the queue's own tag, its escaped name (see the module).
    """
    own = _slot(escaped) * count // REDIS_CLUSTER_HASH_SLOTS
    ranges = [share for share in range(count) if share != own]
    tags = [escaped]
    for index, share in enumerate(ranges, start=1):
        low = share * REDIS_CLUSTER_HASH_SLOTS // count
        high = (share + 1) * REDIS_CLUSTER_HASH_SLOTS // count
        tag = f"{escaped}%#{index}"
        attempt = 0
        # CRC16 spreads tags evenly: about ``count`` tries find one in a range of 1/count.
        while not low <= _slot(tag) < high:
            attempt += 1
            tag = f"{escaped}%#{index}.{attempt}"
        tags.append(tag)
    return tuple(tags)


def _slot(tag: str) -> int:
    return key_slot(("{" + tag + "}").encode("utf-8", "surrogatepass"))


def partition_index(job: Job, count: int) -> int:
    """The partition (0 to ``count - 1``) that takes ``job``; see the module for the rule.

    Raises:
        InvalidTask: ``meta["partition_key"]`` is given and not a string.
    """
    if count == 1:
        return 0
    key = _routing_key(job)
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % count


def _routing_key(job: Job) -> str:
    if job.unique_key:
        return "u:" + job.unique_key
    given = job.meta.get(PARTITION_KEY)
    if given is None:
        return "i:" + job.id
    if not isinstance(given, str):
        raise InvalidTask(
            f"job {job.id} of task {job.task}: meta {PARTITION_KEY} must be a string"
            f" (a {type(given).__name__} was given)"
        )
    return "k:" + given
