"""The short error tree of amlguard; every message names what to fix.

`PolicyError` is for policy authors (file, line, field, what was expected); `SourceError` is for
operators (which API or file, which resource, retryable or not); `NotificationError` is for
receivers. A partial failure during a sweep is data (a finding with status `error`), not an
exception.
"""

from __future__ import annotations

__all__ = ["AmlguardError", "ConfigError", "NotificationError", "PolicyError", "SourceError", "render_problems"]


class AmlguardError(Exception):
    """Base class of every error amlguard raises on purpose."""


class ConfigError(AmlguardError):
    """Bad command line or settings; exit code 2."""


class PolicyError(AmlguardError):
    """A policy file is invalid. Carries every problem found, each with file, line and field."""

    def __init__(self, problems: list[tuple[str | None, int | None, str, str]]) -> None:
        # each problem: (file, line, field path, message naming what was expected)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        return render_problems(self.problems)


def render_problems(problems: list[tuple[str | None, int | None, str, str]]) -> str:
    """One `file:line: field: message` line per problem; a problem with no line (a path that does
    not exist, an empty folder) is `file: message`, not a line nobody wrote."""
    lines = []
    for file, line, fieldpath, message in problems:
        where = f"{file or '<policy>'}:{line}" if line else file or "<policy>"
        lines.append(f"{where}: {fieldpath}: {message}" if fieldpath else f"{where}: {message}")
    return "\n".join(lines)


class SourceError(AmlguardError):
    """Reading a resource failed (file or API); says which, and whether a retry may help."""

    def __init__(self, message: str, *, source: str | None = None, resource: str | None = None,
                 retryable: bool = False) -> None:
        self.source = source
        self.resource = resource
        self.retryable = retryable
        super().__init__(message)


class NotificationError(AmlguardError):
    """A receiver rejected or could not take a notification."""

    def __init__(self, message: str, *, receiver: str | None = None, retryable: bool = True) -> None:
        self.receiver = receiver
        self.retryable = retryable
        super().__init__(message)
