"""The anonymous health route; every other HTTP route is the ASGI app behind function keys."""

from __future__ import annotations

import json

import azure.functions as func

from amlguard import __version__

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships no annotations here


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness for load balancers and `azd` checks: no auth, no I/O."""
    return func.HttpResponse(json.dumps({"status": "ok", "version": __version__}),
                             mimetype="application/json")
