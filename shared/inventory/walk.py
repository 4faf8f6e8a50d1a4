"""Find the files to read: walk folders in sorted order, skip hidden folders, virtualenvs,
node_modules and __pycache__, list a file or folder reached twice (two arguments, a directory
symlink, a symlink loop) once, and note which folders hold an Azure ML config.json."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from amlguard.model import Diagnostic

__all__ = ["File", "collect", "under"]

_EXTENSIONS = (".yml", ".yaml", ".json", ".bicep")
_SKIP_DIRS = frozenset({".venv", "venv", "node_modules", "__pycache__", "site-packages"})
_MAX_DEPTH = 200


@dataclass(slots=True)
class File:
    """One file to read."""

    path: str  # absolute
    display: str  # as reported: relative to cwd when under it, else as given
    root: str  # absolute folder where the search for config.json stops


def under(folder: str, ancestor: str) -> bool:
    """True when `folder` is `ancestor` or inside it."""
    return folder == ancestor or folder.startswith(ancestor.rstrip(os.sep) + os.sep)


def _display(absolute: str, given: str, cwd: str) -> str:
    if absolute == cwd:
        return "."
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return os.path.normpath(given)


class _Walker:
    """Lists YAML / JSON files under folders, sorted, skipping hidden folders, virtualenvs,
    node_modules and __pycache__. A folder (or file) reached twice — two arguments, a
    directory symlink, a symlink loop — is listed once. Records which folders hold an Azure
    ML config.json, so finding a file's workspace costs no extra system calls."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics  # folders that could not be listed
        self.visited: set[tuple[int, int]] = set()
        self.seen_files: set[tuple[int, int]] = set()
        self.config_dirs: dict[str, bool] = {}  # folder -> holds config.json or .azureml/

    def add_file(self, path: str) -> bool:
        """False when this file (by device and inode) was listed already."""
        try:
            info = os.stat(path)
        except OSError:
            return True  # unreadable: let the reader report it
        key = (info.st_dev, info.st_ino)
        if key in self.seen_files:
            return False
        self.seen_files.add(key)
        return True

    def walk(self, top: str, display: str) -> Iterator[tuple[str, str]]:
        try:
            info = os.stat(top)
        except OSError:
            return
        yield from self._inner(top, display, info.st_dev, info.st_ino, 0)

    def _inner(self, folder: str, shown: str, device: int, inode: int, depth: int) -> Iterator[tuple[str, str]]:
        key = (device, inode)
        if key in self.visited:
            return
        if depth > _MAX_DEPTH:
            self.diagnostics.append(Diagnostic(shown, None, f"folders nested deeper than {_MAX_DEPTH} levels are "
                                                            "not searched; name this folder on the command line"))
            return
        self.visited.add(key)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:  # its files would go unaudited: say so
            self.diagnostics.append(Diagnostic(shown, None, f"cannot list the folder: {exc.strerror or exc}; "
                                                            "check that amlguard may read it"))
            return
        self.config_dirs[folder] = any(e.name in ("config.json", ".azureml") for e in entries)
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
                if is_dir:
                    if name.startswith(".") or name in _SKIP_DIRS:
                        continue
                    # a plain subfolder shares its parent's device (a mount point inside the tree
                    # could alias an inode; accepted); d_ino needs no system call
                    if entry.is_symlink():
                        target = os.stat(entry.path)
                        child_device, child_inode = target.st_dev, target.st_ino
                    else:
                        child_device, child_inode = device, entry.inode()
                elif not name.lower().endswith(_EXTENSIONS):
                    continue
                elif entry.is_symlink():
                    if not self.add_file(entry.path):
                        continue
                elif (device, entry.inode()) in self.seen_files:
                    continue
                else:
                    self.seen_files.add((device, entry.inode()))
            except OSError:
                continue
            shown_child = name if shown == "." else os.path.join(shown, name)
            if is_dir:
                yield from self._inner(entry.path, shown_child, child_device, child_inode, depth + 1)
            else:
                yield entry.path, shown_child


def collect(paths: Iterable[str | os.PathLike[str]], cwd: str, diagnostics: list[Diagnostic],
            ) -> tuple[list[File], dict[str, bool], list[tuple[str, bool, list[File]]]]:
    """The files under `paths` in order; the walked folders with whether each may hold a
    config.json; and each path that could be read, as (display, is a folder, its files). A path
    that cannot be read becomes a diagnostic."""
    files: list[File] = []
    named: list[tuple[str, bool, list[File]]] = []
    walker = _Walker(diagnostics)
    for given_path in paths:
        given = os.fspath(given_path)
        absolute = os.path.normpath(os.path.join(cwd, os.path.expanduser(given)))
        display = _display(absolute, given, cwd)
        try:
            info = os.stat(absolute)
        except OSError as exc:
            diagnostics.append(Diagnostic(display, None, f"cannot read {given}: {exc.strerror or exc}; check the path"))
            continue
        folder = stat.S_ISDIR(info.st_mode)
        if folder:
            found = [File(path, shown, absolute) for path, shown in walker.walk(absolute, display)]
            files.extend(found)
        else:  # a file named twice (or inside a folder also named) is read once
            found = [File(absolute, display, os.path.dirname(absolute))]
            if walker.add_file(absolute):
                files.extend(found)
        named.append((display, folder, found))
    return files, walker.config_dirs, named
