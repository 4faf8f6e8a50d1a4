"""`amlguard drift` (amlguard.monitor.drift.run): output shape, exit codes, error messages, golden example."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amlguard.monitor.drift import run

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
EXAMPLES = REPO / "examples" / "drift"
GOLDEN = Path(__file__).resolve().parent / "golden" / "drift_examples.json"
QUALITY = {"null_value_rate", "data_type_error_rate", "out_of_bounds_rate"}
METRICS = {
    "numerical": {"jensen_shannon_distance", "population_stability_index", "normalized_wasserstein_distance",
                  "two_sample_kolmogorov_smirnov_test"} | QUALITY,
    "categorical": {"jensen_shannon_distance", "population_stability_index", "pearsons_chi_squared_test"} | QUALITY,
}


def _files(tmp_path: Path, shift: float = 0.0, fmt: str = "parquet") -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    tables = []
    for n, s in ((3000, 0.0), (2000, shift)):
        tables.append(pa.table({"num": rng.normal(s, 1, n), "cat": rng.choice(["a", "b", "c"], n),
                                "other": rng.normal(size=n)}))
    paths = []
    for name, table in zip(("base", "cur"), tables, strict=True):
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, path)
        paths.append(path)
    return paths[0], paths[1]


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = run([*argv, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    base, cur = _files(tmp_path, fmt=fmt)
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur))
    assert code == 0
    assert [f["name"] for f in doc["features"]] == ["num", "cat", "other"]
    for f in doc["features"]:
        assert set(f) >= {"name", "type", "metrics", "drifted", "thresholds", "breaches",
                          "baseline_count", "current_count", "histogram"}
        assert set(f["metrics"]) == METRICS[f["type"]]
        assert isinstance(f["drifted"], bool)
    assert doc["features"][1]["type"] == "categorical"
    assert doc["drifted"] is False and doc["summary"] == {"features": 3, "drifted": 0, "drifted_features": [],
                                                           "not_compared": []}


def test_fail_on_drift_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path, shift=1.0)
    assert _run_json(capsys, "--baseline", str(base), "--current", str(cur))[0] == 0
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur), "--fail-on-drift")
    assert code == 1
    assert doc["summary"]["drifted_features"] == ["num"]
    same = tmp_path / "same"
    same.mkdir()
    base2, cur2 = _files(same)
    assert _run_json(capsys, "--baseline", str(base2), "--current", str(cur2), "--fail-on-drift")[0] == 0


def test_a_feature_with_nothing_to_compare_is_not_counted_as_no_drift(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A current column that is empty, or of another type than the baseline's, has no drift metrics:
    it is listed as not compared, fails --fail-on-drift, and when no feature is left the run is an
    error (exit 2), never "0 of N drifted"."""
    rows = [(i, f"r{i % 3}") for i in range(40)]
    (tmp_path / "base.csv").write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in rows))
    (tmp_path / "text.csv").write_text("x,y\n" + "".join(f"word,{b}\n" for _, b in rows))  # x: text, not numbers
    (tmp_path / "empty.csv").write_text("x,y\n" + "".join(",\n" for _ in rows))
    argv = ["--baseline", str(tmp_path / "base.csv"), "--current"]
    code, doc = _run_json(capsys, *argv, str(tmp_path / "text.csv"))
    assert code == 0 and doc["summary"]["not_compared"] == ["x"] and doc["summary"]["drifted"] == 0
    assert run([*argv, str(tmp_path / "text.csv"), "--fail-on-drift"]) == 1
    assert "x could not be compared (no values on one side); exit 1" in capsys.readouterr().err
    assert run([*argv, str(tmp_path / "text.csv")]) == 0
    table = capsys.readouterr().out
    assert "0 of 1 feature(s) drifted" in table and "not compared (no values on one side): x" in table
    assert run([*argv, str(tmp_path / "empty.csv"), "--fail-on-drift"]) == 2
    assert "no feature could be compared: x, y have no values in" in capsys.readouterr().err


def test_collector_filters_on_a_file_are_refused_not_ignored(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path)
    assert run(["--baseline", str(base), "--current", str(cur), "--start", "2099-01-01T00:00:00Z",
                "--endpoint", "nope"]) == 2
    assert f"--endpoint, --start select rows of a model data collector folder, but --current {cur} is a file" in (
        capsys.readouterr().err)


def test_features_categorical_and_threshold_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path)
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur), "--features", "num,cat",
                          "--categorical", "num", "--threshold", "cat.chi_squared_test=0.5",
                          "--threshold", "jensen_shannon_distance=off")
    assert code == 0
    assert [(f["name"], f["type"]) for f in doc["features"]] == [("num", "categorical"), ("cat", "categorical")]
    assert doc["features"][0]["thresholds"] == {}
    assert doc["features"][1]["thresholds"] == {"pearsons_chi_squared_test": 0.5}


