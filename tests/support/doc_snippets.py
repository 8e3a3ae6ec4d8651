"""Run a Markdown guide as written: its files are written, its commands run, in a fresh folder.

A guide marks what the suite does with each fenced block by an HTML comment on the line
before it (invisible when the page is rendered):

- ``<!-- write: PATH -->``: the block is the whole content of ``PATH``.
- ``<!-- append: PATH -->``: the block is added at the end of ``PATH`` (a generated file).
- ``<!-- background -->``: the console block's one command starts and keeps running (a
  runner); at the end it is stopped with SIGTERM, as systemd or Ctrl-C would, and must exit 0.
- ``<!-- expect: TEXT -->``: the output of the console block that follows contains ``TEXT``.
- ``<!-- not-run: WHY -->``: the block is left out (an install, a browser, a systemd unit).

Every other ``console`` block runs: each line that starts with ``$ `` is a shell command that
must exit 0; the lines after it are what a reader sees, not checked (ids and times vary).
Commands run with the interpreter of the suite first on ``PATH``, so ``python``, ``dqueue`` and
``django-admin`` are those of the environment under test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "Guide", "blocks_of", "run_guide"]

_MARKER = re.compile(r"<!--\s*([a-z-]+)(?::\s*(.*?))?\s*-->")
_FENCE = re.compile(r"^```(\w*)\s*$")
#: Longest a foreground command may take: waits for results have their own, shorter timeouts.
_COMMAND_TIMEOUT_S = 120


@dataclass
class Block:
    """One fenced block of a guide and the markers just before it."""

    language: str
    text: str
    line: int
    markers: dict[str, str] = field(default_factory=dict)

    def commands(self) -> list[str]:
        """The shell commands of a console block (its ``$ `` lines)."""
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]


def blocks_of(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``, in order, with the markers that precede it."""
    blocks: list[Block] = []
    markers: dict[str, str] = {}
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if marker := _MARKER.fullmatch(line.strip()):
            markers[marker.group(1)] = marker.group(2) or ""
        elif fence := _FENCE.match(line):
            end = lines.index("```", index + 1)
            text = "\n".join(lines[index + 1 : end]) + "\n"
            blocks.append(Block(fence.group(1), text, index + 1, markers))
            markers, index = {}, end
        elif line.strip():
            markers = {}  # a marker belongs to the block right after it
        index += 1
    return blocks


@dataclass
class Guide:
    """A guide being run in ``folder``: what it started, and the output of each command."""

    folder: Path
    env: dict[str, str]
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def log_of_background(self) -> str:
        """What the background commands printed so far (for a failing test's message)."""
        return "\n".join(
            (self.folder / f"background-{n}.log").read_text(errors="replace")
            for n in range(len(self.background))
        )

    def stop(self) -> list[int]:
        """Stop the background commands as a service manager would; return their exit codes."""
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.background:
            try:
                codes.append(process.wait(timeout=60))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DQUEUE_", "DJANGO_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)  # a reader's shell has only what the guide installs
    return env


def _write(guide: Guide, block: Block) -> None:
    if "write" in block.markers:
        path = guide.folder / block.markers["write"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
    else:
        path = guide.folder / block.markers["append"]
        assert path.exists(), f"line {block.line}: {path.name} to append to does not exist"
        with path.open("a") as file:
            file.write("\n" + block.text)


def _run(guide: Guide, block: Block) -> None:
    if "background" in block.markers:
        [command] = block.commands()
        log = (guide.folder / f"background-{len(guide.background)}.log").open("wb")
        process = subprocess.Popen(  # exec: the signal goes to the command, not to the shell
            f"exec {command}", shell=True, cwd=guide.folder, env=guide.env, stdout=log, stderr=log
        )
        guide.background.append(process)
        return
    output = ""
    for command in block.commands():
        done = subprocess.run(
            command,
            shell=True,
            cwd=guide.folder,
            env=guide.env,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_S,
            check=False,
        )
        output += done.stdout + done.stderr
        guide.transcript.append(f"$ {command}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, (
            f"line {block.line}: `{command}` exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}\nbackground:\n{guide.log_of_background()}"
        )
    expected = block.markers.get("expect")
    assert expected is None or expected in output, (
        f"line {block.line}: expected {expected!r} in:\n{output}"
    )


def run_guide(markdown: Path, folder: Path) -> Guide:
    """Run every block of the guide ``markdown`` in ``folder``; background commands keep running.

    The caller stops them with :meth:`Guide.stop` (and checks their exit codes).
    """
    guide = Guide(folder=folder, env=_environment())
    try:
        for block in blocks_of(markdown.read_text()):
            if "not-run" in block.markers:
                continue
            if "write" in block.markers or "append" in block.markers:
                _write(guide, block)
            elif block.language == "console":
                _run(guide, block)
    except BaseException:
        guide.stop()
        raise
    return guide
