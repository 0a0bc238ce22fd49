"""Point-in-time copies of a live index, bringing one back, and making a built index live.

- `snapshot(index, dest)`: under the writer lock (writes and merge swaps wait a moment,
  searches do not), the store is copied with SQLite's backup API and the merged segments'
  files, immutable once named, are hard-linked: the copy is one generation.
- `restore(snapshot, index)`: the copy becomes a new version, published atomically as a
  build is (`storage.directory.publish`).
- `make_live(index, embedder)`: a built index becomes a live one, once: its store is copied,
  its passages become segments of about `live_max_segment` (vectors read back from FAISS,
  term frequencies from the passages' text, each in its article's language), with their
  articles' rows (pooled vectors, whole-article words), the articles' copy bands and
  source counts, published as a new version.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BuildError, IndexUnavailableError
from semsearch.index.embed import Embedder, check_embedder
from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.boilerplate import source_of
from semsearch.index.live import catalog, sources
from semsearch.index.live import copies as live_copies
from semsearch.index.live.segments import Segment, fsync_dir, make_segment, write_folder
from semsearch.index.live.suggestions import with_suggestions
from semsearch.index.live.writer import LIVE_TYPE, SEGMENTS_DIR, _transaction, is_live
from semsearch.index.storage.directory import (
    new_staging_dir,
    publish,
    resolve_index_dir,
    writer_lock,
)
from semsearch.index.storage.keyword_index import analysed_words, keyword_text
from semsearch.index.storage.manifest import (
    MANIFEST_NAME,
    STORE_NAME,
    VECTORS_NAME,
    IndexManifest,
    read_manifest,
)
from semsearch.index.storage.store import StoredChunk, StoreReader, StoreWriter
from semsearch.index.storage.vectors import pooled_vector, read_vector_index, stored_vectors
from semsearch.index.text.analysis import analysed_language, index_words
from semsearch.settings import get_setting


def snapshot(
    index: str | Path, dest: str | Path, settings: Mapping[str, Any] | None = None
) -> Path:
    """Copy the live index at `index` into the new folder `dest`, consistently."""
    out = Path(os.path.abspath(index))
    target = Path(dest)
    if target.exists():
        raise BuildError(f"{target} exists: give a new folder for the snapshot")
    timeout = float(get_setting("live_lock_timeout", settings))
    with writer_lock(out, timeout=timeout):
        version = resolve_index_dir(out)
        if not is_live(read_manifest(version)):
            raise IndexUnavailableError(f"{index} is not a live index: copy its folder instead")
        target.mkdir(parents=True)
        shutil.copy2(version / MANIFEST_NAME, target / MANIFEST_NAME)
        _copy_store(version / STORE_NAME, target / STORE_NAME)
        with contextlib.closing(sqlite3.connect(target / STORE_NAME)) as db:
            listed = catalog.read_segments(db)
        (target / SEGMENTS_DIR).mkdir()
        for row in listed:
            if row.kind == "folder":
                _link_tree(
                    version / SEGMENTS_DIR / str(row.id), target / SEGMENTS_DIR / str(row.id)
                )
    for path in target.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(target)
    return target


def restore(
    source: str | Path, index: str | Path, settings: Mapping[str, Any] | None = None
) -> Path:
    """Make a snapshot the version `index` serves, atomically; returns the version folder."""
    source = Path(source)
    if not is_live(read_manifest(source)):
        raise IndexUnavailableError(f"{source} is not a snapshot of a live index")
    out = Path(os.path.abspath(index))
    with writer_lock(out, timeout=float(get_setting("live_lock_timeout", settings))):
        staging = new_staging_dir(out)
        try:
            shutil.copy2(source / MANIFEST_NAME, staging / MANIFEST_NAME)
            # The store is written in place once served: a copy, so the snapshot stays as is.
            _copy_store(source / STORE_NAME, staging / STORE_NAME)
            _link_tree(source / SEGMENTS_DIR, staging / SEGMENTS_DIR)
            return publish(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def make_live(
    index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> Path:
    """Turn the built index at `index` into a live one (a new version); returns it."""
    out = Path(os.path.abspath(index))
    with writer_lock(out):
        current = resolve_index_dir(out)
        manifest = read_manifest(current)
        if is_live(manifest):
            return current
        check_embedder(manifest, embedder)
        staging = new_staging_dir(out)
        try:
            StoreWriter.copy_of(current / STORE_NAME, staging / STORE_NAME).close()
            vectors = read_vector_index(current / VECTORS_NAME)
            return _publish_live(
                out, staging, manifest, lambda ids: stored_vectors(vectors, ids), None, settings
            )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def upgrade_live(
    index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> Path | None:
    """Bring a live index made before the current format (`catalog.FORMAT`) up to it, as a
    new version published atomically under the writer lock: every passage analysed again in
    its article's language, the articles' rows (pooled vectors from the stored vectors,
    whole-article words), copy bands and source counts written, as `make_live` makes them;
    the chunk ids and vectors are kept. Returns the new version, or None when it is current.

    Crash-safe as a build: until the publish, the new version is a staging folder nothing
    reads (removed on failure; one a SIGKILL leaves is ignored), and the index serves its old
    version; writes wait on the lock meanwhile."""
    from semsearch.index.live.reader import LiveReader

    out = Path(os.path.abspath(index))
    with writer_lock(out, timeout=float(get_setting("live_lock_timeout", settings))):
        current = resolve_index_dir(out)
        manifest = read_manifest(current)
        if not is_live(manifest):
            raise IndexUnavailableError(f"{index} is not a live index: `semsearch live` it")
        check_embedder(manifest, embedder)
        with contextlib.closing(sqlite3.connect(current / STORE_NAME)) as db:
            state = catalog.read_state(db)
        if state.format >= catalog.FORMAT:
            return None
        staging = new_staging_dir(out)
        reader = LiveReader(current)
        try:
            _copy_store(current / STORE_NAME, staging / STORE_NAME)
            return _publish_live(
                out, staging, manifest, reader.stored_vectors, state.next_chunk_id, settings
            )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            reader.close()


def _publish_live(
    out: Path,
    staging: Path,
    manifest: IndexManifest,
    vectors_of: Callable[[list[int]], np.ndarray | None],
    next_chunk_id: int | None,
    settings: Mapping[str, Any] | None,
) -> Path:
    """The store copied into `staging` made a live index of the current format (its live
    tables, if any, made again from its passages and `vectors_of` them), published as the
    new version of `out` (the caller holds the writer lock and removes `staging` on
    failure)."""
    limit = int(get_setting("live_max_segment", settings))
    hnsw_from = int(get_setting("live_hnsw_from", settings))
    store = StoreWriter(staging / STORE_NAME, create=False, durable=True)
    reader = StoreReader(staging / STORE_NAME)
    segments_dir = staging / SEGMENTS_DIR
    segments_dir.mkdir()
    next_chunk = max(store.next_chunk_id, next_chunk_id or manifest.next_chunk_id or 0)
    with _transaction(store.db):
        for table in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", catalog.SCHEMA):
            store.db.execute(f"DROP TABLE IF EXISTS {table}")
        catalog.create_tables(store.db, next_chunk)
    passages = words = articles = article_words = 0
    segment_id = 1
    with contextlib.closing(reader.connect()) as db:
        for group in _article_groups(reader.iter_chunks(db), limit):
            ids = [c.chunk_id for c in group]
            found = vectors_of(ids)
            if found is None:
                raise BuildError("the index's vectors cannot be read back: rebuild it")
            segment, rows = _segment_of(segment_id, group, found, store.db)
            write_folder(segment, segments_dir / str(segment_id), len(group) >= hnsw_from)
            with _transaction(store.db):
                catalog.add_segment(store.db, segment_id, len(group), 0, None)
                words += catalog.count_words(store.db, rows.passage_words, 1)
                article_words += catalog.count_words(
                    store.db, rows.article_words, 1, "live_article_terms"
                )
                catalog.count_languages(store.db, rows.languages, 1)
                for article_id, source, bands in rows.articles:
                    live_copies.add_bands(store.db, article_id, bands)
                    sources.add_article(store.db, source, article_id)
            passages += len(group)
            articles += len(rows.articles)
            segment_id += 1
    with _transaction(store.db):
        catalog.set_state(
            store.db,
            catalog.LiveState(
                0,
                passages,
                words,
                next_chunk,
                segment_id,
                catalog.FORMAT,
                articles,
                article_words,
            ),
        )
    store.db.close()
    live = replace(
        manifest,
        version=staging.name.removesuffix(".partial"),
        vectors=manifest.vectors
        if is_live(manifest)
        else {"type": LIVE_TYPE, "made_from": manifest.vectors},
        files={},
        parent=manifest.version,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        next_chunk_id=next_chunk,
    )
    (staging / MANIFEST_NAME).write_text(live.to_json(), encoding="utf-8")
    return publish(staging, out)


@dataclass
class _Rows:
    """What one segment of a built index's passages adds to the live tables."""

    passage_words: list[list[str]] = field(default_factory=list)
    article_words: list[list[str]] = field(default_factory=list)
    languages: list[tuple[str, int]] = field(default_factory=list)
    articles: list[tuple[str, str | None, list[int] | None]] = field(default_factory=list)


