"""A live index served from a search engine: its writes reach the engine's collection too.

`publish_live(live_dir, uri)` (what `semsearch publish LIVE_DIR --to URI` runs for a live
index) puts every stored passage's vector into a new collection of the engine, records that
collection in the live store (`live_engine`) and switches the engine's catalog to a record
that says `"live": true` and names the live directory. From then on the live directory's
store is the store servers read (articles, passages, the keyword segments with the
collection's BM25 statistics) and the engine answers the dense side
(`semsearch.search.backends.live_engine`).

Every write to the live directory then also goes to the engine, through an outbox kept in
the store (docs/scaling.md, "Writes to an index served from an engine"):

1. the write's transaction (`SegmentWriter`, the commit point of every write) also appends
   one outbox row a new passage (chunk id, article id, vector) and one a passage taken out
   (chunk id, no vector): the engine's work is durable with the batch, or absent with it;
2. after the commit, still under the index's writer lock, `EngineMirror.flush` sends the
   outbox to the engine in order (upserts and deletes by chunk id) and then deletes the rows
   it sent, in a second transaction; the write is answered only after that.

A crash (or the engine down) between the two leaves the batch committed in the store and its
rows in the outbox: the next write, and every server opening the index, flushes the outbox
first, under the same lock. The replay is idempotent: chunk ids are never reused, an upsert
by chunk id (the collection's primary key) writes the same row again, a delete of a chunk id
already gone deletes nothing, and rows are sent in the order they were committed, so an
upsert is never sent after the delete of the same chunk. One lock orders every flush: two
processes can never send one outbox out of order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BuildError, IndexUnavailableError, SemsearchError
from semsearch.index.storage.directory import crash_point, resolve_index_dir, writer_lock
from semsearch.index.storage.manifest import STORE_NAME, read_manifest
from semsearch.index.storage.milvus.address import parse_engine_uri
from semsearch.index.storage.milvus.client import EnginePassage, MilvusPassages, collection_name

log = logging.getLogger(__name__)

#: Outbox rows sent to the engine a call (a publish of the whole index goes in these steps).
FLUSH_BATCH = 1_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS live_engine (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    uri TEXT NOT NULL,          -- the engine URI the index is published at
    collection TEXT NOT NULL    -- the passage collection writes go to
);
CREATE TABLE IF NOT EXISTS live_engine_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    generation INTEGER NOT NULL,
    chunk_id INTEGER NOT NULL,
    article_id TEXT,
    vector BLOB                 -- float32, or NULL: the passage is deleted from the engine
);
"""


@dataclass(frozen=True)
class EngineMirror:
    """The engine collection a live index's writes go to (its `live_engine` row)."""

    uri: str
    collection: str

    def passages(self) -> MilvusPassages:
        """A client of the collection (Milvus Lite shares one engine process a database)."""
        passages = parse_engine_uri(self.uri).passages(self.collection)
        passages.timeout = max(passages.timeout, 30)  # writes take longer than queries
        return passages

    def record(
        self,
        db: sqlite3.Connection,
        generation: int,
        added: Sequence[int],
        owners: Sequence[str],
        vectors: np.ndarray | None,
        removed: Sequence[int],
    ) -> None:
        """Append a write's engine work to the outbox, in the caller's transaction: the
        deletes of the passages it took out, then the upserts of those it added."""
        db.executemany(
            "INSERT INTO live_engine_outbox (generation, chunk_id) VALUES (?, ?)",
            ((generation, int(c)) for c in removed),
        )
        if not added:
            return
        assert vectors is not None and len(vectors) == len(added) == len(owners)
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        db.executemany(
            "INSERT INTO live_engine_outbox (generation, chunk_id, article_id, vector) "
            "VALUES (?, ?, ?, ?)",
            (
                (generation, int(c), owner, rows[i].tobytes())
                for i, (c, owner) in enumerate(zip(added, owners, strict=True))
            ),
        )

    def flush(self, db: sqlite3.Connection) -> int:
        """Send the outbox to the engine in order and delete what was sent; the rows sent.
        The caller holds the index's writer lock (one flush at a time, in order). An engine
        that does not answer raises IndexUnavailableError and leaves the rest for the next
        flush."""
        sent = 0
        passages: MilvusPassages | None = None
        try:
            while True:
                rows = db.execute(
                    "SELECT seq, chunk_id, article_id, vector FROM live_engine_outbox "
                    "ORDER BY seq LIMIT ?",
                    (FLUSH_BATCH,),
                ).fetchall()
                if not rows:
                    return sent
                if passages is None:
                    passages = self.passages()
                for run in _runs(rows):
                    if run[0][3] is None:
                        expression = f"chunk_id in [{', '.join(str(int(r[1])) for r in run)}]"
                        passages.call(
                            "deleting passages", "delete", self.collection, filter=expression
                        )
                    else:
                        passages.write(
                            EnginePassage(
                                chunk_id=int(chunk_id),
                                article_id=str(owner or ""),
                                vector=np.frombuffer(vector, dtype=np.float32),
                            )
                            for _, chunk_id, owner, vector in run
                        )
                crash_point("live-engine-before-outbox-delete")
                with _transaction(db):
                    db.execute("DELETE FROM live_engine_outbox WHERE seq <= ?", (rows[-1][0],))
                sent += len(rows)
        finally:
            if passages is not None:
                passages.close()


