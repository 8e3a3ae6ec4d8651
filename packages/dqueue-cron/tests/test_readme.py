"""The README's Python examples run: the first defines ``myapp.tasks``, the others use it."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.fixture
def myapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(BLOCKS[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [name for name in sys.modules if name == "myapp" or name.startswith("myapp.")]:
        del sys.modules[name]


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(1, len(BLOCKS)))
def test_each_readme_example_runs(index: int, myapp: None) -> None:
    exec(compile(BLOCKS[index], f"README.md example {index}", "exec"), {})
