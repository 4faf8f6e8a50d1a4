"""Azure Table storage backend of the state store (the Function App's own storage account).

One table; a document is an entity whose JSON body is split over string properties `b0..bN`
(Table caps a string property at 64 KiB). ETags are the service's; conditional writes use
`match_condition=IfNotModified`, and a multi-write batch is one entity-group transaction (all
entities in one partition), which Table storage applies atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from amlguard.alerts.records import Conflict, Doc, Op, dumps, iter_chunks
from amlguard.errors import ConfigError

__all__ = ["TableBackend", "decode_key", "encode_key"]

_CHUNK = 30_000  # characters; a UTF-16 string property holds at most 32 Ki characters
_TABLE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
# Characters Table storage refuses in PartitionKey / RowKey, plus '%' (our escape character).
_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")
_CONFLICT_STATUS = {404, 409, 412}
# Table storage caps PartitionKey and RowKey at 1 KiB (of UTF-16). A longer key (the longest ARM id
# of a watched type is ~1,300 characters) keeps a head that still sorts and prefixes as the key did,
# then '~' and the SHA-256 of the whole escaped key.
_KEY_BYTES = 1024
_HEAD_BYTES = 2 * 440  # + "~" + 64 hex digits: 505 of the 512 UTF-16 units


def encode_key(key: str) -> str:
    """Escape the characters Table keys forbid (ARM ids are full of '/'), and shorten a key over
    1 KiB to a head and a hash; prefixes shorter than the head stay prefixes. `encode_key(decode_key(k))`
    gives `k` back for every key this returns."""
    escaped = _escape(key)
    if len(escaped.encode("utf-16-le", "surrogatepass")) <= _KEY_BYTES:
        return escaped
    return _head(escaped) + "~" + hashlib.sha256(escaped.encode("utf-8", "surrogatepass")).hexdigest()


def _escape(key: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", key)


def _head(escaped: str) -> str:
    """The longest start of `escaped` within _HEAD_BYTES of UTF-16, not ending inside a %XX escape."""
    head = escaped.encode("utf-16-le", "surrogatepass")[:_HEAD_BYTES].decode("utf-16-le", "ignore")
    return re.sub(r"%[0-9A-F]?$", "", head)


def decode_key(key: str) -> str:
    """Inverse of `encode_key`."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), key)


def _to_entity(pk: str, rk: str, body: dict[str, Any]) -> dict[str, Any]:
    text = dumps(body)
    chunks = list(iter_chunks(text, _CHUNK)) or [""]
    entity: dict[str, Any] = {"PartitionKey": encode_key(pk), "RowKey": encode_key(rk), "n": len(chunks)}
    for index, chunk in enumerate(chunks):
        entity[f"b{index}"] = chunk
    return entity


def _from_entity(entity: Any) -> Doc:
    count = int(entity.get("n", 1))
    text = "".join(str(entity.get(f"b{i}", "")) for i in range(count))
    etag = entity.metadata.get("etag", "") if hasattr(entity, "metadata") else ""
    return Doc(decode_key(entity["PartitionKey"]), decode_key(entity["RowKey"]), json.loads(text or "{}"), etag)


