"""The inventory's faster YAML reader gives exactly what shared.yamlsource gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import yamlsource
from shared.inventory import fastyaml


def outcome(reader: Any, text: str) -> Any:
    try:
        return [(d.value, d.line, d.lines) for d in reader.load_documents(text)]
    except yamlsource.YamlSourceError as exc:
        return ("error", str(exc), exc.line, exc.column)


SAMPLES = [
    "a: 1\nb: [1, 2.5, true, null, ~, 0x1f, 017, 1:30, .inf, -.inf, 2024-01-01]\n",
    "x: &a {k: v}\ny:\n  <<: *a\n  z: 'q'\n",
    "- a\n- {b: c}\n---\n- d\n",
    "? [1, 2]\n: complex key\n",
    "yes: no\non: off\n'1': \"2\"\n",
    "\ufeffname: ep\r\nauth_mode: key\r\n",
    "a: [\n", "a: b: c\n", "", "# only a comment\n", "x: |\n  block\n  text\n",
    "[" * 250 + "]" * 250,
]


def test_same_as_yamlsource_on_samples() -> None:
    for text in SAMPLES:
        assert repr(outcome(fastyaml, text)) == repr(outcome(yamlsource, text)), text


def test_same_as_yamlsource_on_the_corpus(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.rglob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        assert repr(outcome(fastyaml, text)) == repr(outcome(yamlsource, text)), path


TOKENS = st.sampled_from(["a", "b", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "'", '"', "1", "0x1", "1.5",
                          "true", "~", "null", "&x ", "*x", "<<: ", "? ", "#", "!!str ", "2024-01-01", "-", "."])


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=30).map("".join))
def test_same_as_yamlsource_on_generated_text(text: str) -> None:
    assert repr(outcome(fastyaml, text)) == repr(outcome(yamlsource, text))
