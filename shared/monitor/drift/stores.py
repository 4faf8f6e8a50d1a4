"""Where Azure ML's model data collector writes, as amlguard reads it: a local folder (a copy of the
container, or a mount) or a blob container. A store lists the files of a window by the collector's
layout (`{endpoint}/{deployment}/{collection}/yyyy/MM/dd[/HH[/mm]]`), hands them out in blocks of
whole lines, and fetches a payload the collector stored in a separate blob (`datainblob`,
`dataref`). What the lines hold is amlguard.monitor.drift.collector's business.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.drift.io import is_container_url

__all__ = ["Store", "StoredFile", "open_store"]

_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class StoredFile:
    """One JSONL file (or blob) of the collector's, and the period its path says it covers."""

    name: str
    start: datetime | None  # the period its path says it covers, when laid out as the collector does
    length: timedelta | None


class Store(Protocol):
    """Where the collector's files are (`where` names it in messages)."""

    where: str

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[StoredFile]: ...

    def blocks(self, name: str, size: int) -> Iterator[bytes | bytearray | memoryview]: ...

    def payload(self, ref: str) -> bytes: ...


class _Folder:
    """A local folder holding the collector's files (a copy of the container, or a mount)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root}: not a folder; pass the folder holding modelDataCollector/... JSONL files, "
                              "or the URL of the blob container the collector writes to", source=str(root))
        self.root = root
        self.where = str(root)

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[StoredFile]:
        out = []
        for path in sorted(self.root.rglob("*.jsonl")):
            parts = path.resolve().parts
            if _wanted(parts, endpoint, deployment, collection, t0, t1):
                out.append(StoredFile(str(path), *_path_period(parts)[1:]))
        return out

    def blocks(self, name: str, size: int) -> Iterator[bytes | bytearray | memoryview]:
        """Whole lines, about `size` bytes at a time, as views of the file mapped into memory: no copy.
        (The map closes when the last view is released, as pyarrow may still parse the last block.)"""
        with open(name, "rb") as fh:
            if not os.fstat(fh.fileno()).st_size:
                return
            whole = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        start, total = 0, len(whole)
        while start < total:
            cut = whole.find(b"\n", min(start + size, total) - 1) + 1 or total
            yield memoryview(whole)[start:cut]
            start = cut

    def payload(self, ref: str) -> bytes:
        """A separately stored payload, found under the folder by the longest tail of its URL's path."""
        from urllib.parse import unquote, urlsplit

        parts = [unquote(p) for p in (urlsplit(ref).path if is_container_url(ref) else ref).split("/") if p]
        for i in range(len(parts)):
            candidate = self.root.joinpath(*parts[i:])
            if candidate.is_file():
                return candidate.read_bytes()
        raise OSError(f"{ref} is not under {self.root}; copy the blob there with the same path")


