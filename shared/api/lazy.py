"""An ASGI callable that builds the real app on first use, keeping cold starts short.

The Function App must index quickly; FastAPI and the service load only when the first HTTP
request (or the ASGI lifespan startup) arrives.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from starlette.types import Receive, Scope, Send

__all__ = ["LazyASGI"]


class LazyASGI:
    """Wraps `module:factory`; the factory returns an ASGI app and is called once."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._app: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    module_name, _, attr = self.target.partition(":")
                    self._app = getattr(importlib.import_module(module_name), attr)()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.load()(scope, receive, send)
