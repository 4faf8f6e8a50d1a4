"""amlguard.yamlsource gives PyYAML's values (timestamps kept as text), the right lines, and only
YamlSourceError on bad input — never a crash, even on hostile nesting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from amlguard import yamlsource


class Reference(yaml.CSafeLoader):  # type: ignore[misc]
    """PyYAML's own safe loader, with timestamps kept as text as yamlsource does."""


Reference.add_constructor("tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str)


def ours(text: str) -> Any:
    try:
        return [d.value for d in yamlsource.load_documents(text)]
    except yamlsource.YamlSourceError as exc:
        return ("error", exc.line)


def reference(text: str) -> Any:
    try:
        return [d for d in yaml.load_all(text.removeprefix("\ufeff"), Loader=Reference) if d is not None]
    except (yaml.YAMLError, TypeError, ValueError):  # PyYAML refuses unhashable keys; we stringify them
        return None


SAMPLES = [
    "a: 1\nb: [1, 2.5, true, null, ~, 0x1f, 017, 1:30, .inf, -.inf, 2024-01-01]\n",
    "x: &a {k: v}\ny:\n  <<: *a\n  z: 'q'\n",
    "- a\n- {b: c}\n---\n- d\n",
    "yes: no\non: off\n'1': \"2\"\n",
    "\ufeffname: ep\r\nauth_mode: key\r\n",
    "x: |\n  block\n  text\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_values_match_pyyaml(text: str) -> None:
    assert repr(ours(text)) == repr(reference(text))


def test_lines_point_at_keys() -> None:
    [doc] = yamlsource.load_documents("name: ep\nenv:\n  image: x\n  ports:\n    - 80\n    - 443\n")
    assert doc.lines == {"name": 1, "env": 2, "env.image": 3, "env.ports": 4, "env.ports.0": 5, "env.ports.1": 6}
    assert doc.line_of("env.missing") == 2
    assert doc.line_of("other") == 1


@pytest.mark.parametrize(("text", "line"), [("a: [\n", 2), ("a: b: c\n", 1), ("k: v\n\tx: 1\n", 2)])
def test_syntax_errors_carry_the_line(text: str, line: int) -> None:
    with pytest.raises(yamlsource.YamlSourceError) as info:
        yamlsource.load_documents(text)
    assert info.value.line == line


@pytest.mark.parametrize("text", ["[" * 40_000 + "]" * 40_000, "- " * 40_000 + "x\n", "{a: " * 40_000 + "1" + "}" * 40_000],
                         ids=["flow-sequences", "block-sequences", "flow-mappings"])
def test_hostile_nesting_is_refused_without_crashing(text: str) -> None:
    # libyaml would crash the interpreter here; run in a subprocess so a regression cannot take pytest down
    code = ("import sys; from amlguard import yamlsource\n"
            "try:\n yamlsource.load_documents(sys.stdin.read())\nexcept yamlsource.YamlSourceError as e:\n print(e)")
    result = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-500:]
    assert "nested deeper than" in result.stdout


def test_same_as_pyyaml_on_the_corpus(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.rglob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        expected = reference(text)
        if expected is not None:
            assert repr(ours(text)) == repr(expected), path


TOKENS = st.sampled_from(["a", "b", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "'", '"', "1", "0x1", "1.5",
                          "true", "~", "null", "&x ", "*x", "<<: ", "? ", "#", "!!str ", "2024-01-01", "-", "."])


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=30).map("".join))
def test_never_raises_anything_but_yamlsourceerror(text: str) -> None:
    result = ours(text)  # raises anything but YamlSourceError -> the test fails
    expected = reference(text)
    if expected is not None and not isinstance(result, tuple):
        assert repr(result) == repr(expected)


# ------------------------------------------------------------------------------------ JSON
JSON_SAMPLES = [
    '{}', '[]', '"s"', '12', '-0.5e-3', 'NaN', 'null', '{"a": 1, "a": 2}', '{"x\\/y": "\\u00e9\\n"}',
    '{\n\t"a": [1, 2.5, -3e5, true, false, null],\n\t"b": {"c": {}, "d": [[], [{"e": 1}]]}\n}',
    ' [ {"a" : 1 } ,\n [ ] ]\n',
]


@pytest.mark.parametrize("text", JSON_SAMPLES)
def test_json_values_are_json_loads_values(text: str) -> None:
    located = yamlsource.load_json(text)
    assert json.dumps(located.value) == json.dumps(json.loads(text))


def test_json_lines_are_the_lines_yaml_gives_json() -> None:
    text = json.dumps({"data": [{"id": f"/x/{i}", "properties": {"a": i, "b": [1, {"c": "d"}]}} for i in range(50)]},
                      indent=2)
    located, (reference,) = yamlsource.load_json(text), yamlsource.load_documents(text)
    assert located.lines == reference.lines and located.line == reference.line == 1
    last = max(i for i, line in enumerate(text.splitlines(), 1) if '"c": "d"' in line)
    assert located.lines["data.49.properties.b.1.c"] == last


