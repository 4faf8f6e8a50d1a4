"""Reusable HTTPS stand-in server for Azure APIs: loopback TLS with a throwaway CA, a route
table, a request log with timestamps, fault injection, and a guard that fails the run when
anything asks for a secret (endpoint keys or tokens).

Subclass `StandinServer` (or call `add_route`) to serve one API's documented REST shapes; see
`tests/standins/arm.py`. Faults can be injected from Python (`server.inject(...)`) or, when the
server runs in another process, over HTTP (`POST /_standin/faults`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import signal
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "SECRET_PATH_SEGMENTS",
    "STARTED",
    "Fault",
    "RecordedRequest",
    "Request",
    "Response",
    "StandinServer",
    "ca_bundle",
]

# Path segments that read a secret: ARM listKeys / token actions and SDK-ish spellings. A request
# whose path holds any of these (any casing) is refused and recorded as a violation.
SECRET_PATH_SEGMENTS = frozenset({"listkeys", "token", "get_keys", "getkeys", "regeneratekeys"})


@dataclass(slots=True)
class Request:
    """What a route handler receives."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(slots=True)
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    started: float  # time.monotonic() when the request line arrived
    ended: float | None = None  # time.monotonic() when the answer was written
    status: int | None = None
    fault: str | None = None  # name of the injected fault that answered, if any


@dataclass(slots=True)
class Fault:
    """One injected misbehaviour. Matches on method and a regex searched in the path (and query
    string); answers `times` requests (None = forever) then retires."""

    path: str = ""
    method: str | None = None
    status: int | None = None  # None: no canned status (use with delay to slow the real answer)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0  # seconds to sleep before answering
    times: int | None = 1
    drop: bool = False  # close the connection without answering
    after: int = 0  # let this many matching requests through first
    name: str = ""
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return re.search(self.path, target, re.IGNORECASE) is not None if self.path else True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {"path", "method", "status", "headers", "body", "delay", "times", "drop", "after", "name"}
        return cls(**{k: v for k, v in data.items() if k in allowed})


Handler = Callable[[Request, "re.Match[str]"], Response]

# Every stand-in started in this process, so a session-level check can see them all.
STARTED: list[StandinServer] = []

_CA_LOCK = threading.Lock()
_CA: Any = None
_CA_FILE: Path | None = None


