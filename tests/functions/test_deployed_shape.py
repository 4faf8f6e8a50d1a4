"""The Function App as it is deployed: the content `.funcignore` lets through, built the way the
Functions tooling builds it (`pip install -r requirements.txt --target .python_packages/lib/site-packages`),
then indexed and invoked by a Python that sees only the app root, .python_packages and the standard
library, as the worker does. `amlguard` must come from .python_packages, built by requirements.txt's
`.` line, never from the repository.

The build installs the whole runtime dependency set once per session (`--no-compile`): about 30 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
import pytest

from tests.service.conftest import GREEN, WS

REPO = Path(__file__).resolve().parents[2]
SITE = Path(".python_packages") / "lib" / "site-packages"

pytestmark = pytest.mark.timeout(900)


def deployment_files(root: Path) -> Iterator[Path]:
    """The files under root that `.funcignore` (gitignore syntax) lets into the deployment."""
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text(encoding="utf-8").splitlines())
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if not spec.match_file(f"{(rel / d).as_posix()}/"))
        for name in sorted(files):
            if not spec.match_file((rel / name).as_posix()):
                yield rel / name


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AMLGUARD_", "PYTHON", "APPLICATIONINSIGHTS_", "AZURE_")) and k != "VIRTUAL_ENV"}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Deployed:
    app: Path
    files: frozenset[str]
    version: str  # what the prepackage hook stamped


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The deployment content with its .python_packages; removed after the session (about 430 MB)."""
    app = tmp_path_factory.mktemp("deployed") / "wwwroot"
    files = list(deployment_files(REPO))
    for rel in files:
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, app / rel)
    # azure.yaml's prepackage hook, run in the checkout, writes PKG-INFO into what is packaged
    stamped = subprocess.run([sys.executable, str(REPO / "infra" / "hooks" / "stamp_version.py"), str(REPO)],
                             env=clean_env(), capture_output=True, text=True, check=True)
    shutil.move(REPO / "PKG-INFO", app / "PKG-INFO")
    version = stamped.stdout.rsplit(" as version ", 1)[1].split()[0]
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-compile", "--progress-bar", "off",
                            "-r", "requirements.txt", "--target", str(SITE)],
                           cwd=app, env=clean_env(), capture_output=True, text=True, timeout=800, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-6000:]
    yield Deployed(app, frozenset(p.as_posix() for p in files), version)
    shutil.rmtree(app, ignore_errors=True)


def test_funcignore_keeps_what_the_build_and_the_worker_need(deployed: Deployed) -> None:
    tops = {name.split("/")[0] for name in deployed.files}
    assert tops >= {"host.json", "function_app.py", "requirements.txt", "pyproject.toml", "README.md",
                    "functions", "shared", "policies"}
    assert not tops & {"tests", "docs", "infra", "examples", "bench", "scripts", ".venv", "node_modules", ".git",
                       ".ci", "Makefile", "azure.yaml", "package.json", "package-lock.json", "local.settings.json",
                       "build", ".amlguard"}
    assert "policies/tests/network_test.yaml" in deployed.files  # the pack's policy tests are not /tests
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in deployed.files)


def test_build_installs_amlguard_and_no_generic_top_level_package(deployed: Deployed) -> None:
    site = deployed.app / SITE
    assert (site / "amlguard" / "cli.py").is_file()
    assert (site / "amlguard" / "policies" / "network.yaml").is_file()
    assert (site / "amlguard" / "policies" / "schema" / "amlguard-policy.schema.json").is_file()
    assert (site / "amlguard" / "reports" / "assets" / "report.css").is_file()
    for generic in ("shared", "functions", "tests", "policies"):
        assert not (site / generic).exists()


