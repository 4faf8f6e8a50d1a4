"""`amlguard audit` of generated estates of endpoint and deployment files, whole process, against
the floor of merely parsing the same files with PyYAML's C loader in one process.

Two estates, each measured against its own floor in the same run:
- `medium`: 5,000 files of 10-30 lines (the foundation benchmark); goal at most 2.0x the floor.
- `small`: 5,000 files of 5-15 lines, the usual size of an endpoint or deployment YAML; here
  start-up and per-file costs dominate, not parsing. Goal at most 1.5x the floor.

Both sides run as fresh processes, interleaved, median of N runs. The audit runs twice per round:
as CI runs it (`--format json --output FILE`, rendering included) and as people run it (the default
table, on stdout, not a terminal); the goal is on both. amlguard's modules are byte-compiled first,
as a wheel install does (an editable install's import finder still adds ~10 ms that a wheel does
not have), and each audit after the warm-up finds the pack's schema check remembered in the user
cache, as every run but a user's first does.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"

FLOOR = """
import sys, os, yaml
loader = yaml.CSafeLoader
count = 0
for folder, _, files in os.walk(sys.argv[1]):
    for name in files:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            for doc in yaml.load_all(handle.read(), Loader=loader):
                count += 1
print(count)
"""

ENDPOINT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: {name}
description: Generated endpoint {i}
auth_mode: {auth}
public_network_access: {pna}
identity:
  type: system_assigned
tags:
  owner: team-{team}
  cost_center: "{cc}"
"""

DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: {name}
model: azureml:model-{i}:3
code_configuration:
  code: ./src
  scoring_script: score.py
environment:
  image: {image}
  inference_config:
    liveness_route: {{port: {port}, path: /health}}
    readiness_route: {{port: {port}, path: /ready}}
    scoring_route: {{port: {port}, path: /score}}
instance_type: Standard_DS3_v2
instance_count: {count}
egress_public_network_access: {egress}
app_insights_enabled: {ai}
request_settings:
  request_timeout_ms: 5000
  max_concurrent_requests_per_instance: 2
liveness_probe: {{initial_delay: 10, period: 10, timeout: 2, failure_threshold: 30}}
readiness_probe: {{initial_delay: 10, period: 10, timeout: 2, failure_threshold: 30}}
data_collector:
  collections:
    model_inputs: {{enabled: 'true'}}
    model_outputs: {{enabled: '{dc}'}}
tags:
  owner: team-{team}
