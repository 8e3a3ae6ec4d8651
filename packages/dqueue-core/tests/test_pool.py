from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dqueue.errors import ConfigurationError
from dqueue.pool import RunnerPlan, WorkerSlot, exact_slots, pooled_slots, queue_counts
from dqueue.registry import TaskRegistry
from dqueue.settings import Settings
from dqueue.task import Task, TaskOptions


def _registry_with_queues(*queues: str) -> TaskRegistry:
    registry = TaskRegistry()
    for index, queue in enumerate(queues):
        registry.register(
            Task(lambda: None, name=f"tasks.t{index}", options=TaskOptions(queue=queue))
        )
    return registry


def test_readme_pool_of_three_machines_runs_one_queue1_worker_on_each() -> None:
    counts = {"queue1": 3}
    per_machine = [pooled_slots(counts, machine, 3) for machine in (1, 2, 3)]
    assert [len(slots) for slots in per_machine] == [1, 1, 1]
    assert sorted(slot for slots in per_machine for slot in slots) == exact_slots(counts)


def test_readme_exact_configuration_runs_every_configured_worker() -> None:
    assert exact_slots({"queue1": 2}) == [WorkerSlot("queue1", 1), WorkerSlot("queue1", 2)]


def test_slot_j_goes_to_machine_j_mod_m_plus_one() -> None:
    counts = {"b": 3, "a": 2}
    # Order: a/1 a/2 b/1 b/2 b/3 -> machines 1 2 1 2 1.
    assert pooled_slots(counts, 1, 2) == [
        WorkerSlot("a", 1),
        WorkerSlot("b", 1),
        WorkerSlot("b", 3),
    ]
    assert pooled_slots(counts, 2, 2) == [WorkerSlot("a", 2), WorkerSlot("b", 2)]


def test_only_queue_keeps_this_machines_slots_of_that_queue_after_the_split() -> None:
    counts = {"a": 2, "b": 3}
    assert pooled_slots(counts, 1, 2, only_queue="b") == [WorkerSlot("b", 1), WorkerSlot("b", 3)]
    assert pooled_slots(counts, 2, 2, only_queue="b") == [WorkerSlot("b", 2)]


def test_only_queue_must_name_a_known_queue() -> None:
    with pytest.raises(ConfigurationError, match="--only-queue 'c' is not a known queue"):
        pooled_slots({"a": 1}, 1, 1, only_queue="c")


@pytest.mark.parametrize(
    ("machine", "machines", "message"),
    [
        (1, 0, "--of"),
        (0, 3, "between 1 and 3"),
        (4, 3, "between 1 and 3"),
    ],
)
def test_machine_numbers_are_validated(machine: int, machines: int, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        pooled_slots({"a": 1}, machine, machines)


def test_queue_counts_add_one_worker_for_queues_of_registered_tasks_and_extra_queues() -> None:
    settings = Settings(WORKERS={"mail": 3})
    registry = _registry_with_queues("mail", "reports")
    counts = queue_counts(settings, extra_queues=("cron",), registry=registry)
    assert counts == {"cron": 1, "mail": 3, "reports": 1}


def test_queue_counts_keep_a_queue_configured_with_zero_workers_at_zero() -> None:
    settings = Settings(WORKERS={"reports": 0})
    counts = queue_counts(settings, registry=_registry_with_queues("reports"))
    assert counts == {"reports": 0}


def test_queue_counts_never_change_the_settings() -> None:
    settings = Settings(WORKERS={"mail": 3})
    queue_counts(settings, extra_queues=("cron",), registry=_registry_with_queues("reports"))
    assert dict(settings.WORKERS) == {"mail": 3}


def test_a_plan_counts_its_slots_per_queue() -> None:
    slots = (WorkerSlot("a", 1), WorkerSlot("b", 2), WorkerSlot("a", 3))
    assert RunnerPlan(counts={"a": 3, "b": 2}, slots=slots).here == {"a": 2, "b": 1}


def test_a_slot_prints_as_queue_slash_number() -> None:
    assert str(WorkerSlot("mail", 2)) == "mail/2"


_counts = st.dictionaries(
    st.text(alphabet="abcdefgh", min_size=1, max_size=4), st.integers(0, 7), max_size=6
)


@given(counts=_counts, machines=st.integers(1, 9))
def test_machines_of_a_pool_partition_every_slot(counts: dict[str, int], machines: int) -> None:
    assigned = [slot for m in range(1, machines + 1) for slot in pooled_slots(counts, m, machines)]
    assert sorted(assigned) == exact_slots(counts)
    assert len(set(assigned)) == len(assigned)


@given(counts=_counts.filter(bool), machines=st.integers(1, 9), data=st.data())
def test_only_queue_runners_partition_that_queues_slots(
    counts: dict[str, int], machines: int, data: st.DataObject
) -> None:
    queue = data.draw(st.sampled_from(sorted(counts)))
    assigned = [
        slot for m in range(1, machines + 1) for slot in pooled_slots(counts, m, machines, queue)
    ]
    assert sorted(assigned) == [slot for slot in exact_slots(counts) if slot.queue == queue]
