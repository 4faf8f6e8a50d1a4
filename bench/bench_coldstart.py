"""Cold start: `import function_app` against `import azure.ai.ml` in the same venv.

Each import runs in a fresh interpreter; runs alternate so that machine load affects both
alike. Goal (service issue): function_app at most 0.35x of azure.ai.ml, median of N runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    runs = 3 if "--quick" in sys.argv else 9
    baseline = one("pass")  # warm the page cache and measure interpreter start
    ours, theirs, empty = [], [], []
    for _ in range(runs):
        ours.append(one("import function_app"))
        theirs.append(one("import azure.ai.ml"))
        empty.append(one("pass"))
    m_ours, m_theirs, m_empty = statistics.median(ours), statistics.median(theirs), statistics.median(empty)
    print(f"runs: {runs} (first empty interpreter {baseline:.3f}s)")
    print(f"{'what':32} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in (("python -c pass", empty), ("import function_app", ours), ("import azure.ai.ml", theirs)):
        print(f"{name:32} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")
    ratio = m_ours / m_theirs
    net = (m_ours - m_empty) / max(m_theirs - m_empty, 1e-9)
    print(f"ratio function_app / azure.ai.ml (whole process): {ratio:.2f}x  (goal <= 0.35x)")
    print(f"ratio excluding interpreter start: {net:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