def _article_groups(chunks: Iterator[StoredChunk], limit: int) -> Iterator[list[StoredChunk]]:
    """The passages in groups of about `limit` (at most `limit` unless one article is
    longer), never splitting an article: its row lives in the segment of its passages."""
    group: list[StoredChunk] = []
    for chunk in chunks:
        if len(group) >= limit and chunk.article["id"] != group[-1].article["id"]:
            yield group
            group = []
        group.append(chunk)
    if group:
        yield group


def _segment_of(
    segment_id: int, group: list[StoredChunk], vectors: np.ndarray, db: sqlite3.Connection
) -> tuple[Segment, _Rows]:
    """A segment of a built index's passages, each analysed in its article's language as
    the build did, with its articles' rows (pooled vectors, whole-article words)."""
    rows = _Rows()
    texts = [keyword_text(c.article["title"], c.text) for c in group]
    each = [analysed_language(c.article.get("language")) for c in group]
    rows.passage_words = analysed_words(texts, each)
    keys: list[int] = []
    titles: dict[int, str] = {}  # by article key: the segment's suggestions
    pooled: list[np.ndarray] = []
    start = 0
    while start < len(group):
        first = group[start]
        end = start
        while end < len(group) and group[end].article["id"] == first.article["id"]:
            end += 1
        article_id = str(first.article["id"])
        title, text, publication, url = db.execute(
            "SELECT title, text, publication, url FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        language = first.article.get("language")
        keys.append(first.chunk_id)
        titles[first.chunk_id] = title
        pooled.append(pooled_vector(vectors[start:end]))
        rows.article_words += index_words([keyword_text(title, text)], language=language)
        rows.languages.append((analysed_language(language), end - start))
        source = source_of(
            Article(id=article_id, title="", text="", publication=publication, url=url)
        )
        rows.articles.append((article_id, source, live_copies.band_keys(text)))
        start = end
    segment = make_segment(
        segment_id, np.asarray([c.chunk_id for c in group]), vectors, rows.passage_words
    )
    articles = make_segment(segment_id, np.asarray(keys), np.stack(pooled), rows.article_words)
    return with_suggestions(replace(segment, articles=articles), titles), rows


def _copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a store that may be taking writes (SQLite's backup API)."""
    with (
        contextlib.closing(
            sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        ) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _link_tree(source: Path, target: Path) -> None:
    """Hard links to a folder's files (copies where links cannot be made)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_dir():
            _link_tree(path, target / path.name)
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)
