from __future__ import annotations

from dqtest_shop.models import Record


def test_the_project_database_is_migrated() -> None:
    assert Record.objects.count() == 0
