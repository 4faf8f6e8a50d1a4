"""The `amlguard monitor` commands shown with their output in docs/monitoring.md print that output."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from amlguard.monitor.runner import run

REPO = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```console\n\$ amlguard monitor (.*?)\n(.*?)```",
                    (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8"), re.S)


def test_the_page_shows_both_commands() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize(("command", "shown"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_documented_output_is_what_the_command_prints(command: str, shown: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    run(shlex.split(command), stdout=out)
    printed = out.getvalue().splitlines()
    lines = shown.rstrip("\n").splitlines()
    if "..." not in lines:
        assert printed == lines
        return
    cut = lines.index("...")  # an excerpt: the head, then the tail, as printed
    assert printed[:cut] == lines[:cut]
    assert printed[len(printed) - len(lines[cut + 1:]):] == lines[cut + 1:]


def test_the_readme_excerpt_is_lines_the_command_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    (command, shown), = re.findall(r"```(?:console)?\n\$ amlguard monitor (.*?)\n(.*?)```",
                                   (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    run(shlex.split(command), stdout=out)
    printed = iter(out.getvalue().splitlines())
    for line in shown.rstrip("\n").splitlines():  # each shown line, in the printed order
        if line != "...":
            assert any(p == line for p in printed), line
