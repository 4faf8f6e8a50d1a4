"""Evidently's DataDriftPreset on two Parquet files, as one whole process (runs in .bench-venv).

Usage: .bench-venv/bin/python bench/drift_evidently.py BASELINE.parquet CURRENT.parquet [OUT.json]
Reads both files with pandas, runs Report([DataDriftPreset()]) and writes the snapshot's dict,
so the report is fully computed, as a user of Evidently would run it.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def main(argv: list[str]) -> int:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(argv[0])
    current = pd.read_parquet(argv[1])
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    text = json.dumps(snapshot.dict(), default=str)
    if len(argv) > 2:
        with open(argv[2], "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