def test_ks_threshold_breaches_below(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path, shift=0.08)
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur), "--features", "num",
                          "--threshold", "num.two_sample_kolmogorov_smirnov_test=0.05",
                          "--threshold", "num.wasserstein=off", "--fail-on-drift")
    f = doc["features"][0]
    assert f["thresholds"] == {"two_sample_kolmogorov_smirnov_test": 0.05}
    assert f["metrics"]["two_sample_kolmogorov_smirnov_test"] < 0.05
    assert f["breaches"] == ["two_sample_kolmogorov_smirnov_test"] and code == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--current", "{cur}"], "the following arguments are required: --baseline"),
    (["--baseline", "{dir}/missing.csv", "--current", "{cur}"], "--baseline {dir}/missing.csv: file not found"),
    (["--baseline", "{base}", "--current", "{dir}/gone.parquet"], "--current {dir}/gone.parquet: file or folder"),
    (["--baseline", "{dir}/junk.parquet", "--current", "{cur}"], "{dir}/junk.parquet: cannot read as parquet"),
    (["--baseline", "{base}", "--current", "{cur}", "--features", "num,nope"], "feature(s) nope not in the baseline"),
    (["--baseline", "{base}", "--current", "{cur}", "--threshold", "num.bogus=1"], "unknown drift metric 'bogus'"),
    (["--baseline", "{base}", "--current", "{cur}", "--threshold", "num.psi=abc"], "'abc' is not a number"),
    (["--baseline", "{base}", "--current", "{cur}", "--threshold", "typo.psi=0.2"], "unknown feature(s) typo"),
    (["--baseline", "{base}", "--current", "{cur}", "--threshold", "cat.ks=0.05"], "'cat' is categorical"),
    (["--baseline", "{base}", "--current", "{dir}"], "no model data collector rows found"),
])
def test_usage_and_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       argv: list[str], message: str) -> None:
    base, cur = _files(tmp_path)
    (tmp_path / "junk.parquet").write_bytes(b"garbage")
    values = {"base": str(base), "cur": str(cur), "dir": str(tmp_path)}
    code = run([a.format(**values) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message.format(**values) in err
    assert "Traceback" not in err


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path, shift=1.0)
    assert run(["--baseline", str(base), "--current", str(cur)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["feature", "type", "baseline", "current", "js", "psi",
                                           "wasserstein", "ks_p", "chi2_p", "null", "type_err", "oob", "drifted"]
    assert "1 of 3 feature(s) drifted: num" in out


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path)
    target = tmp_path / "report.json"
    assert run(["--baseline", str(base), "--current", str(cur), "--format", "json", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["features"]


def _assert_same(got: Any, want: Any, where: str = "$") -> None:
    if isinstance(want, float) and isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key in want:
            _assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


@pytest.mark.parametrize("current", ["current.csv", "mdc"])
def test_examples_match_golden(capsys: pytest.CaptureFixture[str], current: str) -> None:
    if not (EXAMPLES / "baseline.csv").exists():
        pytest.skip("examples/drift not present")
    argv = ["--baseline", str(EXAMPLES / "baseline.csv"), "--current", str(EXAMPLES / current)]
    code, doc = _run_json(capsys, *argv)
    assert code == 0
    if os.environ.get("AMLGUARD_UPDATE_GOLDEN") and current == "current.csv":
        GOLDEN.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    _assert_same(doc, json.loads(GOLDEN.read_text(encoding="utf-8")))
    assert doc["summary"]["drifted_features"] == ["age", "income", "region"]


def test_golden_metrics_equal_independent_reference() -> None:
    """The golden values themselves come out of the plain scipy reference on the CSVs read with `csv`."""
    import csv

    from .drift_reference import reference_categorical, reference_numerical

    if not (EXAMPLES / "baseline.csv").exists():
        pytest.skip("examples/drift not present")

    def load(name: str) -> dict[str, list[str]]:
        with (EXAMPLES / name).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return {k: [r[k] for r in rows] for k in rows[0]}

    base, cur = load("baseline.csv"), load("current.csv")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for feature in golden["features"]:
        b, c = base[feature["name"]], cur[feature["name"]]
        if feature["type"] == "numerical":
            want = reference_numerical([float(v) if v else np.nan for v in b], [float(v) if v else np.nan for v in c])
        else:
            want = reference_categorical(b, c)
        for metric, value in want.items():
            assert feature["metrics"][metric] == pytest.approx(value, rel=1e-9, abs=1e-9), (feature["name"], metric)


def test_import_is_cheap_and_pandas_is_never_loaded() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import amlguard.monitor.drift as d\n"
        "assert not {'numpy', 'pyarrow', 'scipy'} & set(sys.modules), sorted(sys.modules)\n"
        "rc = d.run(['--baseline', sys.argv[1], '--current', sys.argv[2], '--format', 'json'])\n"
        "assert rc == 0 and 'pandas' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "baseline.csv"), str(EXAMPLES / "current.csv")],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_exclude_leaves_a_label_out_of_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = _files(tmp_path)
    table = pq.read_table(base)
    pq.write_table(table.append_column("label", pa.array([0, 1] * (len(table) // 2))), base)  # training data
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur))
    assert doc["skipped"] == [{"name": "label", "reason": "not in current"}]
    code, doc = _run_json(capsys, "--baseline", str(base), "--current", str(cur), "--exclude", "label,other")
    assert code == 0 and [f["name"] for f in doc["features"]] == ["num", "cat"]
    assert doc["skipped"] == []  # asked out, not missing
