"""Regenerate the bundled drift example (baseline.csv, current.csv) with a seeded RNG.

The current window shifts income (scaled by 1.3) and age (+6 years) and brings a new region;
credit_score, tenure_months (with empty cells) and channel keep their distribution.
The current window is also written as model data collector JSONL under mdc/ (two hours, records
of 50 rows each), the layout `amlguard drift --current FOLDER` reads.
Run: .venv/bin/python examples/drift/make_data.py
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _rows(rng: np.random.Generator, n: int, current: bool) -> list[dict[str, object]]:
    age = np.clip(rng.normal(44 if current else 38, 11, n), 18, 90).round().astype(int)
    income = rng.lognormal(10.8, 0.45, n) * (1.3 if current else 1.0)
    credit = np.clip(rng.normal(680, 55, n), 300, 850).round().astype(int)
    tenure = rng.gamma(2.0, 18.0, n).round(1)
    regions = ["north", "south", "east", "west", "central"] if current else ["north", "south", "east", "west"]
    weights = [0.25, 0.2, 0.2, 0.15, 0.2] if current else [0.3, 0.25, 0.25, 0.2]
    region = rng.choice(regions, n, p=weights)
    channel = rng.choice(["web", "branch", "phone"], n, p=[0.6, 0.25, 0.15])
    missing = rng.random(n) < 0.05
    return [
        {"age": int(age[i]), "income": f"{income[i]:.2f}", "credit_score": int(credit[i]),
         "tenure_months": "" if missing[i] else f"{tenure[i]:.1f}",
         "region": region[i], "channel": channel[i]}
        for i in range(n)
    ]


def main() -> None:
    for name, seed, n, current in (("baseline.csv", 2024, 400, False), ("current.csv", 2025, 300, True)):
        rows = _rows(np.random.default_rng(seed), n, current)
        with (HERE / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        if current:
            _write_mdc(rows)


def _write_mdc(rows: list[dict[str, object]]) -> None:
    root = HERE / "mdc"
    shutil.rmtree(root, ignore_errors=True)
    source = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ml/providers/"
              "Microsoft.MachineLearningServices/workspaces/ws-prod/onlineEndpoints/credit-ep/deployments/blue")
    for chunk in range(0, len(rows), 50):
        hour = 9 + (chunk >= len(rows) // 2)
        folder = root / "modelDataCollector/credit-ep/blue/model_inputs/2026/11/26" / f"{hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = [{k: (None if v == "" else float(v) if k in ("income", "tenure_months") else v)  # type: ignore[arg-type]
                 for k, v in r.items()} for r in rows[chunk:chunk + 50]]
        record = {"specversion": "1.0", "id": f"00000000-0000-0000-0000-{chunk:012d}", "source": source,
                  "type": "azureml.inference.model_inputs", "datacontenttype": "application/json",
                  "time": f"2026-11-26T{hour:02d}:{chunk % 60:02d}:00Z", "data": data,
                  "correlationid": f"req-{chunk}", "xrequestid": f"req-{chunk}", "modelversion": "default",
                  "collectdatatype": "pandas.core.frame.DataFrame", "agent": "monitoring-sdk/0.1.2"}
        with (folder / "instance-0.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
