"""Pytest plugin: Azurite Table, Blob and Queue services for the whole session, started from node_modules.

Use the `azurite_table` or `azurite_queue` fixture (a connection string) or `azurite_blob` (an account URL). Load it with
`pytest_plugins` (tests/conftest.py does). The account
key below is Azurite's published development key (it opens nothing outside the emulator).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(port: int) -> str:
    """Azurite's well-known development-account connection string for a Table port."""
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], service: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite-{service} exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"azurite-{service} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _serve(service: str, env_name: str, make_url: Callable[[int], str]) -> Iterator[str]:
    """Start `azurite-<service>` on a free loopback port for the session; yields what `make_url` gives."""
    external = os.environ.get(env_name)  # reuse one started by hand
    if external:
        yield external
        return
    binary = ROOT / "node_modules" / ".bin" / f"azurite-{service}"
    if not binary.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is missing; CI must run `npm ci` at the repo root first")
        pytest.skip("Azurite not installed: run `npm ci` at the repo root (needs Node.js >= 18)")
    port = _free_port()
    location = tempfile.mkdtemp(prefix=f"amlguard-azurite-{service}-")
    proc = subprocess.Popen(
        [str(binary), f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port), "--location", location,
         "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc, service)
        yield make_url(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(location, ignore_errors=True)


@pytest.fixture(scope="session")
def azurite_table() -> Iterator[str]:
    """Connection string of a fresh Azurite Table service (skipped locally when not installed)."""
    yield from _serve("table", "AMLGUARD_TEST_AZURITE_TABLE", connection_string)


@pytest.fixture(scope="session")
def azurite_blob() -> Iterator[str]:
    """Account URL of a fresh Azurite Blob service (`http://127.0.0.1:PORT/devstoreaccount1`); the
    account key is DEV_KEY."""
    yield from _serve("blob", "AMLGUARD_TEST_AZURITE_BLOB", lambda port: f"http://127.0.0.1:{port}/{DEV_ACCOUNT}")


@pytest.fixture(scope="session")
def azurite_queue() -> Iterator[str]:
    """Connection string of a fresh Azurite Queue service (the Function App's wake queue)."""
    yield from _serve("queue", "AMLGUARD_TEST_AZURITE_QUEUE", lambda port: (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};"))