# Runs in `python -I -S`: no site-packages of any venv, no PYTHONPATH, no current folder; sys.path is
# the app root, .python_packages and the standard library, as the Functions worker has it.
WORKER = r"""
import asyncio, json, sys
from datetime import datetime, timezone

app_root, site, green = sys.argv[1:4]
stdlib = list(sys.path)
sys.path[:0] = [app_root, site]

import function_app
import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from functions import runtime

fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
loop = asyncio.new_event_loop()  # the worker keeps one loop for async functions


class Out:
    value = None

    def set(self, value):
        self.value = value

    def get(self):
        return self.value


def http_app(path, **params):
    response = loop.run_until_complete(
        fns["http_app_func"](func.HttpRequest("GET", "http://localhost" + path, params=params, body=b""), None))
    return response.status_code, response.mimetype, response.get_body().decode()


result = {"functions": sorted(fns)}
health = fns["health"](func.HttpRequest("GET", "/api/health", body=b""))
result["health"] = [health.status_code, json.loads(health.get_body())]

fns["on_resource_event"](func.EventGridEvent(
    id="e1", topic="/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod",
    subject=green, event_type="Microsoft.Resources.ResourceWriteSuccess", event_time=datetime.now(timezone.utc),
    data_version="2", data={"operationName": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/"
                                             "deployments/write", "resourceUri": green}))
result["firing_after_event"] = sorted({a["resource"] for a in runtime.service().alerts.list_alerts(status="firing")})

out = Out()
fns["sweep_timer"](TimerRequest(past_due=False), out)
result["sweep_messages"] = [json.loads(m) for m in out.get()]
poison = Out()
fns["audit_workspace"](QueueMessage(id="m1", body=out.get()[0].encode(), dequeue_count=1), poison)
result["poison"] = poison.get()
fns["alerts_timer"](TimerRequest(past_due=False))
result["firing"] = sorted({a["resource"] for a in runtime.service().alerts.list_alerts(status="firing")})

status, _, body = http_app("/api/alerts", status="firing")
result["api_alerts"] = [status, sorted({a["resource"] for a in json.loads(body)["alerts"]})]
status, mimetype, body = http_app("/api/dashboard")
result["api_dashboard"] = [status, mimetype, len(body)]
loop.run_until_complete(function_app.app.middleware.notify_shutdown())
function_app.app.startup_task_done = False
loop.close()
runtime.reset()

import amlguard, functions
result["from"] = {"amlguard": amlguard.__file__, "functions": functions.__file__, "function_app": function_app.__file__}
result["modules"] = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
result["sys_path"] = sys.path
result["stdlib"] = stdlib
print(json.dumps(result))
"""


@pytest.fixture(scope="session")
def worker_run(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("worker")
    shutil.copytree(REPO / "examples" / "workspace", tmp / "workspace")
    env = clean_env(AMLGUARD_SNAPSHOT=str(tmp / "workspace"), AMLGUARD_STATE_DIR=str(tmp / "state"),
                    AZURE_SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000001")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", WORKER, str(deployed.app), str(deployed.app / SITE),
                             GREEN], cwd=deployed.app, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-6000:]
    assert "Traceback" not in result.stderr, result.stderr[-6000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_sys_path_is_the_app_packages_and_stdlib(deployed: Deployed, worker_run: dict[str, Any]) -> None:
    app, site, stdlib = str(deployed.app), str(deployed.app / SITE), worker_run["stdlib"]
    assert worker_run["sys_path"] == [app, site, *stdlib]
    assert stdlib and all(Path(p).is_relative_to(sys.base_prefix) and "site-packages" not in p for p in stdlib)
    assert [m for m in worker_run["modules"] if not m.startswith((app + os.sep, *stdlib))] == []
    assert not [m for m in worker_run["modules"] if m.startswith(str(REPO) + os.sep)]


def test_amlguard_comes_from_python_packages(deployed: Deployed, worker_run: dict[str, Any]) -> None:
    assert worker_run["from"] == {
        "amlguard": str(deployed.app / SITE / "amlguard" / "__init__.py"),
        "functions": str(deployed.app / "functions" / "__init__.py"),
        "function_app": str(deployed.app / "function_app.py"),
    }


def test_functions_are_indexed(worker_run: dict[str, Any]) -> None:
    assert worker_run["functions"] == sorted(["http_app_func", "on_resource_event", "sweep_timer", "audit_workspace",
                                              "monitor_timer", "alerts_timer", "alerts_wake", "health"])


def test_health_route_reports_the_stamped_version(deployed: Deployed, worker_run: dict[str, Any]) -> None:
    status, body = worker_run["health"]
    assert status == 200 and body["status"] == "ok"
    assert body["version"] == deployed.version != "0.0.0+unknown"  # built without .git, as in Azure


def test_event_grid_timer_and_queue_functions_audit(worker_run: dict[str, Any]) -> None:
    assert worker_run["firing_after_event"] == [GREEN]
    assert [m["workspace"] for m in worker_run["sweep_messages"]] == [WS]
    assert worker_run["poison"] is None
    assert {GREEN, WS} <= set(worker_run["firing"])


def test_http_app_serves_from_the_deployed_package(worker_run: dict[str, Any]) -> None:
    assert worker_run["api_alerts"] == [200, worker_run["firing"]]
    status, mimetype, size = worker_run["api_dashboard"]
    assert (status, mimetype) == (200, "text/html; charset=utf-8") and size > 10_000
