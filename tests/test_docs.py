"""The docs are executed: every command shown with its output in README.md and docs/*.md runs here,
and every policy document shown in them is validated.

The convention the pages follow (README.md, "Docs that run"):
- A command with its output is a ```console block: `$ ` starts a command (a trailing `\\` continues
  it), the lines up to the next `$ ` are what it prints (stdout and stderr, as a terminal shows
  them). A line `...` stands for any number of lines. Commands of a block run in one bash, in
  order, in the page's scratch folder: a copy of examples/ and policies/, with amlguard on PATH.
- `<!-- file: PATH -->` right before a fenced block writes the block to PATH in that folder,
  when the page reaches it: how a page sets up the files its commands read.
- `<!-- not-run: REASON -->` right before a console block skips it (Azure, a subscription, a
  benchmark of minutes); the reason is required and the count is printed.
- Outputs are compared line by line, trailing spaces ignored; only timestamps, generated ids,
  the scratch folder's path and the port of a local server may differ.
- A ```yaml block holding a policy document (`apiVersion: amlguard/v1` and a `kind`) passes
  `amlguard policy validate`, unless it is a `file:` the page's commands read (they show the
  verdict) or it is marked `<!-- invalid: REASON -->`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SEPARATOR = "@@amlguard-docs-separator@@"
MARKER = re.compile(r"^<!--\s*(file|not-run|invalid):\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(```+)(\S*)")
PORT = "8080"  # the port the pages' local servers use; the test runs them on a free one
VARIABLE = [  # (pattern, placeholder): what may differ from run to run
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{16}(?:[0-9a-f]{16})?\b"), "<id>"),
]


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def blocks(page: Path) -> list[Block]:
    """Every fenced block of the page with the marker comment right before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(match.group(1)))
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        found.append(Block(page, i + 1, match.group(2), "\n".join(lines[i + 1:end]) + "\n",
                           (marker.group(1), marker.group(2)) if marker else None))
        i = end + 1
    return found


def incomplete(command: str) -> bool:
    """Whether the shell would read on: a trailing backslash or a quote still open."""
    if command.endswith("\\"):
        return True
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return True
    return False


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    continuing = False
    for line in block.text.splitlines():
        if continuing:
            out[-1].text += "\n" + line
            continuing = incomplete(out[-1].text)
        elif line.startswith("$ "):
            out.append(Command(line[2:]))
            continuing = incomplete(out[-1].text)
        else:
            assert out, f"{block.where}: output before the first `$ ` command"
            out[-1].expected.append(line)
    return out


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def console_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang == "console"]


