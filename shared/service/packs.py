"""Keeps the policy pack loaded, reloading it when files change and keeping the last good one.

An invalid policy edit must not switch enforcement off: the service logs the problems and keeps
evaluating with the pack that was valid before (DESIGN.md, "Bad input").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from amlguard.errors import PolicyError

if TYPE_CHECKING:
    from amlguard.policy import PolicyPack

__all__ = ["PackHolder"]

log = logging.getLogger(__name__)


class PackHolder:
    """Thread-safe holder of the current policy pack, with a cheap change check."""

    def __init__(self, directory: Path, *, loader: Callable[[Path], PolicyPack] | None = None,
                 check_every: float = 5.0) -> None:
        self.directory = directory
        self._loader = loader
        self._check_every = check_every
        self._lock = threading.Lock()
        self._pack: PolicyPack | None = None
        self._stamp: tuple[tuple[str, float, int], ...] | None = None
        self._checked_at = 0.0
        self.last_error: PolicyError | None = None

    def _load(self, directory: Path) -> PolicyPack:
        if self._loader is not None:
            return self._loader(directory)
        from amlguard.policy import load_pack

        return load_pack(directory)

    def _fingerprint(self) -> tuple[tuple[str, float, int], ...]:
        files = []
        for path in sorted(self.directory.rglob("*")):
            if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
                stat = path.stat()
                files.append((str(path), stat.st_mtime, stat.st_size))
        return tuple(files)

    def current(self) -> PolicyPack:
        """The pack to evaluate with; raises PolicyError only if no valid pack was ever loaded."""
        now = time.monotonic()
        with self._lock:
            if self._pack is not None and now - self._checked_at < self._check_every:
                return self._pack
            self._checked_at = now
            stamp = self._fingerprint()
            if self._pack is not None and stamp == self._stamp:
                return self._pack
            try:
                pack = self._load(self.directory)
            except PolicyError as exc:
                self.last_error = exc
                if self._pack is None:
                    raise
                log.error("policy pack in %s is invalid; keeping the last good pack:\n%s",
                          self.directory, exc.render())
                self._stamp = stamp
                return self._pack
            self._pack, self._stamp, self.last_error = pack, stamp, None
            return pack
