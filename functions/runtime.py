"""The one service instance a Function App worker shares between invocations.

Built on first use (not at import) so indexing stays fast; blueprints call `service()`.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_service: Any = None


def service() -> Any:
    """The process-wide `amlguard.service.Service`, built from app settings on first call."""
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                from amlguard.config import Settings
                from amlguard.service import Service

                _service = Service.from_settings(Settings.from_env())
    return _service


def reset() -> None:
    """Forget the service (tests and settings reloads)."""
    global _service
    with _lock:
        if _service is not None:
            _service.close()
        _service = None


def create_http_app() -> Any:
    """The ASGI app the Function App mounts; function keys guard it, so no second token."""
    from amlguard.api.app import create_app, with_body_limit
    from amlguard.config import Settings

    settings = Settings.from_env()
    app = create_app(settings, service_factory=service, require_auth=bool(settings.api_token))
    return with_body_limit(app, settings.max_body_bytes)
