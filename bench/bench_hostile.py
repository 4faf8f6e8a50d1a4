"""Hostile files: time and peak RSS of `amlguard audit` and `amlguard policy validate` on bombs.

Each file (a FIFO too) is audited by the real CLI in a fresh process (whole process: start, read, refuse,
report), and its peak RSS is read from the kernel's accounting for that child. Goal (hardening
issue): every bomb ends in a diagnostic or an error, under 200 MB and 2 s. PyYAML's own
`yaml.safe_load` is shown beside the YAML bombs for scale, with a cap so the run stays short.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AMLGUARD = [sys.executable, "-m", "amlguard.cli"]
GOAL_MB, GOAL_S = 200.0, 2.0


def laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int, width: int) -> str:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: v" for i in range(width)) + "}"]
    for i in range(1, levels):
        aliases = ", ".join([f"*m{i - 1}"] * width)
        lines.append(f"m{i}: &m{i}\n  <<: [{aliases}]\n  x{i}: [{aliases}]")
    return "\n".join(lines) + "\n"


ENDPOINT = "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: ep\n"

def under_tags(bomb: str) -> str:
    """The bomb as the `tags` of an online endpoint, so the audit reads it as a resource."""
    return ENDPOINT + "tags:\n" + "".join(f"  {line}\n" for line in bomb.splitlines())


def arm_endpoints(count: int) -> str:
    """An ARM list of `count` online endpoints, one per line, as `az rest` or an export writes it."""
    base = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" \
           "Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/"
    rows = [json.dumps({"id": f"{base}ep-{i}", "name": f"ep-{i}", "location": "westeurope",
                        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
                        "tags": {"owner": "team-a", "cost_center": "cc-1234", "data_classification": "internal"},
                        "properties": {"authMode": "Key", "publicNetworkAccess": "Enabled",
                                       "scoringUri": f"https://ep-{i}.westeurope.inference.ml.azure.com/score",
                                       "provisioningState": "Succeeded", "traffic": {"blue": 100}}})
            for i in range(count)]
    return '{"value": [\n' + ",\n".join(rows) + "\n]}\n"


FIFO = object()  # a named pipe instead of a file
# Built on demand: `measured` imports this module in a helper process, and a child forked from a
# helper holding 50 MB of strings would count them in its own peak RSS.
BOMBS: dict[str, Callable[[], object]] = {
    "billion laughs (9x9, 1 KB)": lambda: under_tags(laughs(9, 9)),
    "merge-key << bomb (10x10)": lambda: under_tags(merge_bomb(10, 10)),
    "6-level laughs (6x10)": lambda: under_tags(laughs(6, 10)),
    "YAML nested 40,000 deep": lambda: "a: " + "[" * 40_000 + "]" * 40_000 + "\n",
    "YAML 6 MB flow list [1,1,...]": lambda: ENDPOINT + "tags: [" + ",".join(["1"] * 3_000_000) + "]\n",
    "YAML 480 KB flow list (under limit)": lambda: ENDPOINT + "tags: [" + ",".join(["1"] * 245_000) + "]\n",
    "YAML 100k keys (1.3 MB)": lambda: ENDPOINT + "tags:\n" + "".join(f"  k{i}: v\n" for i in range(100_000)),
    "YAML UTF-16LE without BOM": lambda: ENDPOINT.encode("utf-16-le"),
    "JSON nested 40,000 deep": lambda: '{"type": "Microsoft.MachineLearningServices/workspaces", "properties": '
                                       + "[" * 40_000 + "]" * 40_000 + "}",
    "JSON 5,000-digit integer": lambda: ('{"type": "Microsoft.MachineLearningServices/workspaces", "properties": '
                                         '{"n": ' + "9" * 5000 + "}}"),
    "JSON 4 MB [1,1,...]": lambda: ('{"type": "Microsoft.MachineLearningServices/workspaces", "name": "ws", '
                                    '"properties": {"n": [' + ",".join(["1"] * 2_000_000) + "]}}"),
    "FIFO named endpoint.yml": lambda: FIFO,
}
# Not a bomb: a large real-shaped export. Reported apart; it may need more than 200 MB.
LARGE: dict[str, Callable[[], object]] = {"ARM JSON, 80,000 endpoints": lambda: arm_endpoints(80_000)}


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS MB of the child, exit code, the first line of output."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB; the largest child so far
    text = proc.stdout.strip() or proc.stderr.strip()
    if text.startswith("{"):  # the JSON report: show what it said about the file
        report = json.loads(text)
        said = [d["message"] for d in report.get("diagnostics", [])] or [f"summary {report.get('summary')}"]
        text = said[0]
    first = text.splitlines()
    return wall, peak / 1024, proc.returncode, first[0][:90] if first else ""


def measured(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run `cmd` from a fresh helper so RUSAGE_CHILDREN holds only this case's peak."""
    here = str(Path(__file__).parent)
    code = (f"import json, sys; sys.path.insert(0, {here!r}); from bench_hostile import run; "
            f"print(json.dumps(run({cmd!r}, __import__('pathlib').Path({str(cwd)!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True)
    wall, mb, rc, line = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(mb), int(rc), str(line)


def pyyaml_reference(text: str, cwd: Path) -> str:
    """PyYAML safe_load on the same text, capped at 20 s and 2 GB so the benchmark ends."""
    code = ("import resource, sys, yaml; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "yaml.safe_load(sys.stdin.read())")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=20,
                              cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        return "> 20 s (stopped)"
    wall = time.perf_counter() - started
    if "MemoryError" in proc.stderr:
        return f"MemoryError at the 2 GB cap after {wall:.1f} s"
    return f"{wall:.2f} s, exit {proc.returncode}"


def write_case(folder: Path, name: str, content: object) -> Path:
    suffix = ".json" if name.startswith(("JSON", "ARM")) else ".yml"
    target = folder / f"endpoint{suffix}"
    if content is FIFO:
        os.mkfifo(target)
    elif isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(str(content))
    return target


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="amlguard-hostile-"))
    failures = 0
    try:
        print(f"goal: every bomb under {GOAL_MB:.0f} MB peak RSS and {GOAL_S:.0f} s, whole process")
        print(f"{'case':36} {'command':16} {'wall s':>7} {'peak MB':>8} {'exit':>4}  first line of output")
        for name, make in {**BOMBS, **LARGE}.items():
            content = make()
            if name in LARGE:
                print("-- large input (not a bomb; time and memory reported, no goal) --")
            folder = work / f"case{len(list(work.iterdir()))}"
            folder.mkdir()
            target = write_case(folder, name, content)
            pack = folder / "pack"
            shutil.copytree(ROOT / "policies", pack, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
            is_yaml_text = target.suffix == ".yml" and isinstance(content, str)
            (pack / "bomb.yaml").write_text(str(content) if is_yaml_text else "kind: AuditRules\n")
            size = f"{target.stat().st_size / 1e6:.1f} MB" if content is not FIFO else "FIFO"
            for label, cmd in (("audit", [*AMLGUARD, "audit", str(target), "--format", "json"]),
                               ("policy validate", [*AMLGUARD, "policy", "validate", str(pack)])):
                if label == "policy validate" and not is_yaml_text:
                    continue
                wall, mb, rc, line = measured(cmd, folder)
                ok = (wall < GOAL_S and mb < GOAL_MB and rc in (0, 1, 2)) or name in LARGE
                failures += not ok
                print(f"{name:36} {label:16} {wall:7.2f} {mb:8.1f} {rc:>4}  {line}{'' if ok else '  <-- over goal'}")
            if is_yaml_text and "nested" not in name and len(str(content)) < 100_000:
                print(f"{'':36} {'PyYAML safe_load':16} {pyyaml_reference(str(content), folder)}")
            if name in LARGE:
                print(f"{'':36} {'(input size)':16} {size}")
        print(f"bombs over goal: {failures}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
