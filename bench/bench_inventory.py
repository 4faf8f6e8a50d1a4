"""Benchmark: the file inventory on N generated endpoint / deployment files vs plain PyYAML.

Target (brief): `load_paths` over 5,000 files takes at most 2.0x a plain loop of
`yaml.load(text, CSafeLoader)` over the same files (reading them included), in one process.
Run: `.venv/bin/python bench/bench_inventory.py [--files 5000] [--repeat 3] [--quick]` (exit 1
when the CPU-time ratio is above 2.0); bench/run_all.py runs it. `amlguard audit` as a whole
process is bench_audit.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from amlguard.inventory import load_paths

ENDPOINT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: endpoint-{i}
description: generated endpoint {i} for the inventory benchmark
auth_mode: {auth}
public_network_access: {pna}
identity:
  type: system_assigned
traffic:
  blue: 90
  green: 10
tags:
  owner: team-{team}
  cost_center: "{i}"
"""

DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: endpoint-{i}
model: azureml:model-{i}:1
code_configuration:
  code: ../src
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
  conda_file: ../env/conda.yml
  inference_config:
    liveness_route: {{port: 5001, path: /health}}
    readiness_route: {{port: 5001, path: /ready}}
    scoring_route: {{port: 5001, path: /score}}
instance_type: Standard_DS3_v2
instance_count: 3
egress_public_network_access: {pna}
app_insights_enabled: true
request_settings:
  request_timeout_ms: 5000
  max_concurrent_requests_per_instance: 1
liveness_probe:
  initial_delay: 10
  period: 10
  timeout: 2
  success_threshold: 1
  failure_threshold: 30
data_collector:
  collections:
    model_inputs:
      enabled: 'true'
    model_outputs:
      enabled: 'true'
tags:
  owner: team-{team}
"""

BATCH = """$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: classifier-{i}
endpoint_name: batch-{i}
type: model
model: azureml:model-{i}@latest
compute: azureml:batch-cluster
resources:
  instance_count: 2
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 10
  output_action: append_row
  output_file_name: predictions.csv
  retry_settings:
    max_retries: 3
    timeout: 300
  error_threshold: -1
  logging_level: info
"""


def generate(folder: Path, count: int) -> list[Path]:
    files = []
    templates = (ENDPOINT, DEPLOYMENT, BATCH)
    for i in range(count):
        sub = folder / f"team{i % 50:02d}" / f"ep{i}"
        sub.mkdir(parents=True, exist_ok=True)
        kind = i % 3
        path = sub / ("endpoint.yml", "deployment.yml", "batch-deployment.yml")[kind]
        path.write_text(templates[kind].format(i=i, team=i % 50, auth=("key", "aad_token")[i % 2],
                                               pna=("enabled", "disabled")[i % 2]), encoding="utf-8")
        files.append(path)
    return sorted(files)


def plain_yaml(files: list[Path]) -> tuple[float, float]:
    """(wall, CPU) seconds of the baseline: read each file, yaml.load it with CSafeLoader."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in files:
        with open(path, encoding="utf-8") as fh:
            yaml.load(fh.read(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - wall, time.process_time() - cpu


def inventory(folder: Path, expected: int) -> tuple[float, float]:
    """(wall, CPU) seconds of load_paths on the folder (walk, read, parse, normalise, ids)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = load_paths([folder])
    elapsed = time.perf_counter() - wall, time.process_time() - cpu
    assert len(result.resources) == expected and not result.diagnostics, (len(result.resources),
                                                                          result.diagnostics[:3])
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 files (what run_all.py --quick asks for)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files = min(args.files, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = generate(folder, args.files)
        plain_yaml(files)  # warm the page cache for both contenders
        plains, ours = [], []
        for _ in range(args.repeat):  # interleaved, so a noisy neighbour hits both alike
            plains.append(plain_yaml(files))
            ours.append(inventory(folder, len(files)))
    n = len(files)
    print(f"files                                  {n:>8}")
    for label, index in (("wall", 0), ("CPU", 1)):
        plain = min(p[index] for p in plains)
        mine = min(o[index] for o in ours)
        print(f"{label:>4}  yaml.load(CSafeLoader) loop     {plain:>8.3f} s  ({plain / n * 1e6:.0f} us/file)")
        print(f"{label:>4}  load_paths (walk+parse+normal)  {mine:>8.3f} s  ({mine / n * 1e6:.0f} us/file)")
        print(f"{label:>4}  ratio                           {mine / plain:>8.2f}x  (target <= 2.00x)")
    ratio = min(o[1] for o in ours) / min(p[1] for p in plains)
    print(f"pid={os.getpid()} repeat={args.repeat} (best of each)")
    return 0 if ratio <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