"""

_IMAGES = ["mcr.microsoft.com/azureml/minimal-py312-inference:20240919", "docker.io/acme/scorer:latest"]


def _medium(target: Path, files: int, rng: random.Random) -> None:
    for i in range(files // 2):
        folder = target / f"ep-{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"ep-{i:05d}"
        (folder / "endpoint.yml").write_text(ENDPOINT.format(
            name=name, i=i, auth=rng.choice(["key", "aad_token", "aml_token"]),
            pna=rng.choice(["enabled", "disabled"]), team=i % 17, cc=1000 + i % 13))
        (folder / "blue.yml").write_text(DEPLOYMENT.format(
            name=name, i=i, image=rng.choice(_IMAGES),
            port=rng.choice([80, 5001, 8080]), count=rng.choice([1, 3]), egress=rng.choice(["enabled", "disabled"]),
            ai=rng.choice(["true", "false"]), dc=rng.choice(["true", "false"]), team=i % 17))


def _small_endpoint(name: str, i: int, rng: random.Random) -> str:
    """5-9 lines: what `az ml online-endpoint create -f` is usually given."""
    lines = ["$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
             f"name: {name}", f"auth_mode: {rng.choice(['key', 'aad_token', 'aml_token'])}"]
    optional = [f"description: endpoint {i}", f"public_network_access: {rng.choice(['enabled', 'disabled'])}",
                "tags:\n  owner: team-" + str(i % 17), "identity:\n  type: system_assigned"]
    lines += rng.sample(optional, rng.randint(2, 4))
    return "\n".join(lines) + "\n"


def _small_deployment(name: str, i: int, rng: random.Random) -> str:
    """7-15 lines: model, environment or image, instance type and count, a setting or two."""
    lines = ["$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
             f"name: {rng.choice(['blue', 'green'])}", f"endpoint_name: {name}", f"model: azureml:model-{i}:3",
             "instance_type: Standard_DS3_v2", f"instance_count: {rng.choice([1, 2, 3])}"]
    optional = [f"environment: azureml:env-{i % 7}:1",
                "code_configuration:\n  code: ./src\n  scoring_script: score.py",
                f"egress_public_network_access: {rng.choice(['enabled', 'disabled'])}",
                f"app_insights_enabled: {rng.choice(['true', 'false'])}",
                "request_settings:\n  request_timeout_ms: 5000",
                "tags:\n  owner: team-" + str(i % 17)]
    lines += rng.sample(optional, rng.randint(1, 5))
    return "\n".join(lines) + "\n"


def _small(target: Path, files: int, rng: random.Random) -> None:
    for i in range(files // 2):
        folder = target / f"ep-{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"ep-{i:05d}"
        (folder / "endpoint.yml").write_text(_small_endpoint(name, i, rng))
        (folder / "deployment.yml").write_text(_small_deployment(name, i, rng))


ESTATES: dict[str, tuple[Callable[[Path, int, random.Random], None], float]] = {
    # name -> (generator, goal as audit / floor)
    "medium": (_medium, 2.0),
    "small": (_small, 1.5),
}


def generate(estate: str, files: int) -> Path:
    target = DATA / f"audit-{estate}-{files}"
    if target.is_dir() and sum(1 for _ in target.rglob("*.yml")) == files:
        return target
    ESTATES[estate][0](target, files, random.Random(5))
    return target


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(estate: str, files: int, runs: int) -> bool:
    """Print one estate's table; True when the wall-clock median ratios meet its goal."""
    folder = generate(estate, files)
    out = DATA / f"report-{estate}.json"
    amlguard = [str(ROOT / ".venv" / "bin" / "amlguard"), "audit", str(folder), "--fail-on", "none"]
    commands = {"floor: PyYAML CSafeLoader parse, one process": [sys.executable, "-c", FLOOR, str(folder)],
                "amlguard audit --format json --output F": [*amlguard, "--format", "json", "--output", str(out)],
                "amlguard audit (table on stdout)": amlguard}
    for command in commands.values():  # warm the page cache (and the pack's schema mark)
        timed(command)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    summary = json.loads(out.read_text())["summary"]
    goal = ESTATES[estate][1]
    print(f"\n{estate} estate: {files} files, {runs} runs each (interleaved), report summary: {summary}")
    print(f"{'what':46} {'wall median':>11} {'wall range':>13} {'CPU median':>10}")
    for name, values in times.items():
        walls = [w for w, _ in values]
        print(f"{name:46} {statistics.median(walls):11.3f} {min(walls):6.3f}-{max(walls):.3f} "
              f"{statistics.median(c for _, c in values):10.3f}")
    floor, *audits = times.values()
    met = True
    for name, audit in zip(list(times)[1:], audits, strict=True):
        wall = statistics.median(w for w, _ in audit) / statistics.median(w for w, _ in floor)
        cpu = statistics.median(c for _, c in audit) / statistics.median(c for _, c in floor)
        met = met and wall <= goal
        print(f"ratio {name} / floor: wall {wall:.2f}x, CPU {cpu:.2f}x (goal <= {goal}x wall: "
              f"{'met' if wall <= goal else 'NOT met'})")
    return met


def main() -> int:
    quick = "--quick" in sys.argv
    files = 1000 if quick else 5000
    runs = 3 if quick else 5
    chosen = [a for a in sys.argv[1:] if a in ESTATES] or list(ESTATES)
    # what a wheel install ships: byte-compiled modules (PYTHONDONTWRITEBYTECODE would otherwise
    # make every timed run compile amlguard from source)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "shared")], check=True,
                   stdout=subprocess.DEVNULL)
    for estate in chosen:
        measure(estate, files, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
