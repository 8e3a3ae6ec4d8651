"""Django's Tasks normalise arguments (a tuple becomes a list), and so does dqueue's backend."""

from __future__ import annotations

import django
import pytest

if django.VERSION < (6, 0):
    pytest.skip("Django's Tasks framework needs Django 6.0", allow_module_level=True)

from dqtest_shop import django_tasks

from dqueue.settings import get_settings
from dqueue.worker import Worker

pytestmark = pytest.mark.usefixtures("memory_backend")


def test_a_tuple_argument_of_a_django_task_arrives_as_a_list_as_with_django_s_backends() -> None:
    result = django_tasks.add.enqueue((1,), b=(2,))  # type: ignore[arg-type]
    assert Worker(get_settings(), "default", burst=True).run() == 0
    result.refresh()
    assert result.args == [[1]]
    assert result.kwargs == {"b": [2]}
    assert result.return_value == [1, 2]
