"""The Function App indexes the functions and bindings the deployment relies on."""

from __future__ import annotations

import subprocess
import sys

import azure.functions as func

import function_app


def indexed() -> list:
    """The registered functions. The worker indexes once and get_functions() refuses a second call on
    one app, so the list is kept on the module every test shares (function_app, imported once)."""
    if not hasattr(function_app, "_indexed_for_tests"):
        function_app._indexed_for_tests = function_app.app.get_functions()  # type: ignore[attr-defined]
    return function_app._indexed_for_tests  # type: ignore[attr-defined,no-any-return]


FUNCTIONS = indexed()


def bindings() -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for function in FUNCTIONS:
        out[function.get_function_name()] = {b["name"]: b for b in function.get_bindings_dict()["bindings"]}
    return out


def test_every_trigger_is_registered_under_the_names_infra_uses() -> None:
    assert set(bindings()) == {"http_app_func", "on_resource_event", "sweep_timer", "audit_workspace",
                               "monitor_timer", "alerts_timer", "alerts_wake", "health"}


def test_schedules_and_queues_come_from_app_settings() -> None:
    b = bindings()
    assert b["sweep_timer"]["timer"]["schedule"] == "%AMLGUARD_SWEEP_SCHEDULE%"
    assert b["monitor_timer"]["timer"]["schedule"] == "%AMLGUARD_MONITOR_SCHEDULE%"
    assert b["alerts_timer"]["timer"]["schedule"] == "%AMLGUARD_ALERTS_SCHEDULE%"
    assert b["sweep_timer"]["out"]["queueName"] == "%AMLGUARD_QUEUE_NAME%"
    assert b["audit_workspace"]["msg"]["type"] == "queueTrigger"
    assert b["audit_workspace"]["msg"]["queueName"] == "%AMLGUARD_QUEUE_NAME%"
    assert b["audit_workspace"]["poison"]["queueName"] == "%AMLGUARD_QUEUE_NAME%-poison"
    assert b["alerts_wake"]["msg"]["type"] == "queueTrigger"
    assert b["alerts_wake"]["msg"]["queueName"] == "%AMLGUARD_WAKE_QUEUE_NAME%"


def test_only_health_is_anonymous() -> None:
    b = bindings()
    assert b["health"]["req"]["authLevel"] == func.AuthLevel.ANONYMOUS
    assert b["http_app_func"]["req"]["authLevel"] == func.AuthLevel.FUNCTION


def test_health_function_answers_without_io() -> None:
    health = next(f for f in FUNCTIONS if f.get_function_name() == "health")
    response = health.get_user_function()(func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 200
    assert b'"status": "ok"' in response.get_body()


def test_indexing_does_not_import_heavy_sdks() -> None:
    code = ("import sys, function_app; heavy = [m for m in ('azure.ai.ml', 'scipy', 'pandas', 'fastapi', "
            "'numpy', 'azure.mgmt.resourcegraph') if m in sys.modules]; print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
