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
    from functions.wake import WakeQueue

_lock = threading.Lock()
_settings: Settings | None = None
_service: Service | None = None
_wake: WakeQueue | None = None


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
                from functions.wake import attach

                service = Service.from_settings(current)
                global _wake
                _wake = attach(service, current)
                _service = service
    return _service


def deliver_due() -> None:
    """Deliver the notices an invocation made due (group_wait 0) before it returns, and schedule
    the wake-up for later ones: there is no loop in a Function App for the alert manager to wake."""
    svc = service()
    svc.alerts.deliver(svc.notifiers)
    after_alert_work()


def after_alert_work(woken_by: bytes | None = None) -> None:
    """Schedule the wake-up for the next alert work this worker's service knows of (`woken_by`: the
    body of the wake message that ran this work)."""
    from functions.wake import schedule_next

    if woken_by is not None and _wake is not None:
        _wake.woken(woken_by)
    schedule_next(service(), _wake)


def reset() -> None:
    """Forget the settings and the service (tests and settings reloads)."""
    global _service, _settings, _wake
    with _lock:
        if _service is not None:
            _service.close()
        _service = None
        _settings = None
        _wake = None


def create_http_app() -> ASGIApp:
    """The ASGI app the Function App mounts; function keys guard it, so no second token."""
    from amlguard.api.app import create_app, with_body_limit

    current = settings()
    app = create_app(current, service_factory=service, require_auth=bool(current.api_token), deliver_due=deliver_due)
    limited: ASGIApp = with_body_limit(app, current.max_body_bytes)
    return limited
