"""Policy validation: every problem named with file, line, field and what was expected."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from amlguard.errors import ConfigError, PolicyError
from amlguard.policy import load_pack, register_document_kind, validate_dir
from amlguard.policy.documents import DOCUMENT_KINDS
from amlguard.policy.loader import default_policies_dir

HEADER = "apiVersion: amlguard/v1\nkind: AuditRules\nrules:\n"
GOOD_RULE = """\
  - id: AMLG-NET-001
    title: t
    severity: high
    kinds: [online_endpoint]
    require: {field: public_network_access, equals: disabled}
    description: d
    rationale: r
    remediation: fix
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_for(tmp_path: Path, body: str, header: str = HEADER) -> list[tuple[Any, ...]]:
    write(tmp_path, "rules.yaml", header + body)
    return validate_dir(tmp_path)


# rule body (after `rules:`), expected (line, field, message fragment)
CASES: list[tuple[str, tuple[int, str, str]]] = [
    (GOOD_RULE.replace("severity: high", "severity: hgh"),
     (6, "rules.0.severity", "expected one of critical, high, medium, low, info (got 'hgh')")),
    (GOOD_RULE.replace("AMLG-NET-001", "NET-1"),
     (4, "rules.0.id", "expected an id AMLG-{NET,AUTH,PORT,OPS,TAG,SUP,CMP,REG,WS}-NNN, e.g. AMLG-NET-001 (got 'NET-1')")),
    (GOOD_RULE.replace("kinds: [online_endpoint]", "kinds: [online_endpoints]"),
     (7, "rules.0.kinds.0", "expected one of workspace, online_endpoint")),
    (GOOD_RULE.replace("equals: disabled", "equal: disabled"),
     (8, "rules.0.require.equal", "unknown field 'equal' (did you mean 'equals'?)")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{field: public_network_access, greater: many}"),
     (8, "rules.0.require.greater", "expected a number (got a string 'many')")),
    (GOOD_RULE.replace("    rationale: r\n", ""),
     (4, "rules.0.rationale", "required field 'rationale' is missing")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{field: public_network_access}"),
     (8, "rules.0.require", "expected exactly one operator")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{field: public_network_access, equals: disabled, in: [a]}"),
     (8, "rules.0.require", "expected exactly one operator")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{allOf: [{field: a, equals: 1}], field: b}"),
     (8, "rules.0.require", "'allOf' must stand alone in its mapping")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{field: auth_mode, in: {param: modes}}"),
     (8, "rules.0.require.in.param", "unknown parameter 'modes'; the rule declares: none declared")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}", "{field: name, regex: '('}"),
     (8, "rules.0.require.regex", "expected a valid regex")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{count: {field: rules}, match: 'a*'}"),
     (8, "rules.0.require.match", "a count compares with one of")),
    (GOOD_RULE + "    effect: remediate\n",
     (12, "rules.0.effect", "effect remediate needs a `remediate: {action: ...}` block")),
    (GOOD_RULE + "    effect: remediate\n    remediate: {action: disable_public_acess}\n",
     (13, "rules.0.remediate.action", "unknown remediation action 'disable_public_acess'; registered: ")),
    (GOOD_RULE + "    effect: remediate\n    remediate: {action: disable_public_network_access, dry: true}\n",
     (13, "rules.0.remediate.dry", "disable_public_network_access takes no option 'dry'")),
    (GOOD_RULE.replace("[online_endpoint]", "[online_deployment]") +
     "    effect: remediate\n    remediate: {action: set_traffic_zero, allow_last_serving: 'yes'}\n",
     (13, "rules.0.remediate.allow_last_serving", "set_traffic_zero option allow_last_serving must be a bool")),
    (GOOD_RULE + "    effect: remediate\n    remediate: {action: set_traffic_zero}\n",
     (13, "rules.0.remediate.action", "set_traffic_zero changes only online_deployment, not online_endpoint")),
    (GOOD_RULE + "    for: soon\n",
     (12, "rules.0.for", "expected a duration such as 0s, 90s, 5m, 1h or PT5M (got 'soon')")),
    (GOOD_RULE + "    parameters:\n      n: {type: integer, default: three}\n",
     (13, "rules.0.parameters.n.default", "expected integer (the parameter's type), got 'three'")),
    (GOOD_RULE + "    parameters:\n      n: {type: integer, default: 3}\n"
                 "    overrides:\n      - {when: {tag: env, equals: dev}, parameters: {m: 1}}\n",
     (15, "rules.0.overrides.0.parameters.m", "rule AMLG-NET-001 has no parameter 'm'; it declares: n")),
    (GOOD_RULE.replace("{field: public_network_access, equals: disabled}",
                       "{field: x, value_type: integr, equals: 1}"),
     (8, "rules.0.require.value_type", "expected one of integer, number, boolean")),
]


