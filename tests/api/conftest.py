"""The HTTP app over a real socket: uvicorn in a thread, the example workspace as snapshot."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from amlguard.api.app import create_app, with_body_limit
from amlguard.config import Settings

TOKEN = "test-token-5b1c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def settings(tmp_path: Path, repo_root: Path) -> Settings:
    workspace = tmp_path / "workspace"
    shutil.copytree(repo_root / "examples" / "workspace", workspace)
    return dataclasses.replace(Settings.from_env({}), snapshot=(str(workspace),), state_dir=tmp_path / "state",
                               api_token=TOKEN, max_body_bytes=64_000)


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def server(app: Any, settings: Settings) -> Iterator[Server]:
    with Server(with_body_limit(app, settings.max_body_bytes)) as running:
        yield running
    app.state.get_service().close()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


@pytest.fixture
def anon(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
