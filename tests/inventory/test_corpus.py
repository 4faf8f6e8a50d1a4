"""The real-world corpus: every endpoint / deployment file of Azure/azureml-examples (and the
environment files beside them) is read into a Resource of the right kind with no diagnostic;
everything else is skipped quietly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from amlguard.inventory import load_paths

KINDS = {
    "managedonlineendpoint": ("online_endpoint", "managed"),
    "kubernetesonlineendpoint": ("online_endpoint", "kubernetes"),
    "managedonlinedeployment": ("online_deployment", "managed"),
    "kubernetesonlinedeployment": ("online_deployment", "kubernetes"),
    "batchendpoint": ("batch_endpoint", None),
    "batchdeployment": ("batch_deployment", None),
    "modelbatchdeployment": ("batch_deployment", None),
    "pipelinecomponentbatchdeployment": ("batch_deployment", None),
    "environment": ("environment", None),  # an audited kind since the workspace's assets are (issue 15)
}
SCHEMA = re.compile(r"^\$schema:\s*\S*/([A-Za-z]+)\.schema\.json", re.MULTILINE)


def expected_kinds(corpus: Path) -> dict[str, tuple[str, str | None]]:
    out = {}
    for path in sorted(corpus.rglob("*.y*ml")):
        match = SCHEMA.search(path.read_text(encoding="utf-8"))
        if match and match.group(1).lower() in KINDS:
            out[path.relative_to(corpus).as_posix()] = KINDS[match.group(1).lower()]
    return out


def test_corpus_endpoints_and_deployments(corpus_dir: Path) -> None:
    expected = expected_kinds(corpus_dir)
    assert len(expected) == 82  # 77 endpoints and deployments, 5 environments
    all_yaml = list(corpus_dir.rglob("*.y*ml"))
    assert len(all_yaml) - len(expected) == 56
    result = load_paths([corpus_dir], cwd=corpus_dir)
    assert result.diagnostics == [] and result.errors == []
    got = {r.source: (r.kind, r.compute_type) for r in result.resources}
    assert got == expected  # one resource per file, right kind, others skipped quietly
    assert len({r.id for r in result.resources}) == 82
    for res in result.resources:
        assert res.line is not None and res.line >= 1 and res.name
    # two deployments leave the endpoint to `az ml online-deployment create --endpoint-name`
    unnamed = sorted(r.source for r in result.resources if r.kind.endswith("_deployment") and not r.endpoint_name)
    assert unnamed == ["cli/endpoints/online/managed/managed-identities/2-sai-deployment.yml",
                       "cli/endpoints/online/managed/managed-identities/2-uai-deployment.yml"]


def test_corpus_templates_are_read_with_placeholders(corpus_dir: Path) -> None:
    result = load_paths([corpus_dir], cwd=corpus_dir)
    templated = {r.source: r for r in result.resources if r.templated}
    assert len(templated) >= 10
    smr = templated["cli/endpoints/online/managed/minimal/single-model-registered/deployment.yml"]
    assert smr.fields["model"] == "azureml:minimalregistered:{{MODEL_VERSION}}"
    assert smr.endpoint_name == "{{ENDPOINT_NAME}}" and {"model", "endpoint_name"} <= smr.templated
    assert smr.line_of("model") == 4


def test_corpus_copy_without_referenced_files(corpus_dir: Path, tmp_path: Path) -> None:
    # only the YAML, none of the code / model / conda files it references: nothing is needed
    for path in corpus_dir.rglob("*.y*ml"):
        target = tmp_path / path.relative_to(corpus_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    result = load_paths([tmp_path], cwd=tmp_path)
    assert len(result.resources) == 82 and result.diagnostics == []


@pytest.mark.parametrize("name", ["cli/endpoints/online/kubernetes/kubernetes-blue-deployment.yml"])
def test_corpus_kubernetes_deployment(corpus_dir: Path, name: str) -> None:
    path = corpus_dir / name
    if not path.exists():
        pytest.skip(f"{name} not in this corpus")
    (res,) = load_paths([path], cwd=corpus_dir).resources
    assert res.compute_type == "kubernetes" and "egress_public_network_access" not in res.fields
