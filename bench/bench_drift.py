"""`amlguard drift` against Evidently's DataDriftPreset: 500,000 vs 500,000 rows x 20 numerical features.

Both run as whole processes on the same Parquet files (wall time, peak RSS of the child via
wait4). amlguard computes all four numerical metrics (JS, PSI, normalized Wasserstein, KS
p-value); every value is then checked against the plain scipy reference
(tests/monitor/drift_reference.py) on the same data, within 1e-9. Goal: >= 20x faster.

Evidently 0.7.23 needs pandas < 3, so it runs in a separate venv, .bench-venv, created here if
missing. `--quick` uses 100,000 rows and one run each; `--runs N` sets the number of timed runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
BENCH_VENV = ROOT / ".bench-venv"
EVIDENTLY = "evidently==0.7.23"
FEATURES = 20
GOAL = 20.0
TOL = 1e-9


def ensure_bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    check = [str(python), "-c", "import evidently, pandas, pyarrow; assert evidently.__version__ == '0.7.23'"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating {BENCH_VENV} with {EVIDENTLY} (one time)...", flush=True)
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    subprocess.run([*pip, EVIDENTLY, "pandas<3", "pyarrow"], check=True)
    return python


def make_data(rows: int) -> tuple[Path, Path]:
    """Seeded data: 10 stable features, 5 mean shifts, 5 scale changes, NaNs in two columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    base_path, cur_path = DATA / f"drift_baseline_{rows}.parquet", DATA / f"drift_current_{rows}.parquet"
    if base_path.exists() and cur_path.exists():
        return base_path, cur_path
    rng = np.random.default_rng(20261126)
    shifts = [0.0] * 10 + [0.005, 0.02, 0.05, 0.1, 0.3] + [0.0] * 5
    scales = [1.0] * 15 + [1.01, 1.05, 1.1, 1.3, 2.0]
    base: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for i in range(FEATURES):
        loc, scale = rng.uniform(-50, 50), rng.uniform(0.5, 20)
        base[f"f{i:02d}"] = rng.normal(loc, scale, rows)
        cur[f"f{i:02d}"] = rng.normal(loc + shifts[i] * scale, scale * scales[i], rows)
    for name in ("f03", "f12"):  # some missing values, dropped per feature by both tools
        base[name][rng.random(rows) < 0.01] = np.nan
        cur[name][rng.random(rows) < 0.02] = np.nan
    pq.write_table(pa.table(base), base_path)
    pq.write_table(pa.table(cur), cur_path)
    return base_path, cur_path


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS (MiB) of one whole child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def verify(report_path: Path, base_path: Path, cur_path: Path) -> tuple[int, float]:
    """Compare every amlguard value with the scipy reference; returns (values checked, worst abs diff)."""
    import pyarrow.parquet as pq

    spec = importlib.util.spec_from_file_location("drift_reference", ROOT / "tests/monitor/drift_reference.py")
    assert spec and spec.loader
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    report = json.loads(report_path.read_text())
    base, cur = pq.read_table(base_path), pq.read_table(cur_path)
    checked, worst = 0, 0.0
    for feature in report["features"]:
        name = feature["name"]
        want = reference.reference_numerical(base.column(name).to_numpy(zero_copy_only=False),
                                             cur.column(name).to_numpy(zero_copy_only=False))
        for metric, expected in want.items():
            got = feature["metrics"][metric]
            diff = abs(got - expected)
            worst = max(worst, diff)
            if not diff <= TOL * max(1.0, abs(expected)):
                raise SystemExit(f"MISMATCH {name}.{metric}: amlguard {got!r} vs scipy {expected!r}")
            checked += 1
    return checked, worst


def threads_effect(base_path: Path, cur_path: Path) -> tuple[float, float]:
    """In-process compute time with one worker vs two (files already read)."""
    sys.path.insert(0, str(ROOT))
    from amlguard.monitor.drift import compute_drift, read_table

    base, cur = read_table(base_path), read_table(cur_path)
    compute_drift(base, cur, workers=2)  # warm imports
    out = []
    for workers in (1, 2):
        started = time.perf_counter()
        compute_drift(base, cur, workers=workers)
        out.append(time.perf_counter() - started)
    return out[0], out[1]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rows = 100_000 if quick else 500_000
    runs = 1 if quick else 3
    if "--runs" in argv:
        runs = int(argv[argv.index("--runs") + 1])
    evidently_python = ensure_bench_venv()
    load = os.getloadavg()
    base_path, cur_path = make_data(rows)
    report_path = DATA / f"amlguard_drift_{rows}.json"
    ours_cmd = [sys.executable, "-m", "amlguard.monitor.drift.cli", "--baseline", str(base_path),
                "--current", str(cur_path), "--format", "json", "--output", str(report_path)]
    theirs_cmd = [str(evidently_python), str(ROOT / "bench/drift_evidently.py"), str(base_path), str(cur_path),
                  str(DATA / f"evidently_drift_{rows}.json")]
    env = {**os.environ, "EVIDENTLY_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    timed(ours_cmd)  # warm the page cache for both tools' files and imports
    timed(theirs_cmd, env)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed(ours_cmd))
        theirs.append(timed(theirs_cmd, env))
    ours_wall = statistics.median(w for w, _, _ in ours)
    theirs_wall = statistics.median(w for w, _, _ in theirs)
    ours_cpu = statistics.median(c for _, c, _ in ours)
    theirs_cpu = statistics.median(c for _, c, _ in theirs)
    ours_rss = max(r for _, _, r in ours)
    theirs_rss = max(r for _, _, r in theirs)
    checked, worst = verify(report_path, base_path, cur_path)
    one, two = threads_effect(base_path, cur_path)
    ratio = theirs_wall / ours_wall
    print(f"drift: {rows:,} vs {rows:,} rows x {FEATURES} numerical features (Parquet), whole process, "
          f"median of {runs} run(s), {os.cpu_count()} CPU(s)")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other processes share the CPUs)")
    print(f"{'tool':44} {'wall s':>8} {'CPU s':>7} {'peak RSS MiB':>13}")
    print(f"{'amlguard drift (JS, PSI, norm. W1, KS p)':44} {ours_wall:8.2f} {ours_cpu:7.2f} {ours_rss:13.0f}")
    print(f"{'evidently 0.7.23 DataDriftPreset':44} {theirs_wall:8.2f} {theirs_cpu:7.2f} {theirs_rss:13.0f}")
    print(f"speed-up (wall): {ratio:.1f}x (goal >= {GOAL:.0f}x: {'met' if ratio >= GOAL else 'NOT met'}); "
          f"CPU time: {theirs_cpu / ours_cpu:.1f}x less; memory: {theirs_rss / ours_rss:.1f}x less")
    print("runs (wall s): amlguard " + ", ".join(f"{w:.2f}" for w, _, _ in ours)
          + "; evidently " + ", ".join(f"{w:.2f}" for w, _, _ in theirs))
    print(f"values checked against the scipy reference: {checked}, worst abs difference {worst:.1e} "
          f"(tolerance {TOL:g})")
    print(f"compute only, in process: 1 worker {one:.2f}s, 2 workers {two:.2f}s ({one / two:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
