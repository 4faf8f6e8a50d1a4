"""Fixtures shared by every test area: repository paths and the real-world corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

# Registered once here: pytest_plugins in a test module makes the plugin's import order depend on
# which tests are collected first (and pytest refuses to rewrite its asserts then).
pytest_plugins = ["tests.standins.fixtures", "tests.azurite"]

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "azureml-examples"
SARIF_SCHEMA = REPO_ROOT.parent / "shared" / "reference" / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real-world Azure ML YAML corpus beside the repository; skips when absent."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present (it lies beside the repository in CI only)")
    return CORPUS
