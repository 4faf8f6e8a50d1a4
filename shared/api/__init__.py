"""The HTTP app shared by `amlguard serve` and the Function App, and its lazy ASGI wrapper."""

from amlguard.api.lazy import LazyASGI

__all__ = ["LazyASGI"]
