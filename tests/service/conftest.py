"""A real service over a copy of the example workspace, a temporary SQLite state, a fake clock."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amlguard.config import Settings
from amlguard.service import Service

WS = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod/providers/Microsoft.MachineLearningServices/workspaces/mlw-prod"
GREEN = f"{WS}/onlineEndpoints/fraud-scoring/deployments/green"
BLUE = f"{WS}/onlineEndpoints/fraud-scoring/deployments/blue"
FRAUD = f"{WS}/onlineEndpoints/fraud-scoring"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def workspace(tmp_path: Path, repo_root: Path) -> Path:
    target = tmp_path / "workspace"
    shutil.copytree(repo_root / "examples" / "workspace", target)
    return target


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_service(workspace: Path, state: Path, clock: Clock) -> Service:
    settings = dataclasses.replace(Settings.from_env({}), snapshot=(str(workspace),), state_dir=state)
    return Service.from_settings(settings, clock=clock)


@pytest.fixture
def service(workspace: Path, tmp_path: Path, clock: Clock) -> Iterator[Service]:
    svc = make_service(workspace, tmp_path / "state", clock)
    yield svc
    svc.close()
