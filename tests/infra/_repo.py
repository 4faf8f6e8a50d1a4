"""Paths the infrastructure tests share: the repository root (the folder holding pyproject.toml)."""

from __future__ import annotations

from pathlib import Path


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise RuntimeError(f"no pyproject.toml above {here}")


REPO = _repo_root()
INFRA = REPO / "infra"