class TableBackend:
    """Documents in one Azure table (created on first use)."""

    def __init__(self, client: TableClient) -> None:
        self.client = client
        self.table_name = client.table_name
        where = f"table {client.table_name!r} at {client.url}"
        try:
            client.create_table()
        except ResourceExistsError:
            pass
        except ClientAuthenticationError as exc:
            raise ConfigError(
                f"cannot sign in to {where}: {exc.message}. In Azure, give the Function App's managed "
                "identity the 'Storage Table Data Contributor' role on the storage account; locally, set "
                "AMLGUARD_STATE_CONNECTION to a connection string") from exc
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise ConfigError(
                    f"access denied to {where}: grant 'Storage Table Data Contributor' on the storage "
                    "account to the identity amlguard runs as") from exc
            raise
        except ServiceRequestError as exc:
            raise ConfigError(f"cannot reach {where}: {exc}; check AMLGUARD_STATE_TABLE_ENDPOINT / "
                              "AMLGUARD_STATE_CONNECTION and the network path") from exc

    @staticmethod
    def _check_name(name: str) -> str:
        if not _TABLE_NAME_RE.match(name):
            raise ConfigError(
                f"AMLGUARD_STATE_TABLE_PREFIX {name!r} is not a valid table name: use 3-63 letters "
                "and digits, starting with a letter")
        return name

    @classmethod
    def from_connection_string(cls, connection: str, table: str = "amlguard", **kwargs: Any) -> TableBackend:
        """From a storage connection string (local development, Azurite)."""
        service = TableServiceClient.from_connection_string(connection, **kwargs)
        return cls(service.get_table_client(cls._check_name(table)))

    @classmethod
    def from_endpoint(cls, endpoint: str, table: str = "amlguard", *, credential: Any = None,
                      **kwargs: Any) -> TableBackend:
        """From the table endpoint with DefaultAzureCredential (the Function App's managed identity)."""
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        service = TableServiceClient(endpoint=endpoint, credential=credential, **kwargs)
        return cls(service.get_table_client(cls._check_name(table)))

    def get(self, pk: str, rk: str) -> Doc | None:
        try:
            entity = self.client.get_entity(encode_key(pk), encode_key(rk))
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    def query(self, pk: str, prefix: str = "", *, limit: int | None = None, start: str | None = None) -> list[Doc]:
        params: dict[str, Any] = {"pk": encode_key(pk)}
        flt = "PartitionKey eq @pk"
        low = ""
        if prefix:
            low = _escape(prefix)
            if len(low.encode("utf-16-le", "surrogatepass")) > _HEAD_BYTES:
                low = _head(low)  # a longer prefix reads a few neighbours too; callers filter by id
            params.update(hi=low[:-1] + chr(ord(low[-1]) + 1))
            flt += " and RowKey lt @hi"
        if prefix or start:
            params["lo"] = max(low, encode_key(start or ""))
            flt += " and RowKey ge @lo"
        pages = self.client.query_entities(flt, parameters=params, results_per_page=limit)
        out: list[Doc] = []
        for entity in pages:
            out.append(_from_entity(entity))
            if limit is not None and len(out) >= limit:
                break
        return out

    def write(self, ops: Sequence[Op]) -> list[str]:
        try:
            if len(ops) == 1:
                return [self._single(ops[0])]
            return self._batch(ops)
        except (ResourceExistsError, ResourceNotFoundError) as exc:
            raise Conflict(str(exc)) from exc
        except HttpResponseError as exc:
            if exc.status_code in _CONFLICT_STATUS:
                raise Conflict(str(exc)) from exc
            raise

    def _single(self, op: Op) -> str:
        entity = _to_entity(op.pk, op.rk, op.body or {})
        if op.action == "insert":
            meta = self.client.create_entity(entity)
        elif op.action == "upsert":
            meta = self.client.upsert_entity(entity, mode=UpdateMode.REPLACE)
        elif op.action == "replace":
            meta = self.client.update_entity(entity, mode=UpdateMode.REPLACE, etag=op.etag or "*",
                                             match_condition=MatchConditions.IfNotModified)
        else:
            if op.etag:
                self.client.delete_entity(encode_key(op.pk), encode_key(op.rk), etag=op.etag,
                                          match_condition=MatchConditions.IfNotModified)
            else:
                self.client.delete_entity(encode_key(op.pk), encode_key(op.rk))
            return ""
        return str(meta.get("etag", ""))

    def _batch(self, ops: Sequence[Op]) -> list[str]:
        """One entity-group transaction. An unconditional delete of a missing entity fails a whole
        transaction, where alone it is no error (nor in SQLite): it is left out and the rest sent
        again, so a batch means the same on both backends."""
        pending = list(enumerate(ops))
        etags = [""] * len(ops)
        while pending:
            try:
                sent = self._transaction([op for _, op in pending])
            except TableTransactionError as exc:
                failed = pending[exc.index][1] if exc.status_code == 404 and 0 <= exc.index < len(pending) else None
                if failed is None or failed.action != "delete" or failed.etag:
                    raise
                del pending[exc.index]  # already gone: as good as deleted
                continue
            for (position, _), etag in zip(pending, sent, strict=True):
                etags[position] = etag
            break
        return etags

    def _transaction(self, ops: Sequence[Op]) -> list[str]:
        batch: list[Any] = []
        for op in ops:
            entity = _to_entity(op.pk, op.rk, op.body or {})
            if op.action == "insert":
                batch.append(("create", entity))
            elif op.action == "upsert":
                batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            elif op.action == "replace":
                batch.append(("update", entity, {"mode": UpdateMode.REPLACE, "etag": op.etag or "*",
                                                  "match_condition": MatchConditions.IfNotModified}))
            else:
                extra = {"etag": op.etag, "match_condition": MatchConditions.IfNotModified} if op.etag else {}
                batch.append(("delete", entity, extra))
        results = self.client.submit_transaction(batch)
        return [str((meta or {}).get("etag", "")) for meta in results]

    def close(self) -> None:
        self.client.close()