def ca_bundle() -> tuple[Any, Path]:
    """The process-wide throwaway CA (trustme) and a PEM file of it for `connection_verify`."""
    global _CA, _CA_FILE
    with _CA_LOCK:
        if _CA is None:
            import trustme

            _CA = trustme.CA()
            with tempfile.NamedTemporaryFile(prefix="amlguard-standin-ca-", suffix=".pem",
                                             delete=False) as handle:
                handle.write(_CA.cert_pem.bytes())
            _CA_FILE = Path(handle.name)
            atexit.register(_CA_FILE.unlink, missing_ok=True)  # one file per test process, not one per run in /tmp
        assert _CA_FILE is not None
        return _CA, _CA_FILE


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext, standin: StandinServer) -> None:
        super().__init__(addr, handler)
        self.standin = standin
        # Handshake lazily in the per-connection thread so a slow client never blocks accept().
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up mid-answer are part of the tests; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ARM clients expect
    # One write per answer and no Nagle: headers and body in separate segments stall the
    # client ~40 ms on delayed ACKs, which would swamp the latencies the benchmarks measure.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        self.server.standin._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class StandinServer:
    """A threaded HTTPS server on 127.0.0.1 with a route table and fault injection.

    `latency` adds a sleep to every request (benchmarks); `secret_guard` refuses and records
    requests for keys or tokens (`violations`).
    """

    def __init__(self, *, latency: float = 0.0, secret_guard: bool = True) -> None:
        self.latency = latency
        self.secret_guard = secret_guard
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.ca, self.ca_file = ca_bundle()
        self._add_control_routes()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, port: int = 0) -> StandinServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _TLSServer(("127.0.0.1", port), _Handler, context, self)
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="standin", daemon=True)
        self._thread.start()
        STARTED.append(self)
        return self

    def serve_until_interrupted(self) -> None:
        """Run as a separate process (benchmarks): print `url ca_file`, serve until Ctrl-C or SIGTERM
        (what the benchmarks send: it exits through atexit, which deletes the CA file)."""
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        print(self.url, self.ca_file, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandinServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, e.g. https://127.0.0.1:50123/."""
        return f"https://127.0.0.1:{self.port}/"

    # ---- routes and faults -----------------------------------------------------------------
    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve `method` on paths fully matching `pattern` (case-insensitive, like ARM)."""
        self._routes.append((method.upper(), re.compile(pattern, re.IGNORECASE), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler)
            return handler

        return decorator

    def inject(self, fault: Fault | None = None, **kwargs: Any) -> Fault:
        """Add a fault (or build one from keyword arguments) and return it."""
        fault = fault or Fault(**kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path matches `pattern` (regex, case-insensitive)."""
        rx = re.compile(pattern, re.IGNORECASE)
        with self._lock:
            return [r for r in self.requests if rx.search(r.path) and (method is None or r.method == method)]

    def max_in_flight(self) -> int:
        """The most API requests that were being answered at the same moment."""
        events: list[tuple[float, int]] = []
        for r in self.api_requests():
            events.append((r.started, 1))
            events.append((r.ended if r.ended is not None else r.started, -1))
        current = peak = 0
        for _t, delta in sorted(events, key=lambda e: (e[0], e[1])):
            current += delta
            peak = max(peak, current)
        return peak

    def api_requests(self) -> list[RecordedRequest]:
        """Every recorded request but the stand-in's own control routes."""
        with self._lock:
            return [r for r in self.requests if not r.path.startswith("/_standin/")]

    # ---- request handling ------------------------------------------------------------------
    def _take_fault(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target):
                    if fault.seen < fault.after:
                        fault.seen += 1
                        continue
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, handler: _Handler) -> None:
        started = time.monotonic()
        parts = urlsplit(handler.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = RecordedRequest(handler.command, path, query, headers, started)
        with self._lock:
            self.requests.append(record)
        control = path.startswith("/_standin/")

        if self.secret_guard and not control:
            segments = {seg.lower() for seg in path.split("/") if seg}
            leaked = segments & SECRET_PATH_SEGMENTS
            if leaked:
                with self._lock:
                    self.violations.append(f"{handler.command} {path} asked for a secret ({sorted(leaked)[0]})")
                self._send(handler, record, Response(403, {"error": {
                    "code": "SecretRequested", "message": "amlguard must never read keys or tokens"}}))
                return

        if self.latency and not control:
            time.sleep(self.latency)
        fault = None if control else self._take_fault(handler.command, handler.path)
        if fault is not None:
            record.fault = fault.name or f"{fault.status or 'delay'}"
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.status is not None:
                self._send(handler, record, Response(fault.status, fault.body, dict(fault.headers)))
                return

        request = Request(handler.command, path, query, headers, body, self.url.rstrip("/"))
        response = self._dispatch(request)
        if fault is not None and fault.headers:
            response.headers.update(fault.headers)
        self._send(handler, record, response)

    def _dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, route in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            allowed = True
            if method == request.method:
                try:
                    return route(request, match)
                except Exception as exc:  # a bug in a stand-in must show, not hang the client
                    return Response(500, {"error": {"code": "StandinBug", "message": repr(exc)}})
        if allowed:
            return Response(405, {"error": {"code": "MethodNotAllowed", "message": request.method}})
        return Response(404, {"error": {"code": "NotFound", "message": f"no route for {request.path}"}})

    def _send(self, handler: _Handler, record: RecordedRequest, response: Response) -> None:
        payload = response.encode()
        record.status = response.status
        try:
            handler.send_response(response.status)
            headers = {k.lower(): v for k, v in response.headers.items()}
            if "content-type" not in headers and response.body is not None:
                handler.send_header("Content-Type", "application/json; charset=utf-8")
            for key, value in response.headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            handler.close_connection = True
        record.ended = time.monotonic()

    # ---- control API (for out-of-process use: benchmarks) ----------------------------------
    def _add_control_routes(self) -> None:
        def add_fault(request: Request, _m: re.Match[str]) -> Response:
            fault = self.inject(Fault.from_json(request.json() or {}))
            return Response(201, {"path": fault.path, "times": fault.times})

        def clear(_r: Request, _m: re.Match[str]) -> Response:
            self.clear_faults()
            return Response(204)

        def log(_r: Request, _m: re.Match[str]) -> Response:
            reqs = self.api_requests()
            return Response(200, {
                "count": len(reqs),
                "violations": list(self.violations),
                "requests": [{"method": r.method, "path": r.path, "status": r.status,
                              "started": r.started, "fault": r.fault} for r in reqs],
            })

        def reset(_r: Request, _m: re.Match[str]) -> Response:
            self.reset_log()
            return Response(204)

        def set_latency(request: Request, _m: re.Match[str]) -> Response:
            self.latency = float((request.json() or {}).get("latency", 0.0))
            return Response(200, {"latency": self.latency})

        self.add_route("POST", r"/_standin/faults", add_fault)
        self.add_route("DELETE", r"/_standin/faults", clear)
        self.add_route("GET", r"/_standin/requests", log)
        self.add_route("DELETE", r"/_standin/requests", reset)
        self.add_route("PUT", r"/_standin/latency", set_latency)