def normalise(line: str, scratch: Path) -> str:
    # paths: the scratch folder, and where amlguard is installed (the bundled pack's files)
    line = line.replace(str(scratch), "<scratch>").replace(f"{REPO}{os.sep}", "").rstrip()
    for pattern, placeholder in VARIABLE:
        line = pattern.sub(placeholder, line)
    return line


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a `...` line in `expected` takes any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def scratch_for(page: Path, tmp_path: Path) -> Path:
    """The page's folder: copies of examples/ and policies/ (examples refer to ../../policies)."""
    scratch = tmp_path / "work"
    for folder in ("examples", "policies"):
        shutil.copytree(REPO / folder, scratch / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return scratch


def shell_env(scratch: Path) -> dict[str, str]:
    """A user's shell: amlguard (this checkout's) on PATH, no amlguard settings, a home of its own."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(scratch.parent / "home")
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleave as on a terminal, not as through a pipe
    return env


class Shell:
    """One bash for a block, fed a command at a time: each command's output (stdout and stderr,
    as a terminal shows them) read up to a separator, so later commands can use what earlier
    ones printed (an id) and `echo $?` sees the previous command's status."""

    def __init__(self, scratch: Path) -> None:
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=scratch, env=shell_env(scratch),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # background jobs (a server) end with the block
        self._send("trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def run(self, command: str, timeout: float = 120) -> list[str]:
        # braces keep `export` and `&` in this shell; /dev/null keeps commands off the script's stdin
        self._send(f"{{ {command}\n}} </dev/null\n__rc=$?; printf '\\n{SEPARATOR}\\n'; (exit $__rc)")
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer in {timeout:.0f} s to: {command}\n" + "\n".join(out)) from None
            if line is None:
                raise AssertionError(f"the shell ended during: {command}\n" + "\n".join(out))
            if line == SEPARATOR:
                break
            out.append(line)
        while out and not out[-1].strip():
            out.pop()
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send("exit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.reader.join(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def ids_in(line: str) -> list[str]:
    return [m.group(0) for pattern, placeholder in VARIABLE if placeholder == "<id>" for m in pattern.finditer(line)]


def run_block(block: Block, scratch: Path) -> list[str]:
    """Run the block's commands; the mismatches between what the page shows and what they print."""
    port = free_port()
    seen: dict[str, str] = {}  # an id the page shows -> the one this run printed in its place
    failures = []
    shell = Shell(scratch)
    try:
        for cmd in commands(block):
            text = cmd.text.replace(f"localhost:{PORT}", f"localhost:{port}").replace(f"--port {PORT}", f"--port {port}")
            for shown, printed in seen.items():
                text = text.replace(shown, printed)
            raw = shell.run(text)
            actual = [normalise(line, scratch) for line in raw]
            expected = [normalise(line, scratch) for line in cmd.expected]
            while expected and not expected[-1]:
                expected.pop()
            if not matches(expected, actual):
                failures.append(f"{block.where}: $ {cmd.text}\n--- the page shows\n" + "\n".join(expected)
                                + "\n--- it prints\n" + "\n".join(actual))
            elif "..." not in expected:
                for shown_line, printed_line in zip(cmd.expected, raw, strict=False):
                    seen.update(zip(ids_in(shown_line), ids_in(printed_line), strict=False))
    finally:
        shell.close()
    return failures


def write_file(block: Block, scratch: Path) -> None:
    path = scratch / block.marker[1]  # type: ignore[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.text, encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_commands_print_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    scratch = scratch_for(page, tmp_path)
    failures = []
    for block in blocks(page):
        if block.marker and block.marker[0] == "file":
            write_file(block, scratch)
        if block.lang == "console" and not (block.marker and block.marker[0] == "not-run"):
            failures += run_block(block, scratch)
    assert not failures, "\n\n".join(failures)


def test_every_command_with_output_is_a_console_block_and_every_skip_says_why() -> None:
    """A `$ ` prompt outside a console block would escape this test; so would a skip without reason."""
    run = skipped = 0
    for block in all_blocks():
        prompts = any(line.startswith("$ ") for line in block.text.splitlines())
        if block.lang != "console":
            assert not prompts, f"{block.where}: a block with `$ ` prompts must be ```console"
            continue
        if block.marker and block.marker[0] == "not-run":
            assert len(block.marker[1]) >= 10, f"{block.where}: say why the block cannot run here"
            skipped += 1
        else:
            run += 1
    print(f"\ndocs: {run} console blocks run, {skipped} not run (each with its reason)")
    assert run >= 15


def policy_snippets() -> list[Block]:
    return [b for b in all_blocks() if b.lang == "yaml" and re.search(r"^apiVersion: amlguard/v1$", b.text, re.M)
            and re.search(r"^kind: \w+$", b.text, re.M)]


@pytest.mark.parametrize("block", policy_snippets(), ids=lambda b: b.where)
def test_policy_snippets_are_valid(block: Block, tmp_path: Path) -> None:
    if block.marker and block.marker[0] in ("file", "invalid"):
        pytest.skip(f"{block.marker[0]}: {block.marker[1]} (its commands show the verdict)")
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "snippet.yaml").write_text(block.text, encoding="utf-8")
    if "kind: AuditRules" not in block.text:  # a folder needs a rule to be a pack
        shutil.copy(REPO / "policies" / "network.yaml", tmp_path / "pack" / "network.yaml")
    result = subprocess.run([sys.executable, "-m", "amlguard.cli", "policy", "validate", "pack"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}{result.stderr}"