def test_json_numbers_are_json_numbers() -> None:
    # YAML 1.1 would read 1e3 as the string "1e3"
    located = yamlsource.load_json('{\n\t"n": 1e3,\n\t"m": [\n\t\t2\n\t]\n}')
    assert located.value == {"n": 1000.0, "m": [2]}
    assert located.lines == {"n": 2, "m": 3, "m.0": 4}


@pytest.mark.parametrize("text", ['{', '{"a" 1}', '[1,]', '{"a":1,}', '[1 2]', '{"a":1} x', '', "{'a': 1}", '[01]',
                                  '{"a": tru}', '[' * 300 + ']' * 300])
def test_json_that_json_loads_refuses_is_refused(text: str) -> None:
    with pytest.raises((ValueError, RecursionError)):
        yamlsource.load_json(text)


def _laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int, width: int) -> str:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: v" for i in range(width)) + "}"]
    for i in range(1, levels):
        aliases = ", ".join([f"*m{i - 1}"] * width)
        lines.append(f"m{i}: &m{i}\n  <<: [{aliases}]\n  x{i}: [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [_laughs(9, 9), _laughs(6, 10), _merge_bomb(10, 10)],
                         ids=["billion-laughs", "six-levels", "merge-keys"])
def test_alias_bombs_are_refused_with_the_limit_and_a_line(text: str) -> None:
    assert len(text) < 1500
    with pytest.raises(yamlsource.YamlSourceError,
                       match=r"expands to more than 100,000 values|more than 10,000 alias expansions") as info:
        yamlsource.load_documents(text)
    assert info.value.line is not None and 1 <= info.value.line <= text.count("\n")


def test_aliases_within_the_limit_still_expand() -> None:
    [doc] = yamlsource.load_documents(_laughs(3, 9))
    assert len(doc.value["l2"]) == 9 and doc.value["l2"][8][8] == ["lol"] * 9


def test_duplicate_keys_are_reported_with_both_lines_and_keep_the_last_value() -> None:
    text = "name: ep\nauth_mode: key\nidentity:\n  type: a\n  type: b\nauth_mode: aad_token\n"
    [doc] = yamlsource.load_documents(text)
    assert doc.value == reference(text)[0]
    assert [(d.path, d.first_line, d.line) for d in doc.duplicates] == [("identity.type", 4, 5), ("auth_mode", 2, 6)]
    assert doc.duplicates[1].message() == ("duplicate key 'auth_mode' on line 6 (first on line 2); "
                                           "only the last value is read: delete one of them")


def test_duplicate_json_keys_are_reported_with_both_lines() -> None:
    located = yamlsource.load_json('{\n "auth_mode": "key",\n "x": {"a": 1, "a": 2},\n "auth_mode": "aad_token"\n}')
    assert located.value == {"auth_mode": "aad_token", "x": {"a": 2}}
    assert [(d.path, d.first_line, d.line) for d in located.duplicates] == [("x.a", 3, 3), ("auth_mode", 2, 4)]


def test_a_big_yaml_text_is_refused_before_it_is_parsed() -> None:
    """6 MB of `[1,1,1,...]` took 15 s and 880 MB to compose before the values limit could see it."""
    text = "a: 1\ntags: [" + ",".join(["1"] * 3_000_000) + "]\n"
    with pytest.raises(yamlsource.YamlSourceError, match=r"^YAML text holds more than 100,000 values \(the limit "
                                                         r"for one file, passed on line 2\)") as info:
        yamlsource.load_documents(text)
    assert info.value.line == 2
    with pytest.raises(yamlsource.YamlSourceError, match=r"^YAML text over 8 MB \(the limit for one file\)"):
        yamlsource.load_documents("a: " + "x" * yamlsource.YAML_TEXT_LIMIT)
    # many documents add up: the limit is on what the text makes libyaml compose
    with pytest.raises(yamlsource.YamlSourceError, match=r"^YAML text holds more than 100,000 values"):
        yamlsource.load_documents("".join("---\n[" + ",".join(["10"] * 999) + "]\n" for _ in range(120)))


def test_many_alias_expansions_are_refused_with_the_limit() -> None:
    text = "e: &e {}\nl: [" + ", ".join(["*e"] * (yamlsource.ALIAS_LIMIT + 1)) + "]\n"
    with pytest.raises(yamlsource.YamlSourceError, match=r"more than 10,000 alias expansions \(the last one "
                                                         r"repeats the block anchored on line 1\)") as info:
        yamlsource.load_documents(text)
    assert info.value.line == 1


def test_many_values_without_aliases_are_not_blamed_on_aliases() -> None:
    text = "l: [" + ",".join(["1"] * (yamlsource.NODE_LIMIT + 1)) + "]\n"
    with pytest.raises(yamlsource.YamlSourceError, match=r"^YAML document holds more than 100,000 values"):
        yamlsource.load_documents(text)
