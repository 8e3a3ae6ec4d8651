"""The README's Python examples run, in order, against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dqueue.settings import reset_settings
from tests.support.redis_server import RedisServer

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_python_examples() -> None:
    assert len(_python_blocks()) >= 2


def test_the_readme_examples_run(
    redis_server: RedisServer, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DQUEUE_REDIS_URL", redis_server.url)
    monkeypatch.setenv("DQUEUE_REDIS_PREFIX", redis_prefix)
    reset_settings()
    namespace: dict[str, object] = {}
    try:
        for block in _python_blocks():
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        reset_settings()
        backend = namespace.get("backend")
        if backend is not None:
            backend.close()  # type: ignore[attr-defined]

    assert namespace["message"] is not None
