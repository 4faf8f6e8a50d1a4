"""The project config file of `amlguard audit`: `.amlguard.yaml`, or `[tool.amlguard]` in
pyproject.toml, found upward from the audited path; its keys are the audit flags' long names in
snake_case, and a flag given on the command line wins over its key (docs/policy.md, "Project config").
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amlguard.errors import ConfigError
from amlguard.model import SEVERITIES

__all__ = ["CONFIG_KEYS", "apply_config", "find_config", "read_config"]

_NAMES = (".amlguard.yaml", ".amlguard.yml")
_TOOL_TABLE = b"[tool.amlguard]"

_BOOL, _LIST, _PATHS, _PATH, _TEXT = "bool", "list", "paths", "path", "text"
# the values `audit --fail-on` (in any case; `never` and `off` mean `none`, as in exit_code) and
# `--color` take, here or on the command line
FAIL_ON_VALUES: tuple[str, ...] = (*SEVERITIES, "none", "never", "off")
COLORS = ("auto", "always", "never")
# key -> what it holds: paths are relative to the config file's folder, lists take one value too
CONFIG_KEYS: dict[str, str | tuple[str, ...]] = {
    "policies": _PATHS, "no_default_policies": _BOOL, "rule": _LIST, "skip_rule": _LIST, "exclude": _LIST,
    "param": _LIST, "environment": _TEXT, "baseline": _PATH, "format": _LIST, "output": _PATH,
    "fail_on": FAIL_ON_VALUES, "fail_on_diagnostics": _BOOL,
    "soft_fail": _BOOL, "show_fix": _BOOL, "show_passed": _BOOL, "color": COLORS,
}


def find_config(start: Path) -> Path | None:
    """The nearest `.amlguard.yaml` (or `.yml`), or pyproject.toml holding `[tool.amlguard]`, in
    `start` (a file's folder) or a parent, relative to the working folder when under it; the search
    stops at a repository root (a `.git`)."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        for name in _NAMES:
            if (candidate / name).is_file():
                return Path(_beside(candidate, name))
        try:
            if _TOOL_TABLE in (candidate / "pyproject.toml").read_bytes():
                return Path(_beside(candidate, "pyproject.toml"))
        except OSError:
            pass
        if (candidate / ".git").exists():
            return None
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The settings `path` holds, checked, with paths made relative to the working folder.
    Raises ConfigError naming the file, line and key, and what to write instead."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the amlguard config file: {exc}") from exc
    if path.name == "pyproject.toml":
        import tomllib

        try:
            table = tomllib.loads(text).get("tool", {}).get("amlguard", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        where: Callable[[str], str] = lambda key: f"{path}:{_toml_line(text, key)}: [tool.amlguard] {key}"  # noqa: E731
    else:
        from amlguard.yamlsource import YamlSourceError, load_documents

        try:
            docs = load_documents(text)
        except YamlSourceError as exc:
            raise ConfigError(f"{path}:{exc.line or 1}: not valid YAML: {exc}") from exc
        table = docs[0].value if docs else {}
        if docs and docs[0].duplicates:
            raise ConfigError(f"{path}: {docs[0].duplicates[0].message()}")
        where = lambda key: f"{path}:{docs[0].line_of(key)}: {key}"  # noqa: E731
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (e.g. `fail_on: medium`), "
                          f"got {type(table).__name__}")
    return {key: _checked(key, value, where, path.parent) for key, value in table.items()}


def _checked(key: Any, value: Any, where: Callable[[str], str], base: Path) -> Any:
    kind = CONFIG_KEYS.get(str(key))
    if kind is None:
        hint = f"; write {str(key).replace('-', '_')}" if str(key).replace("-", "_") in CONFIG_KEYS else ""
        raise ConfigError(f"{where(str(key))}: not an amlguard audit setting{hint}; the settings are the long "
                          f"flags of `amlguard audit` in snake_case: {', '.join(CONFIG_KEYS)}")
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise ConfigError(f"{where(key)}: expected true or false, got {value!r}")
        return value
    if isinstance(kind, tuple):
        if str(value).lower() not in kind:
            raise ConfigError(f"{where(key)}: expected one of {', '.join(kind)}, got {value!r}")
        return str(value).lower()
    if key == "param" and isinstance(value, dict):  # param: {min_instances: 2} reads as --param min_instances=2
        value = [f"{name}={','.join(map(str, v)) if isinstance(v, list) else v}" for name, v in value.items()]
    items = value if isinstance(value, list) and kind in (_LIST, _PATHS) else [value]
    if not all(isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in items):
        raise ConfigError(f"{where(key)}: expected {'a list of ' if kind in (_LIST, _PATHS) else ''}text, "
                          f"got {value!r}")
    texts = [str(item) for item in items]
    if kind in (_PATHS, _PATH):
        texts = [_beside(base, text) for text in texts]
    elif key == "format":  # FMT:PATH writes PATH, relative to this file like every other path
        texts = [f"{fmt}:{_beside(base, out)}" if sep and out != "-" else text
                 for text in texts for fmt, sep, out in [text.partition(":")]]
    return texts if kind in (_LIST, _PATHS) else texts[0]


def _beside(base: Path, text: str) -> str:
    """`text` read from the folder `base`, shown relative to the working folder when under it."""
    path = os.path.normpath(base / os.path.expanduser(text))
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd.rstrip(os.sep) + os.sep) else path


def _toml_line(text: str, key: str) -> int:
    """Line of `key = ...` in the `[tool.amlguard]` table (tomllib keeps no lines); 1 if not found."""
    table = text.find("[tool.amlguard]")
    match = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE).search(text, max(table, 0))
    return text.count("\n", 0, match.start() if match else 0) + 1


def apply_config(args: argparse.Namespace, settings: dict[str, Any]) -> None:
    """Fill each setting into `args` where the command line left it unset (None): flags win."""
    for key, value in settings.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
