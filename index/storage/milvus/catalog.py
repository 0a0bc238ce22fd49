"""The catalog of an engine: what `semsearch publish` published, kept in the engine itself.

A catalog record (`write_record`/`read_record`, collection `<name>__meta`) holds the
manifest of what was published, which passage collection and store copy are current and
which collections and store folders the index owns: publishing swaps it with one upsert of
its head row (the parts it names are written first, under a fresh nonce), as the directory
backend swaps its link. `read_engine_record` reads the current one of an engine URI.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from semsearch.errors import IndexMismatchError, IndexUnavailableError
from semsearch.index.storage.milvus.address import parse_engine_uri
from semsearch.index.storage.milvus.client import MAX_TEXT, MilvusPassages

log = logging.getLogger(__name__)

#: The layout of what `semsearch publish` writes into an engine (the catalog record, the
#: passage collection's fields); a server refuses another.
ENGINE_FORMAT = 1
#: The catalog key of the published index.
CURRENT_KEY = "current"
_META_PART = 60_000  # characters of a catalog record per row (VARCHAR holds 65,535 bytes)


def write_record(engine: MilvusPassages, key: str, record: dict[str, Any]) -> None:
    """Keep a JSON record under `key` in the catalog of `engine`'s collection (`<name>__meta`),
    replacing the old one in one upsert.

    The parts are written first under a fresh nonce, then the head row that names the
    nonce and the part count: a reader sees the old record or the whole new one, never
    parts of both. The parts of the record before the old one are deleted then (a
    reader may still be reading the old one's)."""
    meta = _meta(engine)
    old_head = meta.call("reading the catalog", "get", meta.collection, ids=[key])
    old = _head(old_head[0]["value"]) if old_head else {}
    nonce = uuid.uuid4().hex
    text = json.dumps(record, sort_keys=True)
    parts = [text[i : i + _META_PART] for i in range(0, len(text), _META_PART)] or [""]
    rows = [
        {"key": f"{key}/{nonce}/{i}", "value": part, "vector": [0.0, 0.0]}
        for i, part in enumerate(parts)
    ]
    previous = {"nonce": old.get("nonce"), "parts": old.get("parts", 0)}
    head_value = json.dumps({"parts": len(parts), "nonce": nonce, "previous": previous})
    head = {"key": key, "value": head_value, "vector": [0.0, 0.0]}
    meta.call("writing the catalog", "upsert", meta.collection, rows)
    meta.call("writing the catalog", "upsert", meta.collection, [head])
    before = old.get("previous") or {}
    stale = _part_keys(key, before.get("nonce"), int(before.get("parts") or 0))
    if stale:
        try:
            meta.call("tidying the catalog", "delete", meta.collection, ids=stale)
        except IndexUnavailableError:  # the switch is made: leftovers are harmless
            log.warning("old parts of catalog record %r left in %s", key, meta.collection)


def read_record(engine: MilvusPassages, key: str) -> dict[str, Any] | None:
    """The JSON record kept under `key`, or None."""
    meta = engine.with_collection(f"{engine.collection}__meta")
    if not meta.exists():
        return None
    head = meta.call("reading the catalog", "get", meta.collection, ids=[key])
    if not head:
        return None
    try:
        found = json.loads(head[0]["value"])
        parts = int(found["parts"])
        keys = _part_keys(key, found.get("nonce"), parts)
        rows = {
            r["key"]: r["value"]
            for r in meta.call("reading the catalog", "get", meta.collection, ids=keys)
        }
        if set(rows) != set(keys):
            raise IndexUnavailableError(
                f"the catalog record {key!r} of {engine.collection!r} is incomplete: "
                "publish the index again"
            )
        record = json.loads("".join(rows[k] for k in keys))
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        log.warning("catalog record %r of %s on %s: %r", key, meta.collection, engine.uri, exc)
        raise IndexUnavailableError(
            f"the catalog record {key!r} of {engine.collection!r} cannot be read: "
            "publish the index again"
        ) from exc
    if not isinstance(record, dict):
        raise IndexUnavailableError(
            f"the catalog record {key!r} of {engine.collection!r} is not a record: "
            "publish the index again"
        )
    return record


def _meta(engine: MilvusPassages) -> MilvusPassages:
    from pymilvus import DataType

    meta = engine.with_collection(f"{engine.collection}__meta")
    if not meta.exists():
        client = engine.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one
        indexes = client.prepare_index_params()
        indexes.add_index("vector", index_type="FLAT", metric_type="L2")
        meta.call(
            "creating the catalog",
            "create_collection",
            meta.collection,
            schema=schema,
            index_params=indexes,
            consistency_level="Strong",
        )
    return meta


def _head(value: str) -> dict[str, Any]:
    """A catalog head row's value ({} when it cannot be read)."""
    try:
        head = json.loads(value)
    except ValueError:
        return {}
    return head if isinstance(head, dict) else {}


def _part_keys(key: str, nonce: str | None, parts: int) -> list[str]:
    """The row keys of a catalog record's parts ("key/i" for records written before the
    nonce)."""
    return [f"{key}/{nonce}/{i}" if nonce else f"{key}/{i}" for i in range(parts)]


def read_engine_record(uri: str) -> dict[str, Any]:
    """The catalog record of the index published at `uri`, or a clear error."""
    catalog = parse_engine_uri(uri).passages()
    try:
        record = read_record(catalog, CURRENT_KEY)
    finally:
        catalog.close()  # a client of its own (a connection each): the watcher polls this
    if record is None:
        raise IndexUnavailableError(
            f"no index published at {uri}: publish one with "
            f"`semsearch publish INDEX_DIR --to {uri}`"
        )
    if record.get("engine_format") != ENGINE_FORMAT:
        raise IndexMismatchError(
            f"the index at {uri} has engine format {record.get('engine_format')}, this program "
            f"reads {ENGINE_FORMAT}: publish it again with this version of semsearch"
        )
    return record