@pytest.mark.parametrize(("body", "expected"), CASES, ids=[c[1][1] + f"-{i}" for i, c in enumerate(CASES)])
def test_validation_errors_name_file_line_field_and_expectation(tmp_path: Path, body: str,
                                                                expected: tuple[int, str, str]) -> None:
    problems = problems_for(tmp_path, body)
    line, fieldpath, fragment = expected
    matching = [p for p in problems if p[2] == fieldpath]
    assert matching, problems
    file, got_line, _, message = matching[0]
    assert file == str(tmp_path / "rules.yaml")
    assert got_line == line, problems
    assert fragment in message, message


def test_every_problem_is_reported_and_the_pack_refused_as_a_whole(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", HEADER + GOOD_RULE.replace("severity: high", "severity: urgent"))
    write(tmp_path, "b.yaml", HEADER + GOOD_RULE.replace("AMLG-NET-001", "AMLG-NET-002").replace(
        "remediation: fix", "remediation: fix\n    colour: red"))
    write(tmp_path, "c.yaml", HEADER + GOOD_RULE.replace("AMLG-NET-001", "AMLG-NET-003"))  # valid
    with pytest.raises(PolicyError) as caught:
        load_pack(tmp_path)
    problems = caught.value.problems
    assert [(Path(p[0]).name, p[1], p[2]) for p in problems] == [
        ("a.yaml", 6, "rules.0.severity"), ("b.yaml", 12, "rules.0.colour")]
    text = str(caught.value)
    assert f"{tmp_path / 'a.yaml'}:6: rules.0.severity: expected one of critical" in text
    assert "unknown field 'colour'" in text


def test_cross_file_problems(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", HEADER + GOOD_RULE)
    write(tmp_path, "b.yaml", HEADER + GOOD_RULE + """\
exemptions:
  - name: x
    rules: [AMLG-NET-009]
    resources: ["*"]
    reason: r
    approver: a
    expires: 2027-01-01
  - name: no-selector
    reason: r
    approver: a
    expires: 2027-01-01
overrides:
  - when: {tag: env, equals: dev}
    parameters: {min_instances: 1}
""")
    problems = validate_dir(tmp_path)
    by_field = {(Path(p[0]).name, p[2]): (p[1], p[3]) for p in problems}
    assert by_field[("b.yaml", "rules.0.id")][1].startswith("duplicate rule id AMLG-NET-001; already defined at")
    assert by_field[("b.yaml", "exemptions.0.rules.0")] == (14, "no rule AMLG-NET-009 in the pack; expected "
                                                                "one of AMLG-NET-001")
    assert by_field[("b.yaml", "exemptions.1")][1].startswith("an exemption needs at least one selector")
    assert by_field[("b.yaml", "overrides.0.parameters.min_instances")][1] == (
        "no targeted rule declares parameter 'min_instances'")


def test_exemption_requires_expiry_approver_reason(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, GOOD_RULE + "exemptions:\n  - {name: x, resources: ['*'], expires: soon}\n")
    messages = {p[2]: p[3] for p in problems}
    assert messages["exemptions.0.reason"] == "required field 'reason' is missing"
    assert messages["exemptions.0.approver"] == "required field 'approver' is missing"
    assert messages["exemptions.0.expires"].startswith("expected a date (2026-12-31) or timestamp")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "apiVersion: amlguard/v1\nkind: AuditRules\nrules: [\n  - id: x\n")
    ((file, line, _fieldpath, message),) = validate_dir(tmp_path)
    assert Path(file).name == "bad.yaml" and line is not None and message.startswith("not valid YAML")


def test_api_version_and_kind_are_checked(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "apiVersion: amlguard/v2\nkind: AuditRules\n")
    write(tmp_path, "b.yaml", "apiVersion: amlguard/v1\nkind: AuditRule\n")
    write(tmp_path, "fixture.yaml", "name: my-endpoint\nauth_mode: key\n")  # not a policy: skipped
    problems = validate_dir(tmp_path)
    assert [(Path(p[0]).name, p[1], p[2], p[3]) for p in problems] == [
        ("a.yaml", 1, "apiVersion", "expected 'amlguard/v1' (got 'amlguard/v2')"),
        ("b.yaml", 2, "kind", "unknown kind 'AuditRule' (did you mean 'AuditRules'?); expected one of "
                              "AlertRouting, AuditRules, MonitorRules, PolicyTest"),
    ]


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file or folder"):
        load_pack(tmp_path / "nope")
    with pytest.raises(PolicyError, match="no `kind: AuditRules` documents found"):
        load_pack(tmp_path)


def test_registered_document_kinds_are_validated(tmp_path: Path) -> None:
    seen: list[str] = []

    def loader(doc: Any, file: str) -> Any:
        seen.append(file)
        if doc.value.get("window") == "forever":
            raise PolicyError([(file, doc.line_of("window"), "window", "expected a duration")])
        return doc.value

    schema = {"type": "object", "required": ["apiVersion", "kind", "window"],
              "properties": {"apiVersion": {}, "kind": {}, "window": {"type": "string"}},
              "additionalProperties": False}
    register_document_kind("TestWidgets", lambda: schema, loader)
    try:
        write(tmp_path, "w.yaml", "apiVersion: amlguard/v1\nkind: TestWidgets\nwindow: 5\n---\n"
                                  "apiVersion: amlguard/v1\nkind: TestWidgets\nwindow: forever\n")
        problems = validate_dir(tmp_path)
        assert [(p[1], p[2], p[3]) for p in problems] == [
            (3, "window", "expected a string (got a number 5)"), (7, "window", "expected a duration")]
        assert len(seen) == 1  # the loader runs only on schema-valid documents
    finally:
        DOCUMENT_KINDS.pop("TestWidgets", None)


def test_kinds_registered_by_other_areas_are_validated(tmp_path: Path) -> None:
    # MonitorRules and AlertRouting belong to the monitoring and alerting modules, imported on
    # first use: a file of either kind is checked, never skipped
    write(tmp_path, "m.yaml", "apiVersion: amlguard/v1\nkind: MonitorRules\nmonitorz: []\n")
    write(tmp_path, "a.yaml", "apiVersion: amlguard/v1\nkind: AlertRouting\nroutez: []\n")
    problems = validate_dir(tmp_path)
    assert {(Path(str(p[0])).name, p[1], p[2]) for p in problems} >= {("m.yaml", 3, "monitorz"),
                                                                        ("a.yaml", 3, "routez")}


def test_default_pack_location_and_env_override(tmp_path: Path) -> None:
    from amlguard.config import Settings

    assert default_policies_dir() == Path(__file__).resolve().parents[2] / "policies"
    write(tmp_path, "r.yaml", HEADER + GOOD_RULE)
    settings = Settings.from_env({"AMLGUARD_POLICIES": str(tmp_path)})
    assert [r.id for r in load_pack(settings.policies_dir).rules] == ["AMLG-NET-001"]


def test_bundled_pack_is_valid_and_has_the_contract_rules() -> None:
    assert validate_dir(default_policies_dir()) == []
    ids = {r.id for r in load_pack().rules}
    assert {"AMLG-NET-001", "AMLG-NET-002", "AMLG-NET-003", "AMLG-NET-004", "AMLG-AUTH-001",
            "AMLG-PORT-001", "AMLG-PORT-002"} <= ids
    for rule in load_pack().rules:
        assert rule.description and rule.rationale and rule.remediation and rule.help_uri.startswith("https://")
        assert "`" in rule.remediation  # names the exact YAML or CLI change


def test_structure_and_meaning_problems_are_reported_together(tmp_path: Path) -> None:
    body = GOOD_RULE.replace("severity: high", "severity: hgh").replace(
        "{field: public_network_access, equals: disabled}", "{field: auth_mode, in: {param: modes}}")
    body += "    for: soon\n" + GOOD_RULE.replace("AMLG-NET-001", "AMLG-NET-002").replace(
        "equals: disabled", "greater: {param: n}")
    problems = problems_for(tmp_path, body)
    assert [(p[1], p[2]) for p in problems] == [
        (6, "rules.0.severity"), (8, "rules.0.require.in.param"), (12, "rules.0.for"),
        (17, "rules.1.require.greater.param")]


def test_reloading_an_unchanged_pack_reuses_validation_and_code(tmp_path: Path, monkeypatch: Any) -> None:
    import amlguard.policy.conditions as conditions
    import amlguard.policy.documents as documents

    write(tmp_path, "rules.yaml", HEADER + GOOD_RULE)
    load_pack(tmp_path)
    checked: list[str] = []
    compiled: list[str] = []
    real_schema_problems = documents.schema_problems

    def counting_schema_problems(document: Any, schema: Any) -> Any:
        checked.append(document.file)
        return real_schema_problems(document, schema)

    def counting_compile(body: str, name: str, mode: str) -> Any:
        compiled.append(name)
        return compile(body, name, mode)

    monkeypatch.setattr(documents, "schema_problems", counting_schema_problems)
    monkeypatch.setattr(conditions, "compile", counting_compile, raising=False)  # shadows the builtin there
    load_pack(tmp_path)
    assert checked == [] and compiled == []  # same documents, same generated text: nothing redone

    # a changed document is checked again, and a broken one is still refused
    write(tmp_path, "rules.yaml", HEADER + GOOD_RULE.replace("severity: high", "severity: urgent"))
    with pytest.raises(PolicyError, match="severity: expected one of critical"):
        load_pack(tmp_path)
    assert checked == [str(tmp_path / "rules.yaml")]


def test_a_key_given_twice_in_a_policy_file_refuses_the_pack(tmp_path: Path) -> None:
    import shutil

    pack = tmp_path / "pack"
    shutil.copytree(default_policies_dir(), pack, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    text = (pack / "auth.yaml").read_text()
    (pack / "auth.yaml").write_text(text.replace("kind: AuditRules", "kind: AuditRules\nkind: AuditRules", 1))
    with pytest.raises(PolicyError, match=r"auth.yaml:\d+: .*duplicate key 'kind' on line"):
        load_pack(pack)


def test_a_misspelt_kind_refuses_the_pack_everywhere(tmp_path: Path) -> None:
    """`kind: AuditRule` used to be dropped silently by `audit` and `serve` (its rules vanished,
    exit 0) while `policy validate` refused it: loading and validating are one path now."""
    write(tmp_path, "good.yaml", HEADER + GOOD_RULE)
    write(tmp_path, "typo.yaml", HEADER.replace("AuditRules", "AuditRule") + GOOD_RULE.replace("NET-001", "NET-002"))
    with pytest.raises(PolicyError) as raised:
        load_pack(tmp_path)
    ((file, line, fieldpath, message),) = raised.value.problems
    assert (Path(str(file)).name, line, fieldpath) == ("typo.yaml", 2, "kind")
    assert message.startswith("unknown kind 'AuditRule' (did you mean 'AuditRules'?)")
    assert [(Path(str(p[0])).name, p[1], p[2]) for p in validate_dir(tmp_path)] == [("typo.yaml", 2, "kind")]
    write(tmp_path, "typo.yaml", "apiVersion: amlguard/v1\nrules: []\n")  # no kind at all
    with pytest.raises(PolicyError, match="expected the document kind"):
        load_pack(tmp_path)


def test_audit_and_serve_refuse_a_misspelt_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from amlguard.cli import main
    from amlguard.config import Settings
    from amlguard.service.pipeline import load_policy_pack

    write(tmp_path, "good.yaml", HEADER + GOOD_RULE)
    write(tmp_path, "typo.yaml", HEADER.replace("AuditRules", "Auditrules") + GOOD_RULE.replace("NET-001", "NET-002"))
    endpoint = write(tmp_path, "endpoint.yml", "$schema: https://azuremlschemas.azureedge.net/latest/"
                                               "managedOnlineEndpoint.schema.json\nname: ep\n")
    assert main(["audit", str(endpoint), "--policies", str(tmp_path)], env={}) == 2
    assert "typo.yaml:2: kind: unknown kind 'Auditrules'" in capsys.readouterr().err
    with pytest.raises(PolicyError, match="unknown kind 'Auditrules'"):
        load_policy_pack(Settings.from_env({"AMLGUARD_POLICIES": str(tmp_path)}))


@pytest.mark.parametrize("files", [
    {},  # an empty folder
    {"notes.yaml": "title: not a policy\n"},  # YAML, but no amlguard document
    {"exemptions.yaml": "apiVersion: amlguard/v1\nkind: AuditRules\nexemptions: []\n"},  # rules files, no rule
    {"rules.yaml": HEADER.rstrip() + " []\n"},
])
def test_an_empty_pack_is_an_error(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    problems = validate_dir(tmp_path)
    assert len(problems) == 1 and "no rule" in problems[0][3], problems
    with pytest.raises(PolicyError, match="no rule"):
        load_pack(tmp_path)


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("(a)\\1", "backreferences"),
    ("^(?=x)a", "lookarounds"),
    ("a{2000}", "invalid repetition size"),
])
def test_regexes_outside_the_linear_time_subset_are_refused(tmp_path: Path, pattern: str, fragment: str) -> None:
    """Every regex in a pack is compiled by RE2 (linear time) when the pack loads: what RE2 cannot
    run is refused with the reason, in the condition and in an exemption's resource_regex."""
    body = GOOD_RULE.replace("{field: public_network_access, equals: disabled}", f"{{field: name, regex: '{pattern}'}}")
    body += f"exemptions:\n  - {{name: x, resource_regex: '{pattern}', reason: r, approver: a, expires: 2027-01-01}}\n"
    problems = problems_for(tmp_path, body)
    by_field = {p[2]: p[3] for p in problems}
    assert fragment in by_field["rules.0.require.regex"], problems
    assert fragment in by_field["exemptions.0.resource_regex"], problems
    with pytest.raises(PolicyError):
        load_pack(tmp_path)


def _count_schema_checks(monkeypatch: Any) -> list[str]:
    """Files checked against the JSON Schema from now on (the in-process memory of valid
    documents emptied, so that only the cache folder can spare a check)."""
    import amlguard.policy.documents as documents

    checked: list[str] = []
    real = documents.schema_problems

    def counting(document: Any, schema: Any) -> Any:
        checked.append(Path(document.file).name)
        return real(document, schema)

    monkeypatch.setattr(documents, "_VALID_DOCUMENTS", set())
    monkeypatch.setattr(documents, "schema_problems", counting)
    return checked


def test_a_cache_folder_spares_the_schema_check_of_documents_that_passed_it(tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    pack, cache = tmp_path / "pack", tmp_path / "cache"
    pack.mkdir()
    write(pack, "a.yaml", HEADER + GOOD_RULE)
    write(pack, "b.yaml", HEADER + GOOD_RULE.replace("AMLG-NET-001", "AMLG-NET-002"))
    checked = _count_schema_checks(monkeypatch)
    first = load_pack(pack, cache_dir=cache)
    assert checked == ["a.yaml", "b.yaml"] and len(list(cache.iterdir())) == 2

    monkeypatch.setattr("amlguard.policy.documents._VALID_DOCUMENTS", set())  # as a new process would start
    again = load_pack(pack, cache_dir=cache)
    assert checked == ["a.yaml", "b.yaml"]  # nothing checked again
    assert [r.metadata() for r in again.rules] == [r.metadata() for r in first.rules]

    # an edited document is checked again; a broken one is refused and never remembered
    write(pack, "b.yaml", HEADER + GOOD_RULE.replace("AMLG-NET-001", "AMLG-NET-002").replace("high", "hgh"))
    with pytest.raises(PolicyError, match=r"b.yaml:6: rules.0.severity: expected one of critical"):
        load_pack(pack, cache_dir=cache)
    assert checked == ["a.yaml", "b.yaml", "b.yaml"] and len(list(cache.iterdir())) == 2
    with pytest.raises(PolicyError, match=r"b.yaml:6: rules.0.severity"):
        load_pack(pack, cache_dir=cache)


def test_a_remembered_document_still_gets_every_check_of_meaning(tmp_path: Path, monkeypatch: Any) -> None:
    pack, cache = tmp_path / "pack", tmp_path / "cache"
    pack.mkdir()
    write(pack, "a.yaml", HEADER + GOOD_RULE)
    load_pack(pack, cache_dir=cache)
    checked = _count_schema_checks(monkeypatch)
    write(pack, "b.yaml", HEADER + GOOD_RULE)  # a.yaml's text (so its schema verdict is known) in a new file
    with pytest.raises(PolicyError, match=r"b.yaml:4: rules.0.id: duplicate rule id AMLG-NET-001"):
        load_pack(pack, cache_dir=cache)
    assert checked == []
    # parameters given on the command line are checked against the remembered rules too
    (pack / "b.yaml").unlink()
    with pytest.raises(ConfigError, match="--param nope: no rule declares that parameter"):
        load_pack(pack, cache_dir=cache, parameters={"nope": "1"})


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", HEADER + GOOD_RULE)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    assert [r.id for r in load_pack(tmp_path, cache_dir=blocked / "cache").rules] == ["AMLG-NET-001"]


# -- the CLI's cache of parsed policy files ------------------------------------------------------


def _documents(root: Path, cache: Path | None) -> list[tuple[Any, ...]]:
    from amlguard.policy.documents import read_documents

    return [(d.file, d.index, d.doc.value, d.doc.line, d.doc.lines, d.doc.duplicates)
            for d in read_documents(root, problems=[], cache_dir=cache)]


def test_a_remembered_parse_gives_exactly_the_documents_and_parses_nothing(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import amlguard.policy.documents as documents

    root = tmp_path / "pack"
    shutil.copytree(default_policies_dir(), root)
    (root / "crlf.yaml").write_bytes(b"apiVersion: amlguard/v1\r\nkind: AuditRules\r\nrules: []\r\nrules: []\r\n")
    cache = tmp_path / "cache"
    first = _documents(root, cache)
    assert first == _documents(root, None) and any(d[5] for d in first)  # the duplicate key comes back too
    assert len(list((cache / "parsed").iterdir())) == len([p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")])

    def no_parse(text: str) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(documents, "load_documents", no_parse)
    assert _documents(root, cache) == first


def test_a_changed_file_a_broken_entry_and_a_key_json_cannot_keep_are_parsed(tmp_path: Path) -> None:
    root, cache = tmp_path / "pack", tmp_path / "cache"
    root.mkdir()
    policy = root / "rules.yaml"
    policy.write_text("apiVersion: amlguard/v1\nkind: AuditRules\nrules: []\n")
    assert _documents(root, cache)[0][2]["rules"] == []
    policy.write_text("apiVersion: amlguard/v1\nkind: AuditRules\nrules: [1]\n")
    assert _documents(root, cache)[0][2]["rules"] == [1]
    entries = list((cache / "parsed").iterdir())
    assert len(entries) == 2
    for entry in entries:
        entry.write_text("[[{")
    assert _documents(root, cache)[0][2]["rules"] == [1]
    policy.write_text("apiVersion: amlguard/v1\nkind: AuditRules\nrules: []\nmeta: {1: one}\n")
    assert _documents(root, cache)[0][2]["meta"] == {1: "one"}  # an int key: JSON would make it "1"
    assert len(list((cache / "parsed").iterdir())) == 2  # so it was not remembered


def test_a_cache_folder_keeps_to_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import amlguard.policy.documents as documents

    monkeypatch.setattr(documents, "CACHE_ENTRIES", 10)
    for n in range(11):
        (tmp_path / f"entry{n:02d}").write_text("")
        os.utime(tmp_path / f"entry{n:02d}", ns=(n * 10**9, n * 10**9))
    documents.prune_cache(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"entry{n:02d}" for n in range(5, 11)]


def test_reading_a_pack_keeps_the_parse_cache_to_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import amlguard.policy.documents as documents

    monkeypatch.setattr(documents, "CACHE_ENTRIES", 10)
    root, cache = tmp_path / "pack", tmp_path / "cache"
    root.mkdir()
    for n in range(12):
        (root / f"rules{n:02d}.yaml").write_text(f"apiVersion: amlguard/v1\nkind: AuditRules\nrules: [{n}]\n")
    found = documents.read_documents(root, problems=[], cache_dir=cache)
    assert [d.doc.value["rules"] for d in found] == [[n] for n in range(12)]
    assert len(list((cache / "parsed").iterdir())) == 6  # 12 written, then the older half pruned
