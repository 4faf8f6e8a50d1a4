"""`amlguard silence ...` / `amlguard alerts ...` through `amlguard.alerts.cli.run`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amlguard.alerts import AlertManager, open_store
from amlguard.alerts.cli import run, run_alerts

from .fakes import finding


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_silence_add_list_edit_expire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path)
    # shared/cli.py hands `run` what follows `amlguard silence`
    assert run(["add", 'rule="AMLG-NET-001"', 'workspace=~"prod-.*"', "--expires", "2h",
                "--by", "ana", "--comment", "planned network change", "--state", state]) == 0
    sid = capsys.readouterr().out.strip()
    assert run(["list", "--state", state, "--format", "json"]) == 0
    [row] = _json(capsys)  # type: ignore[misc]
    assert (row["id"], row["status"], row["created_by"]) == (sid, "active", "ana")
    assert row["matchers"] == ['rule="AMLG-NET-001"', 'workspace=~"prod-.*"']
    assert run(["edit", sid, "--expires", "4h", "--by", "bo", "--state", state]) == 0
    edited = _json(capsys)
    assert edited["replaces"] == sid  # type: ignore[index]
    assert run(["expire", edited["id"], "--state", state]) == 0  # type: ignore[index]
    capsys.readouterr()
    assert run(["expire", edited["id"], "--state", state]) == 0  # type: ignore[index]
    assert "expired" in capsys.readouterr().out  # idempotent: expiring again is fine
    assert run(["list", "--state", state]) == 0
    header = "ID  STATUS  MATCHERS  STARTS_AT  ENDS_AT  CREATED_BY  COMMENT"
    assert capsys.readouterr().out.strip().splitlines() == [header]  # expired ones are hidden
    assert run(["list", "--all", "--state", state, "--format", "json"]) == 0
    assert sorted(r["status"] for r in _json(capsys)) == ["expired", "expired"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("argv", "message"), [
    (["silence", "add", 'rule="X"', "--expires", "soon", "--comment", "c", "--by", "a"], "neither a duration"),
    (["silence", "add", 'rule=~".*"', "--expires", "1h", "--comment", "c", "--by", "a"], "silence everything"),
    (["silence", "expire", "nope"], "no silence with id"),
    (["alerts", "ack", "nope", "--by", "a"], "no alert with fingerprint 'nope'; `amlguard alerts list`"),
    (["alerts", "show", "nope"], "no alert with fingerprint"),
])
def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                      message: str) -> None:
    assert run([*argv, "--state", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_alerts_list_ack_show_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(tmp_path) as store:
        AlertManager(store).process([finding()], now=datetime.now(UTC))
    assert run_alerts(["list", "--state", str(tmp_path), "--format", "json"]) == 0
    [alert] = _json(capsys)  # type: ignore[misc]
    assert run_alerts(["ack", alert["fingerprint"], "--by", "oncall", "--comment", "on it",
                       "--state", str(tmp_path)]) == 0
    assert "oncall" in capsys.readouterr().out
    assert run_alerts(["show", alert["fingerprint"], "--state", str(tmp_path)]) == 0
    shown = _json(capsys)
    assert [h.get("event") for h in shown["history"]] == ["transition", "acknowledged"]  # type: ignore[index]
    assert run_alerts(["list", "--state", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FINGERPRINT") and "firing" in out and "acknowledged" in out
    assert run_alerts(["close", alert["fingerprint"], "--by", "lead", "--state", str(tmp_path)]) == 0
    assert "closed" in capsys.readouterr().out
    assert run_alerts(["log", "--state", str(tmp_path), "--format", "json"]) == 0
    assert _json(capsys) == []


def test_amlguard_alerts_is_a_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from amlguard.cli import main

    with open_store(tmp_path) as store:
        AlertManager(store).process([finding()], now=datetime.now(UTC))
    assert main(["alerts", "list", "--format", "json"], env={"AMLGUARD_STATE_DIR": str(tmp_path)}) == 0
    [alert] = _json(capsys)  # type: ignore[misc]
    assert alert["status"] == "firing"
