"""Run action.yml's and templates/amlguard-audit.yml's script steps the way the runners do.

GitHub (composite action): expressions `${{ ... }}` are substituted into `env:` and `run:` before
the step runs; `run:` is executed by `bash --noprofile --norc -eo pipefail FILE` in the workspace,
with GITHUB_OUTPUT / GITHUB_STEP_SUMMARY pointing at files the runner reads back.
Azure Pipelines: `${{ parameters.x }}` is expanded when the template is compiled, `$(Var.Name)`
macros before the step runs; `bash:` runs `bash --noprofile --norc FILE` (no -e) with the agent's
variables as environment variables (Build.SourcesDirectory -> BUILD_SOURCESDIRECTORY).
An expression this module does not know fails the test: the action must stay this simple.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
MACRO = re.compile(r"\$\(([A-Za-z_][\w.]*)\)")
# the sources pip builds amlguard from: what a checkout of the action at a tag holds (no .git)
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "action.yml", ".pre-commit-hooks.yaml")


def copy_project(dest: Path) -> Path:
    """The project as a runner downloads it: the build inputs, shared/, policies/, templates/."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, dest / name)
    for folder in ("shared", "policies", "templates"):
        shutil.copytree(REPO / folder, dest / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_version.py"))
    return dest


def base_env(**extra: str) -> dict[str, str]:
    """A runner's environment: PATH, HOME, locale and pip's configuration from this machine (the
    package index it can reach), nothing of amlguard's or of this venv."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(Path(sys.prefix))))
    env.update(extra)
    return env


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def commands(self, prefix: str) -> list[str]:
        """Workflow / logging commands the step printed (`::error`, `##vso[`...)."""
        return [line for line in self.stdout.splitlines() if line.startswith(prefix)]


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines() if path.exists() else [])
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


class GitHubAction:
    """action.yml at `action_path`, run in `workspace` as a job step would run it."""

    def __init__(self, action_path: Path, workspace: Path, runner_temp: Path, *, action_ref: str,
                 event: Mapping[str, Any] | None = None) -> None:
        self.action_path, self.workspace, self.runner_temp = action_path, workspace, runner_temp
        self.spec = yaml.safe_load((action_path / "action.yml").read_text(encoding="utf-8"))
        self.github = {"action_ref": action_ref, "action_path": str(action_path), "workspace": str(workspace),
                       "event": dict(event or {})}
        self.step_outputs: dict[str, dict[str, str]] = {}

    def _lookup(self, path: str, inputs: Mapping[str, str]) -> str:
        parts = path.split(".")
        value: Any
        if parts[0] == "inputs" and len(parts) == 2:
            value = inputs[parts[1]]
        elif parts[0] == "github":
            value = self.github
            for part in parts[1:]:
                value = value.get(part, "") if isinstance(value, dict) else ""
        elif parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            value = self.step_outputs.get(parts[1], {}).get(parts[3], "")
        elif path == "runner.temp":
            value = str(self.runner_temp)
        else:
            raise AssertionError(f"action.yml uses an expression this harness does not know: ${{{{ {path} }}}}")
        return "" if value is None else str(value)

    def expand(self, text: str, inputs: Mapping[str, str]) -> str:
        return EXPRESSION.sub(lambda m: self._lookup(m.group(1), inputs), text)

    def inputs(self, given: Mapping[str, str]) -> dict[str, str]:
        unknown = set(given) - set(self.spec["inputs"])
        assert not unknown, f"not inputs of action.yml: {unknown}"
        defaults = {name: str(spec.get("default", "")) for name, spec in self.spec["inputs"].items()}
        values = {name: self.expand(value, {}) if "${{" in value else value for name, value in defaults.items()}
        values.update(given)
        return values

    def run(self, step_id: str, **given: str) -> StepResult:
        """Run one step (by id) with the inputs given (the rest take their defaults)."""
        inputs = self.inputs(given)
        (step,) = [s for s in self.spec["runs"]["steps"] if s.get("id") == step_id]
        assert step.get("shell") == "bash", "composite run steps must name their shell"
        scratch = Path(tempfile.mkdtemp(prefix="_runner_file_commands_", dir=self.runner_temp))
        output_file, summary_file = scratch / "output", scratch / "step_summary"
        output_file.touch()
        summary_file.touch()
        script = scratch / "script.sh"
        script.write_text(self.expand(step["run"], inputs), encoding="utf-8")
        env = base_env(GITHUB_ACTIONS="true", CI="true", GITHUB_WORKSPACE=str(self.workspace),
                       GITHUB_ACTION_PATH=str(self.action_path), RUNNER_TEMP=str(self.runner_temp),
                       GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(summary_file))
        env.update({name: self.expand(str(value), inputs) for name, value in (step.get("env") or {}).items()})
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=self.workspace,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        outputs = read_outputs(output_file)
        self.step_outputs[step_id] = outputs
        return StepResult(step_id, done.returncode, done.stdout, done.stderr, outputs,
                          summary_file.read_text(encoding="utf-8"))

    def action_outputs(self) -> dict[str, str]:
        return {name: self.expand(spec["value"], {}) for name, spec in self.spec["outputs"].items()}


class AzurePipelinesTemplate:
    """templates/amlguard-audit.yml's steps, run as the agent runs them in `sources`."""

    def __init__(self, template: Path, sources: Path, agent_temp: Path, *, python: str) -> None:
        self.spec = yaml.safe_load(template.read_text(encoding="utf-8"))
        self.sources, self.agent_temp = sources, agent_temp
        self.variables = {
            "Build.SourcesDirectory": str(sources), "System.DefaultWorkingDirectory": str(sources),
            "Agent.TempDirectory": str(agent_temp), "Common.TestResultsDirectory": str(agent_temp / "TestResults"),
            "Build.ArtifactStagingDirectory": str(agent_temp / "a"),
        }
        # UsePythonVersion puts the requested Python first on PATH as `python`
        self.tool_bin = agent_temp / "_tool" / "bin"
        self.tool_bin.mkdir(parents=True, exist_ok=True)
        link = self.tool_bin / "python"
        if not link.exists():
            link.symlink_to(python)

    def parameters(self, given: Mapping[str, Any]) -> dict[str, str]:
        declared = {p["name"]: p for p in self.spec["parameters"]}
        unknown = set(given) - set(declared)
        assert not unknown, f"not parameters of the template: {unknown}"
        values = {name: p.get("default", "") for name, p in declared.items()} | dict(given)
        # a template expression renders a boolean as True / False
        return {name: str(v) if isinstance(v, bool) else "" if v is None else str(v) for name, v in values.items()}

    def _expand(self, text: str, parameters: Mapping[str, str]) -> str:
        def parameter(match: re.Match[str]) -> str:
            path = match.group(1)
            assert path.startswith("parameters."), f"template expression this harness does not know: {path}"
            return parameters[path.removeprefix("parameters.")]

        text = EXPRESSION.sub(parameter, text)
        return MACRO.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)

    def steps(self, given: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The steps as compiled for `given` parameters, macros expanded in task inputs too."""
        parameters = self.parameters(given)

        def expand(node: Any) -> Any:
            if isinstance(node, str):
                return self._expand(node, parameters)
            if isinstance(node, dict):
                return {k: expand(v) for k, v in node.items()}
            if isinstance(node, list):
                return [expand(v) for v in node]
            return node

        return [expand(step) for step in self.spec["steps"]]

    def run(self, display_name: str, **given: Any) -> StepResult:
        (step,) = [s for s in self.steps(given) if s.get("displayName") == display_name]
        assert "bash" in step, f"{display_name} is not a bash step"
        script = Path(tempfile.mkdtemp(prefix="_step_", dir=self.agent_temp)) / "script.sh"
        script.write_text(step["bash"], encoding="utf-8")
        env = base_env(TF_BUILD="True", AGENT_TEMPDIRECTORY=str(self.agent_temp))
        env.update({name.upper().replace(".", "_"): value for name, value in self.variables.items()})
        env["PATH"] = f"{self.tool_bin}{os.pathsep}{env['PATH']}"
        env.update({name: str(value) for name, value in (step.get("env") or {}).items()})
        cwd = step.get("workingDirectory") or self.variables["System.DefaultWorkingDirectory"]
        done = subprocess.run(["bash", "--noprofile", "--norc", str(script)], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        return StepResult(display_name, done.returncode, done.stdout, done.stderr)
