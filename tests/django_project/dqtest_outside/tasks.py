"""A tasks module of a package that is not an installed app: its queue implies no worker."""

from __future__ import annotations

from dqueue import task


@task(queue="outside")
def outside_task() -> str:
    return "ran"
