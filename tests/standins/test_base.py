"""The stand-in server itself: routes, fault matching, the control API, the secret guard."""

from __future__ import annotations

import requests

from tests.standins.base import Fault, Request, Response, StandinServer


def _server() -> StandinServer:
    server = StandinServer()
    server.add_route("GET", r"/things/(?P<name>[^/]+)", lambda r, m: Response(200, {"name": m.group("name")}))
    return server.start()


def test_routes_faults_and_control_api() -> None:
    server = _server()
    try:
        get = lambda path: requests.get(server.url.rstrip("/") + path, verify=str(server.ca_file), timeout=5)  # noqa: E731
        assert get("/things/a").json() == {"name": "a"}
        assert get("/nothing").status_code == 404
        server.inject(Fault(path="/things/b", status=503, times=2, after=1))
        assert [get("/things/b").status_code for _ in range(4)] == [200, 503, 503, 200]

        requests.post(server.url + "_standin/faults", json={"path": "/things/c", "status": 429,
                                                            "headers": {"Retry-After": "3"}},
                      verify=str(server.ca_file), timeout=5)
        answer = get("/things/c")
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
        log = requests.get(server.url + "_standin/requests", verify=str(server.ca_file), timeout=5).json()
        assert log["count"] == 7 and log["violations"] == []
        assert all(r.ended is not None and r.ended >= r.started for r in server.api_requests())
    finally:
        server.stop()


def test_secret_guard_matches_path_segments_in_any_casing() -> None:
    server = _server()
    try:
        for path in ("/x/ListKeys", "/x/token", "/x/get_keys", "/x/regenerateKeys"):
            assert requests.post(server.url.rstrip("/") + path, verify=str(server.ca_file), timeout=5).status_code == 403
        assert requests.get(server.url + "things/skipToken", verify=str(server.ca_file), timeout=5).status_code == 200
        assert len(server.violations) == 4
    finally:
        server.violations.clear()  # asked on purpose; the session check looks at every stand-in
        server.stop()


def test_request_object_parses_json() -> None:
    request = Request("POST", "/p", {}, {}, b'{"a": 1}', "https://127.0.0.1:1")
    assert request.json() == {"a": 1}
