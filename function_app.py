"""Azure Functions entry point (Python v2 model): create the app, register the blueprints.

The HTTP routes are one FastAPI app mounted through AsgiFunctionApp behind function keys; it
is built lazily on the first request so that indexing and cold starts stay short.
"""

import azure.functions as func

from amlguard.api.lazy import LazyASGI
from functions import events, http, monitor, sweep

app = func.AsgiFunctionApp(app=LazyASGI("functions.runtime:create_http_app"),
                           http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(events.bp)
app.register_functions(sweep.bp)
app.register_functions(monitor.bp)
app.register_functions(http.bp)
