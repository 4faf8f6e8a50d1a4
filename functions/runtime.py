"""The settings and the one service a Function App worker shares between invocations.

Both are built on first use (not at import) so indexing stays fast; the app settings are read
once, here, and every blueprint reaches the same `Service` through `service()`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from amlguard.config import Settings
    from amlguard.service import Service

_lock = threading.Lock()
_settings: Settings | None = None
_service: Service | None = None


def settings() -> Settings:
    """The app settings of this worker, read from the environment once."""
    global _settings
    with _lock:
        if _settings is None:
            from amlguard.config import Settings

            _settings = Settings.from_env()
            from amlguard import telemetry

            # the host's log handler: request logs quiet, credentials redacted
            telemetry.secure_logging(_settings.http_log_level)
        return _settings


def service() -> Service:
    """The process-wide `amlguard.service.Service`, built from the app settings on first call."""
    global _service
    if _service is None:
        current = settings()
        with _lock:
            if _service is None:
                from amlguard.service import Service

                _service = Service.from_settings(current)
    return _service


def reset() -> None:
    """Forget the settings and the service (tests and settings reloads)."""
    global _service, _settings
    with _lock:
        if _service is not None:
            _service.close()
        _service = None
        _settings = None


def create_http_app() -> ASGIApp:
    """The ASGI app the Function App mounts; function keys guard it, so no second token."""
    from amlguard.api.app import create_app, with_body_limit

    current = settings()
    app = create_app(current, service_factory=service, require_auth=bool(current.api_token))
    limited: ASGIApp = with_body_limit(app, current.max_body_bytes)
    return limited
