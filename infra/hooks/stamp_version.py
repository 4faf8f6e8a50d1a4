"""azd prepackage hook: write amlguard's version into PKG-INFO at the project root.

The Function App is built in Azure from the deployed files, which leave out `.git`, so
setuptools-scm cannot see the release tag there and the app would report 0.0.0+unknown. When
git is absent, setuptools-scm takes the version from a PKG-INFO file instead; this writes one
from `git describe`, following setuptools-scm's default scheme: v0.1.0 exactly -> 0.1.0; three
commits after it -> 0.1.1.dev3+g<sha>; no tag yet -> 0.0.1.dev<commits>+g<sha>.
Standard library only: it runs on the deploying machine, before any venv exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_DESCRIBED = re.compile(r"^v?(?P<tag>\d+(?:\.\d+)*)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+)$")


def _git(root: Path, *argv: str) -> str | None:
    try:
        done = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def version_of(root: Path) -> str | None:
    """The version setuptools-scm would give the checkout at `root`, or None outside a git checkout."""
    described = _git(root, "describe", "--tags", "--long", "--match", "v[0-9]*")
    found = _DESCRIBED.match(described or "")
    if found is None:
        count, sha = _git(root, "rev-list", "--count", "HEAD"), _git(root, "rev-parse", "--short", "HEAD")
        return f"0.0.1.dev{count}+g{sha}" if count and sha else None
    tag, distance, sha = found["tag"], int(found["distance"]), found["sha"]
    if distance == 0:
        return tag
    *head, last = tag.split(".")
    return ".".join([*head, str(int(last) + 1)]) + f".dev{distance}+g{sha}"


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    version = version_of(root)
    if version is None:
        print("amlguard: not a git checkout with history; the Function App will report version 0.0.0+unknown",
              file=sys.stderr)
        return 0
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: amlguard\nVersion: {version}\n", encoding="utf-8")
    print(f"amlguard: the Function App is built as version {version} (PKG-INFO)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
