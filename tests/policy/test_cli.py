"""`amlguard policy validate|test` through run(argv): output lines and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from amlguard.policy import run
from amlguard.policy.loader import default_policies_dir

RULES = """\
apiVersion: amlguard/v1
kind: AuditRules
rules:
  - id: AMLG-AUTH-001
    title: token auth
    severity: high
    kinds: [online_endpoint]
    require: {field: auth_mode, in: [aad_token, aml_token], default: key}
    description: d
    rationale: r
    remediation: f
"""

TEST = """\
apiVersion: amlguard/v1
kind: PolicyTest
name: auth
resources:
  - {name: keyed, kind: online_endpoint, compute_type: managed, fields: {auth_mode: key}}
  - {name: tokened, kind: online_endpoint, compute_type: managed, fields: {auth_mode: aad_token}}
results:
  - {rule: AMLG-AUTH-001, resource: keyed, status: fail, message_contains: "auth_mode is 'key'"}
  - {rule: AMLG-AUTH-001, resource: tokened, status: STATUS}
"""


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_validate_default_pack() -> None:
    code, out, _ = call(["validate", str(default_policies_dir())])
    assert code == 0 and "policy files are valid" in out


def test_validate_lists_every_error_as_file_line_field_message(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES.replace("severity: high", "severity: severe").replace(
        "in: [aad_token", "inn: [aad_token"), encoding="utf-8")
    code, out, err = call(["validate", str(tmp_path)])
    assert code == 2
    lines = out.strip().splitlines()
    assert lines == [
        f"{tmp_path / 'r.yaml'}:6: rules.0.severity: expected one of critical, high, medium, low, info "
        "(got 'severe')",
        f"{tmp_path / 'r.yaml'}:8: rules.0.require.inn: unknown field 'inn' (did you mean 'in'?); expected "
        + lines[1].split("; expected ", 1)[1],
    ]
    assert "refused as a whole" in err


def test_policy_test_passes_and_fails(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "auth_test.yaml").write_text(TEST.replace("STATUS", "pass"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert (code, out.strip()) == (0, "2/2 expectations passed in 1 test file(s)")
    (tmp_path / "tests" / "auth_test.yaml").write_text(TEST.replace("STATUS", "fail"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert code == 1
    assert f"FAIL {tmp_path / 'tests' / 'auth_test.yaml'}:9: auth: AMLG-AUTH-001 on tokened: expected fail, " \
           "got pass" in out
    assert out.strip().endswith("1/2 expectations passed in 1 test file(s)")


def test_policy_test_finds_the_pack_in_a_parent_folder(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "auth_test.yaml").write_text(TEST.replace("STATUS", "pass"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path / "tests"), "-v"])
    assert code == 0 and out.count("PASS ") == 2


def test_policy_test_with_invalid_test_file(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "t.yaml").write_text(TEST.replace("STATUS", "passed"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert code == 2
    assert "t.yaml:9: results.1.status: expected one of pass, fail, exempt, not_applicable, error, none" in out


def test_policy_test_with_unknown_resource_and_rule(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "t.yaml").write_text(TEST.replace("resource: tokened, status: STATUS",
                                                  "resource: ghost, status: pass"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert code == 2 and "no test resource named 'ghost'" in out
    (tmp_path / "t.yaml").write_text(TEST.replace("AMLG-AUTH-001, resource: tokened", "AMLG-AUTH-009, "
                                                  "resource: tokened").replace("STATUS", "pass"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert code == 1 and "no rule AMLG-AUTH-009 in the pack" in out


@pytest.mark.parametrize(("fixture", "said"), [
    (None, "fixtures/missing.yml: cannot read {tmp}/fixtures/missing.yml: No such file or directory; check the path"),
    ("name: env\ndependencies: [python=3.11]\n", "fixtures/missing.yml: read as YAML, but it holds no Azure ML "),
])
def test_policy_test_with_a_fixture_it_cannot_read_is_a_problem(tmp_path: Path, fixture: str | None,
                                                                said: str) -> None:
    """A `file:` fixture not read (missing, or holding no resource) is a broken test (exit 2), not a
    test that passes on the inline resources alone."""
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    if fixture is not None:
        (tmp_path / "fixtures").mkdir()
        (tmp_path / "fixtures" / "missing.yml").write_text(fixture, encoding="utf-8")
    (tmp_path / "t.yaml").write_text(TEST.replace("STATUS", "pass").replace(
        "resources:\n", "resources:\n  - file: fixtures/missing.yml\n"), encoding="utf-8")
    code, out, _ = call(["test", str(tmp_path)])
    assert code == 2, out
    assert f"{tmp_path / 't.yaml'}:5: resources.0.file: {said.format(tmp=tmp_path)}" in out


def test_default_pack_unit_tests_pass() -> None:
    code, out, _ = call(["test", str(default_policies_dir())])
    assert code == 0, out
    assert "expectations passed" in out and out.split("/")[0] == out.split("/")[1].split(" ")[0]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert call([])[0] == 2
    assert call(["frobnicate"])[0] == 2
    code, _, _err = call(["test", str(tmp_path)])
    assert code == 2  # nothing to test is not a success
    code, out, _ = call(["validate", str(tmp_path / "missing")])
    assert code == 2 and "no such file or folder" in out


def test_help_exits_0() -> None:
    assert call(["--help"])[0] == 0


def test_audit_arguments_select_parameters_and_environment(tmp_path: Path) -> None:
    import argparse

    from amlguard.config import Settings
    from amlguard.policy import add_policy_arguments, pack_roots, settings_from_args
    from amlguard.service.pipeline import load_policy_pack

    parser = argparse.ArgumentParser()
    add_policy_arguments(parser)
    args = parser.parse_args(["--policies", str(default_policies_dir()), "--param", "min_instances=2",
                              "--param", "AMLG-SUP-002.allowed_registries=mcr.microsoft.com,myacr.azurecr.io"])
    settings = settings_from_args(args, Settings.from_env({"AMLGUARD_ENVIRONMENT": "prod"}))
    assert pack_roots(args, settings) == [default_policies_dir()]  # the bundled pack named again is read once
    pack = load_policy_pack(settings, roots=pack_roots(args, settings))
    assert pack.environment == "prod"
    assert pack.parameters == {"min_instances": 2,
                               "AMLG-SUP-002.allowed_registries": ["mcr.microsoft.com", "myacr.azurecr.io"]}
    assert pack.parameters_for(pack.rule("AMLG-OPS-001"))["min_instances"] == 2


FIELD_RULES = """\
apiVersion: amlguard/v1
kind: AuditRules
rules:
  - id: AMLG-OPS-101
    title: approved instance types
    severity: low
    kinds: [online_deployment]
    applies_when: {field: compute_type, equals: managed}
    require: {field: FIELD, in: [Standard_DS3_v2]}
    description: d
    rationale: r
    remediation: f
  - id: AMLG-WS-101
    title: projects and counts
    severity: low
    kinds: [workspace, compute]
    applies_when: {field: fields.kind, notEquals: project}
    require:
      count: {field: private_endpoint_connections, where: {field: any_item_field, equals: x}}
      greaterOrEquals: 0
    description: d
    rationale: r
    remediation: f
"""


def test_validate_warns_on_a_field_no_targeted_kind_has(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(FIELD_RULES.replace("FIELD", "instance_typ"))
    code, out, err = call(["validate", str(tmp_path)])
    assert code == 1 and "with 1 warning(s)" in err
    assert out.strip() == (f"{tmp_path / 'rules.yaml'}:9: rules.0.require.field: no online_deployment has a field "
                           "'instance_typ' (the rule would fail or never apply to every resource); did you mean "
                           "'instance_type'?")


def test_validate_knows_the_fields_of_every_kind_from_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(FIELD_RULES.replace("FIELD", "instance_type.name"))
    assert call(["validate", str(tmp_path)])[0] == 0  # fields.kind, a count's items, nested paths: known
    assert call(["validate", str(default_policies_dir())])[0] == 0


def test_policy_test_reports_a_yaml_error_in_a_rules_file_as_that_error(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES + "    title: [unclosed\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "auth_test.yaml").write_text(TEST.replace("STATUS", "pass"))
    for target in (tmp_path, tmp_path / "tests"):
        code, _, err = call(["test", str(target)])
        assert code == 2 and f"{tmp_path / 'rules.yaml'}:13: not valid YAML" in err, err
        assert "no policy folder found" not in err
