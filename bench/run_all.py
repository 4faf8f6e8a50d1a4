"""Run every benchmark in bench/ (bench_*.py) one after another and keep their output.

Each benchmark prints its own table with amlguard and the peer measured in the same run; this
runner saves each output under bench/results/ and stops at nothing: a failing benchmark is
reported and the next one runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Arguments after the command line's (which win: the scripts read an option's first occurrence): sizes
# that keep `make bench` short.
DEFAULTS = {"bench_collector": ["--size", "256MB"]}
# Seconds between two scripts. Straight after a minute of load (bench_alerting) this machine ran
# the two-process audit 15% slower for about half a minute (1.69x the floor against 1.46x after
# this pause), with no process, dirty page or writeback left behind to explain it.
PAUSE_S = 30


def main(argv: list[str]) -> int:
    selected = [a for a in argv if not a.startswith("-")]
    extra = [a for a in argv if a.startswith("-")]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    failed = []
    started_any = False
    for script in sorted(HERE.glob("bench_*.py")):
        if selected and not any(s in script.stem for s in selected):
            continue
        if started_any:
            time.sleep(PAUSE_S)
        started_any = True
        print(f"\n=== {script.name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *extra, *DEFAULTS.get(script.stem, [])], cwd=HERE.parent,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        print(proc.stdout, end="")
        (results / f"{script.stem}.txt").write_text(proc.stdout)
        print(f"--- {script.name}: exit {proc.returncode} in {time.perf_counter() - started:.1f}s", flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
