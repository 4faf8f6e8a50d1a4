"""Property-based API testing from the OpenAPI document: no input may produce a 5xx."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from amlguard.api.app import create_app
from amlguard.config import Settings
from tests.api.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    shutil.copytree(ROOT / "examples" / "workspace", tmp / "workspace")
    app_settings = dataclasses.replace(Settings.from_env({}), snapshot=(str(tmp / "workspace"),),
                                       state_dir=tmp / "state", api_token=TOKEN)
    app = create_app(app_settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": f"Bearer {TOKEN}"})
    app.state.get_service().close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    from schemathesis.checks import not_a_server_error

    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error])