def _runs(rows: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Consecutive rows of the same kind (upserts, or deletes): sent as one call each, in
    order."""
    run: list[tuple[Any, ...]] = []
    for row in rows:
        if run and (run[-1][3] is None) != (row[3] is None):
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def ensure_tables(db: sqlite3.Connection) -> None:
    """The mirror's tables (in the caller's transaction; nothing when they are there)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def engine_mirror(db: sqlite3.Connection) -> EngineMirror | None:
    """The engine collection the index's writes go to; None when it is not published live."""
    try:
        row = db.execute("SELECT uri, collection FROM live_engine WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # no such table: never published to an engine
        return None
    return EngineMirror(row[0], row[1]) if row else None


def pending(db: sqlite3.Connection) -> int:
    """Outbox rows not sent to the engine yet (0 without an outbox)."""
    try:
        return int(db.execute("SELECT count(*) FROM live_engine_outbox").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def replay(live_dir: str | Path, timeout: float = 30.0) -> int:
    """Send what a crash left in the outbox of the live index at `live_dir` (under its writer
    lock); the rows sent. A server opening an index served from an engine calls this."""
    from semsearch.index.storage.store import StoreWriter

    live_dir = Path(os.path.abspath(live_dir))
    store_path = resolve_index_dir(live_dir) / STORE_NAME
    with contextlib.closing(sqlite3.connect(store_path)) as peek:
        if not pending(peek):
            return 0
    with writer_lock(live_dir, timeout=timeout):
        store = StoreWriter(resolve_index_dir(live_dir) / STORE_NAME, create=False, durable=True)
        try:
            mirror = engine_mirror(store.db)
            sent = mirror.flush(store.db) if mirror is not None else 0
        finally:
            store.db.close()
    if sent:
        log.info("sent %d passages a crash left in the outbox of %s to the engine", sent, live_dir)
    return sent


@dataclass(frozen=True)
class LivePublishReport:
    """What publishing a live index wrote."""

    uri: str
    source: Path
    collection: str
    passages: int
    seconds: float
    dropped: tuple[str, ...] = ()

    def summary(self) -> str:
        lines = [
            f"published: {self.source} (live) -> {self.uri}",
            f"passages: {self.passages} in collection {self.collection}",
            "store: the live index's own (writes go to it and to the engine)",
        ]
        if self.dropped:
            lines.append(f"dropped: {', '.join(self.dropped)}")
        lines.append(f"seconds: {self.seconds:.1f}")
        return "\n".join(lines)


def publish_live(live_dir: str | Path, uri: str, vector_index: str = "FLAT") -> LivePublishReport:
    """Serve the live index at `live_dir` from the engine at `uri` (module docstring). Under
    the index's writer lock, so no write falls between the copy and the switch."""
    from semsearch.index.build.publish import owned_by
    from semsearch.index.live.catalog import read_state
    from semsearch.index.live.reader import LiveReader
    from semsearch.index.storage.milvus.catalog import (
        CURRENT_KEY,
        ENGINE_FORMAT,
        read_record,
        write_record,
    )
    from semsearch.index.storage.store import StoreWriter

    started = time.perf_counter()
    source = Path(os.path.abspath(live_dir))
    address = parse_engine_uri(uri)
    catalog = address.passages()
    catalog.timeout = max(catalog.timeout, 30)
    created: MilvusPassages | None = None
    with writer_lock(source, timeout=60.0):
        version = resolve_index_dir(source)
        manifest = read_manifest(version)
        store = StoreWriter(version / STORE_NAME, create=False, durable=True)
        db = store.db
        switched = False
        try:
            previous = read_record(catalog, CURRENT_KEY)
            before = owned_by(previous)
            name = collection_name(f"{address.collection}__{version.name}__live")
            taken = {o["passages"] for o in before}
            while name in taken or catalog.with_collection(name).exists():
                name = collection_name(
                    f"{address.collection}__{version.name}__{uuid.uuid4().hex[:8]}"
                )
            passages = catalog.with_collection(name)
            passages.vector_index = vector_index
            passages.create(int(manifest.model["dimension"]))
            created = passages
            mirror = EngineMirror(uri, name)
            with _transaction(db):
                ensure_tables(db)
                db.execute("DELETE FROM live_engine_outbox")  # a previous collection's
                db.execute("DELETE FROM live_engine")
            generation = read_state(db).generation
            ids = [int(r[0]) for r in db.execute("SELECT id FROM chunks ORDER BY id")]
            owners = dict(db.execute("SELECT id, article_id FROM chunks").fetchall())
            reader = LiveReader(version)
            try:
                for start in range(0, len(ids), FLUSH_BATCH):
                    part = ids[start : start + FLUSH_BATCH]
                    vectors = reader.stored_vectors(part)
                    if vectors is None:
                        raise BuildError(f"the vectors of {source} cannot be read back")
                    with _transaction(db):
                        mirror.record(db, generation, part, [owners[c] for c in part], vectors, [])
                    mirror.flush(db)
            finally:
                reader.close()
            if passages.count() != len(ids):
                raise BuildError(
                    f"publishing {source} to {uri}: {passages.count()} passages in the engine, "
                    f"{len(ids)} in the store: nothing was switched"
                )
            with _transaction(db):  # from here on, writes go to the engine too
                db.execute(
                    "INSERT INTO live_engine (id, uri, collection) VALUES (1, ?, ?)", (uri, name)
                )
            owns = [{"passages": name, "store_folder": ""}]
            if previous:
                owns += [o for o in before if o["passages"] == previous.get("passages")]
            kept = {o["passages"] for o in owns}
            record: dict[str, Any] = {
                "engine_format": ENGINE_FORMAT,
                "live": True,
                "manifest": asdict(manifest),
                "passages": name,
                "keyword": "live",
                "vector_index": passages.vector_index,
                "source": str(source),
                "owns": owns,
                "dropping": [o for o in before if o["passages"] not in kept],
                "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            write_record(catalog, CURRENT_KEY, record)
            switched = True
        except Exception as exc:
            if not switched:
                with contextlib.suppress(sqlite3.Error), _transaction(db):
                    ensure_tables(db)
                    db.execute("DELETE FROM live_engine")
                    db.execute("DELETE FROM live_engine_outbox")
                if created is not None:
                    with contextlib.suppress(Exception):
                        created.drop()
            if isinstance(exc, SemsearchError):
                raise
            raise BuildError(f"publishing {source} to {uri} failed: {exc}") from exc
        finally:
            db.close()
    dropped = []
    for owned in before:
        if owned["passages"] not in kept:
            try:
                catalog.with_collection(owned["passages"]).drop()
                dropped.append(owned["passages"])
            except IndexUnavailableError:
                log.warning("collection %s of an older version could not be dropped", owned)
            folder = Path(owned["store_folder"])
            if owned["store_folder"] and (folder / STORE_NAME).is_file():
                shutil.rmtree(folder, ignore_errors=True)
    catalog.close()
    return LivePublishReport(
        uri, source, name, len(ids), round(time.perf_counter() - started, 2), tuple(dropped)
    )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the store's connection is in
    autocommit mode: `semsearch.index.live.writer` commits the same way)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