class _Container:
    """A blob container (and path) the collector writes to, listed by the narrowest prefixes the filters allow."""

    def __init__(self, url: str, credential: Any, env: Mapping[str, str]) -> None:
        from urllib.parse import urlsplit, urlunsplit

        from azure.storage.blob import ContainerClient

        parts = urlsplit(url)
        path = [p for p in parts.path.split("/") if p]
        account = path[:1] if parts.netloc.startswith(("127.0.0.1", "localhost")) and path else []
        path = path[len(account):]  # Azurite: /ACCOUNT/CONTAINER/...
        if not path:
            raise ConfigError(f"{url}: no container in the URL; use https://ACCOUNT.blob.core.windows.net/CONTAINER"
                              "[/modelDataCollector]")
        self.container_url = urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(account + path[:1]),
                                         parts.query, ""))
        self.where = f"blob container {self.container_url.split('?')[0]}"
        self.url = url
        self.sas = bool(parts.query)
        self.base = "/".join(path[1:]) or "modelDataCollector"  # where the collector writes in the container
        if credential is None and not parts.query:  # a SAS token needs no other credential
            from amlguard.inventory.config import credential_from_env

            credential = credential_from_env(env)
        self.credential = credential
        # the SDK's storage retry waits 15 s, 18 s and 24 s: a monitor run that repeats every few
        # minutes should rather report the failure and try again at its next run
        self.options: dict[str, Any] = {"retry_total": 2, "initial_backoff": 1, "increment_base": 2,
                                        "connection_timeout": 10}
        try:
            self.client = ContainerClient.from_container_url(self.container_url, credential=credential, **self.options)
        except ValueError as exc:  # e.g. a token credential on a plain-HTTP URL
            raise ConfigError(f"{url}: {exc}; use an https:// URL, or add a SAS token allowing read and list "
                              "to the URL") from exc

    def files(self, endpoint: str | None, deployment: str | None, collection: str | None,
              t0: datetime | None, t1: datetime | None) -> list[StoredFile]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

        prefixes = [self.base]
        if endpoint and deployment and collection:
            # the layout's own folders; one prefix per day of a bounded window
            top = "/".join(p for p in (self.base, endpoint, deployment, collection) if p) + "/"
            prefixes = [top]
            if t0 is not None and t1 is not None and t1 > t0:
                first = t0.replace(hour=0, minute=0, second=0, microsecond=0)
                days = (t1 - first).days + 1
                if days <= _MAX_DAY_PREFIXES:
                    prefixes = [f"{top}{(first + timedelta(days=d)):%Y/%m/%d}/" for d in range(days)]
        try:
            names = sorted({blob.name for prefix in prefixes
                            for blob in self.client.list_blobs(name_starts_with=prefix or None)
                            if blob.name.endswith(".jsonl")})
        except (ClientAuthenticationError, HttpResponseError) as exc:
            status = getattr(exc, "status_code", None)
            denied = ("the SAS token in the URL is invalid or expired, or does not allow read and list" if self.sas
                      else "grant the identity the Storage Blob Data Reader role on the container, or use a URL "
                           "with a SAS token allowing read and list")
            hint = ("check the account and container names (the collector writes to the workspace's default "
                    "datastore, workspaceblobstore)" if status == 404 else
                    denied if status in (401, 403) or isinstance(exc, ClientAuthenticationError) else "retry later")
            raise SourceError(f"{self.where}: listing blobs failed ({status} {exc.reason}); {hint}",
                              source=self.url) from exc
        except AzureError as exc:
            raise SourceError(f"{self.where}: cannot reach the storage account ({exc}); check the URL and the "
                              "network", source=self.url) from exc
        return [StoredFile(n, *_path_period(n.split("/"))[1:]) for n in names
                if _wanted(n.split("/"), endpoint, deployment, collection, t0, t1)]

    def blocks(self, name: str, size: int) -> Iterator[bytes | bytearray | memoryview]:
        from azure.core.exceptions import AzureError

        try:
            yield from _blocks(self.client.download_blob(name).chunks(), size)
        except AzureError as exc:  # one unreadable blob is skipped and named, like an unreadable file
            raise OSError(str(exc)) from exc

    def payload(self, ref: str) -> bytes:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobClient

        own = self.container_url.split("?")[0] + "/"
        try:
            if ref.startswith(own):
                from urllib.parse import unquote

                blob = self.client.get_blob_client(unquote(ref[len(own):].split("?")[0]))
            else:
                blob = BlobClient.from_blob_url(ref, credential=self.credential, **self.options)
            return bytes(blob.download_blob().readall())
        except (AzureError, ValueError) as exc:
            raise OSError(f"{ref}: {exc}".splitlines()[0]) from exc


def open_store(where: str | Path, credential: Any, env: Mapping[str, str]) -> Store:
    """A blob container for an https:// (or Azurite) URL, else a local folder."""
    return _Container(str(where), credential, env) if is_container_url(where) else _Folder(Path(where))


# days listed one prefix each (whatever the rolling rate) when the window is known and at most
# this long; else one listing of the collection
_MAX_DAY_PREFIXES = 62


def _path_period(parts: Sequence[str]) -> tuple[tuple[str, str, str] | None, datetime | None, timedelta | None]:
    """(endpoint, deployment, collection), and the start and length of the period a file covers,
    when its path (as parts) follows the collector's layout for its rolling rate:
    `{endpoint}/{deployment}/{collection}/yyyy/MM/dd[/HH[/mm]]/{file}` (day, hour or minute)."""
    folders = list(parts[:-1])
    digits = 0
    while digits < min(5, len(folders)) and _DIGITS.match(folders[-1 - digits]):
        digits += 1
    if digits < 3 or len(folders) < digits + 3:
        return None, None, None
    fields = [int(x) for x in folders[len(folders) - digits:]] + [0, 0]  # hour and minute when absent
    try:
        start = datetime(fields[0], fields[1], fields[2], fields[3], fields[4], tzinfo=UTC)
    except ValueError:
        return None, None, None
    length = {3: timedelta(days=1), 4: timedelta(hours=1), 5: timedelta(minutes=1)}[digits]
    names = folders[len(folders) - digits - 3:len(folders) - digits]
    return (names[0], names[1], names[2]), start, length


def _wanted(parts: Sequence[str], endpoint: str | None, deployment: str | None, collection: str | None,
            t0: datetime | None, t1: datetime | None) -> bool:
    names, start, length = _path_period(parts)
    if names is None or start is None or length is None:
        return True  # not the collector's layout: read it, records are filtered by their time
    ep, dep, coll = names
    if (endpoint and ep != endpoint) or (deployment and dep != deployment) or (collection and coll != collection):
        return False
    return not ((t0 and start + length <= t0) or (t1 and start >= t1))


def _blocks(chunks: Iterator[bytes], size: int) -> Iterator[bytearray]:
    """Whole lines, about `size` bytes at a time, from byte chunks of any size (one copy of each byte)."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if len(pending) >= size:
            cut = pending.rfind(b"\n") + 1
            if cut:
                block, pending = pending, pending[cut:]
                del block[cut:]
                yield block
    if pending.strip():
        yield pending

