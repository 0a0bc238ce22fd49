"""Writes into a live index: upsert and delete by article id, durable before they are
acknowledged, visible to every reader at the generation the answer names.

A write (docs/live-index.md, "What a write does"): items that cannot be written are refused
one by one; the rest are cleaned as a collection, compared with the stored content hashes,
chunked and embedded outside any lock; then, under the index's writer lock, one SQLite
transaction stores the articles and passages, a new inline segment with their vectors and
word counts, the tombstones of what they replace, the collection's document frequencies
and the next generation, and is committed with fsync (SQLite WAL, synchronous FULL). **The
batch is the unit**: all of it is visible or none. An id given twice in one batch: the
later item is written, the earlier is refused and names the later's line.

Infrastructure failures are errors, not outcomes: a full disk is `StorageFullError` (507;
the transaction is rolled back, every write committed before stays), a writer lock held
past `live_lock_timeout` is `WriterBusyError` (503).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import IndexUnavailableError, StorageFullError
from semsearch.index.build.builder import make_chunker
from semsearch.index.embed import Embedder, check_embedder, manifest_model
from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.boilerplate import learn_boilerplate, merge_learned, source_of
from semsearch.index.ingest.collection import clean_collection
from semsearch.index.ingest.copies import Copy, as_copy, is_reread
from semsearch.index.live import catalog, sources
from semsearch.index.live import copies as live_copies
from semsearch.index.live import engine as live_engine
from semsearch.index.live.segments import make_segment, to_blob
from semsearch.index.live.suggestions import with_suggestions
from semsearch.index.storage.directory import (
    crash_point,
    new_staging_dir,
    publish,
    resolve_index_dir,
    writer_lock,
)
from semsearch.index.storage.keyword_index import keyword_text
from semsearch.index.storage.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    STORE_NAME,
    IndexManifest,
    library_versions,
    read_manifest,
)
from semsearch.index.storage.store import StoreWriter
from semsearch.index.storage.vectors import pooled_vector
from semsearch.index.text.analysis import analysed_language, index_words
from semsearch.index.text.chunking import Chunk, Chunker
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: The manifest's `vectors.type` of a live index (its vectors are in segments).
LIVE_TYPE = "live"
SEGMENTS_DIR = "segments"
#: Passages embedded per model call group while a batch is prepared.
_EMBED_GROUP = 64


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one item of a write."""

    id: str
    status: str  # "created" | "updated" | "unchanged" | "deleted" | "refused"
    reason: str | None = None
    line: int | None = None  # the item's line/position in the request body, when known


@dataclass(frozen=True)
class WriteReport:
    """Every item's outcome, and the generation at which the written ones are visible."""

    outcomes: tuple[WriteOutcome, ...]
    generation: int


@dataclass
class _Prepared:
    """An article ready to commit: its passages, their vectors and index words."""

    article: Article
    position: int
    chunks: list[Chunk] = field(default_factory=list)
    vectors: np.ndarray | None = None
    words: list[list[str]] = field(default_factory=list)
    article_words: list[str] = field(default_factory=list)  # title + whole text (format 2)
    bands: list[int] | None = None  # its MinHash LSH band keys (format 2; None: too short)
    copy_of: str | None = None  # stored as a copy of this kept article, not on its own
    refused: str | None = None  # why cleaning the batch left it out
    same_as: str | None = None  # the same page as this stored article: nothing to write


@dataclass(frozen=True)
class _Removed:
    """What an article taken out of the index held: its passages' chunk ids and words, its
    whole-article words, the language they were analysed in."""

    chunk_ids: list[int]
    words: list[list[str]]
    article_words: list[str]
    language: str


@dataclass(frozen=True)
class _Batch:
    """A cleaned, prepared batch: its articles by id, the boilerplate blocks learned with it,
    the copies found in it and of stored articles (by the id of the article kept), and the
    sources whose boilerplate was learned again (at their article counts)."""

    prepared: dict[str, _Prepared]
    learned: dict[str, set[str]]
    copies: dict[str, list[Copy]]
    relearned: dict[str, int] = field(default_factory=dict)


def is_live(manifest: IndexManifest) -> bool:
    """Whether a manifest is a live index's."""
    return (manifest.vectors or {}).get("type") == LIVE_TYPE


def create_live_index(
    out: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> Path:
    """An empty live index at `out`, published as a new version (atomically, as a build)."""
    out = Path(os.path.abspath(out))
    chunker = make_chunker(embedder, dict(settings or {}))
    with writer_lock(out):
        if out.exists():  # another writer made it while this one waited for the lock
            return resolve_index_dir(out)
        staging = new_staging_dir(out)
        try:
            StoreWriter(staging / STORE_NAME).close()  # the schema every store has
            store = StoreWriter(staging / STORE_NAME, create=False, durable=True)
            with _transaction(store.db):
                catalog.create_tables(store.db)
            store.db.close()
            (staging / SEGMENTS_DIR).mkdir()
            manifest = IndexManifest(
                format_version=FORMAT_VERSION,
                version=staging.name.removesuffix(".partial"),
                model=manifest_model(embedder),
                chunker=chunker.settings(),
                counts={"articles": 0, "chunks": 0},
                built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds=0.0,
                libraries=library_versions(),
                vectors={"type": LIVE_TYPE},
                next_chunk_id=1,
            )
            (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            return publish(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


class SegmentWriter:
    """The writer of one live index: thread-safe; any number of processes may each hold
    one (their commits take turns under the index's writer lock)."""

    def __init__(
        self, index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.index = Path(os.path.abspath(index))
        self.embedder = embedder
        self.settings = dict(settings or {})
        self._lock = threading.RLock()
        self._version: Path | None = None
        self._store: StoreWriter | None = None
        self._chunker: Chunker | None = None
        self._merging: threading.Thread | None = None
        self._closed = False
        self._format = 1
        #: The engine the index is served from, read under the lock for each write
        #: (`semsearch.index.live.engine`); None: the index is its own.
        self._mirror: live_engine.EngineMirror | None = None
        with self._lock:
            self._open_version()

    # --- the version written to ----------------------------------------------------------

    def _open_version(self) -> StoreWriter:
        """The store of the version `index` points to now (a build or restore may have
        swapped in another since the last write)."""
        version = resolve_index_dir(self.index)
        if self._store is not None and version == self._version:
            return self._store
        manifest = read_manifest(version)
        if not is_live(manifest):
            raise IndexUnavailableError(
                f"{self.index} is a built index, not a live one: make it live with "
                f"`semsearch live {self.index}` (once), then write to it"
            )
        check_embedder(manifest, self.embedder)
        if self._store is not None:
            self._store.db.close()
        self._chunker = Chunker(
            self.embedder.token_offsets,
            self.embedder.max_seq_tokens,
            **{k: v for k, v in manifest.chunker.items() if k != "window_tokens"},
        )
        self._store = StoreWriter(version / STORE_NAME, create=False, durable=True)
        self._version = version
        self._format = catalog.read_state(self._store.db).format
        return self._store

    @property
    def version_dir(self) -> Path:
        """The version folder written to by the last write."""
        with self._lock:
            self._open_version()
            assert self._version is not None
            return self._version

    @contextlib.contextmanager
    def _committing(self) -> Iterator[StoreWriter]:
        """This thread's turn, the index's writer lock, and the store of the version it
        points to now."""
        if self._closed:
            raise IndexUnavailableError("this live index writer is closed")
        timeout = float(get_setting("live_lock_timeout", self.settings))
        with self._lock, writer_lock(self.index, timeout=timeout):
            store = self._open_version()
            # Served from an engine: what a crash left unsent goes first, then this write's.
            self._mirror = live_engine.engine_mirror(store.db)
            if self._mirror is not None:
                self._mirror.flush(store.db)
            yield store
            if self._mirror is not None:
                crash_point("live-committed-before-engine")
                try:
                    self._mirror.flush(store.db)
                except IndexUnavailableError as exc:
                    raise IndexUnavailableError(
                        "the write is stored, durable, but the search engine did not take it "
                        "yet: it is sent before the next write and when a server opens the "
                        "index; the same request sent again answers its articles unchanged"
                    ) from exc

    # --- writes ------------------------------------------------------------------------------

    def upsert(
        self, articles: Sequence[Article], lines: Sequence[int] | None = None
    ) -> WriteReport:
        """Create or replace articles by id (an unchanged content hash is a no-op); `lines`
        are the items' lines in the request (their positions, 1 on, when not given)."""
        positions = list(lines) if lines is not None else list(range(1, len(articles) + 1))
        outcomes: dict[int, WriteOutcome] = {}
        taken = self._refuse(articles, positions, outcomes)
        batch = self._prepare([articles[i] for i in taken], [positions[i] for i in taken])
        generation = self._commit(batch, outcomes)
        ordered = tuple(outcomes[p] for p in positions if p in outcomes)
        self._maybe_merge()
        return WriteReport(ordered, generation)

    def delete(self, ids: Sequence[str]) -> WriteReport:
        """Delete articles by id: their passages become tombstones at once; an unknown id is
        refused."""
        outcomes: list[WriteOutcome] = []
        with self._committing() as store:
            db = store.db
            try:
                with _transaction(db):
                    state = catalog.read_state(db)
                    generation = state.generation + 1
                    seen: set[str] = set()
                    removed: list[_Removed] = []
                    for line, article_id in enumerate(ids, start=1):
                        if article_id in seen:
                            outcomes.append(
                                WriteOutcome(article_id, "refused", "given twice", line)
                            )
                            continue
                        seen.add(article_id)
                        if store.content_hash(article_id) is None:
                            outcomes.append(
                                WriteOutcome(article_id, "refused", "no article with this id", line)
                            )
                            continue
                        removed.append(self._take_off(store, article_id))
                        outcomes.append(WriteOutcome(article_id, "deleted", None, line))
                    if not removed:
                        raise _NothingChanged(state.generation)
                    state = self._count_removed(db, state, removed)
                    catalog.add_tombstones(
                        db, (c for r in removed for c in r.chunk_ids), generation
                    )
                    if self._mirror is not None:
                        gone = [c for r in removed for c in r.chunk_ids]
                        self._mirror.record(db, generation, [], [], None, gone)
                    catalog.set_state(db, _replace_state(state, generation=generation))
                    crash_point("live-before-commit")
            except _NothingChanged as nothing:
                generation = nothing.generation
        self._maybe_merge()
        return WriteReport(tuple(outcomes), generation)

    def close(self) -> None:
        """Wait for a merge under way, then close the store."""
        merging = self._merging
        if merging is not None:
            merging.join()
        with self._lock:
            self._closed = True
            if self._store is not None:
                self._store.db.close()
                self._store = None

    # --- the steps of an upsert --------------------------------------------------------------

    def _refuse(
        self, articles: Sequence[Article], positions: list[int], outcomes: dict[int, WriteOutcome]
    ) -> list[int]:
        """Refuse what cannot be written; returns the indexes of the items taken on."""
        longest = int(get_setting("live_max_id_length", self.settings))
        last: dict[str, int] = {}
        for i, article in enumerate(articles):
            last[article.id] = i
        taken = []
        for i, article in enumerate(articles):
            reason = None
            if not article.id or not article.id.strip():
                reason = "no id"
            elif len(article.id) > longest:
                reason = f"the id is longer than {longest} characters"
            elif not article.text or not article.text.strip():
                reason = "no text"
            elif last[article.id] != i:
                later = positions[last[article.id]]
                reason = (
                    f"the same id comes again later in this batch (line {later}), which is written"
                )
            if reason is None:
                taken.append(i)
            else:
                outcomes[positions[i]] = WriteOutcome(article.id, "refused", reason, positions[i])
        return taken

    def _prepare(self, articles: list[Article], positions: list[int]) -> _Batch:
        """Clean the batch as a collection, then chunk and embed what is new or changed
        (outside the writer lock: the model is the slow part)."""
        if not articles:
            return _Batch({}, {}, {})
        with self._lock:
            store = self._open_version()
            known = store.learned_blocks()
            fresh = self._format >= 2
            relearned_at: dict[str, int] = {}
            fallback = ""
            if fresh:
                known, relearned_at = self._relearn(store.db, articles, known)
                fallback = next(iter(catalog.read_languages(store.db)), "")
        find_copies = bool(get_setting("find_copies", self.settings))
        collection = clean_collection(articles, known, find_copies, main_language=fallback)
        refused = {s.origin: s.reason for s in collection.skipped}
        position_of = {a.id: p for a, p in zip(articles, positions, strict=True)}
        prepared: dict[str, _Prepared] = {}
        owner = {c.id: kept for kept, copies in collection.copies.items() for c in copies}
        for article in articles:
            if article.id in owner:
                prepared[article.id] = _Prepared(
                    article, position_of[article.id], copy_of=owner[article.id]
                )
        copies = {kept: list(found) for kept, found in collection.copies.items()}
        kept = {a.id for a in collection.articles}
        for article in articles:  # refused while cleaning (a field over its limit, ...)
            if article.id not in kept and article.id not in owner:
                prepared[article.id] = _Prepared(
                    article,
                    position_of[article.id],
                    refused=refused.get(article.origin, "refused while cleaning the batch"),
                )
        with self._lock:
            hashes = {a.id: store.content_hash(a.id) for a in collection.articles}
        changed = []
        for article in collection.articles:
            item = _Prepared(article, position_of[article.id])
            prepared[article.id] = item
            if hashes[article.id] != article.content_hash():
                changed.append(item)
        if fresh and find_copies:
            # New ids only: an article already stored stays itself when it changes.
            new = [item for item in changed if hashes[item.article.id] is None]
            kept_as_is = [item for item in changed if hashes[item.article.id] is not None]
            changed = kept_as_is + self._copies_of_stored(new, prepared, copies)
        self._chunk_and_embed(changed)
        return _Batch(prepared, collection.learned, copies, relearned_at)

    def _relearn(
        self, db: sqlite3.Connection, articles: list[Article], known: dict[str, set[str]]
    ) -> tuple[dict[str, set[str]], dict[str, int]]:
        """The blocks learned so far, with those of the batch's sources that have grown
        enough learned again from their newest stored articles and the batch's
        (`semsearch.index.live.sources`); and the counts they were learned at."""
        factor = float(get_setting("live_relearn_factor", self.settings))
        batch: dict[str, list[Article]] = {}
        for article in articles:
            if (source := source_of(article)) is not None:
                batch.setdefault(source, []).append(article)
        stored = sources.counts(db, batch)
        relearned: dict[str, set[str]] = {}
        learned_at: dict[str, int] = {}
        for source, members in batch.items():
            count, last = stored.get(source, (0, 0))
            if count and sources.is_due(count + len(members), last, factor):
                sample = sources.newest_articles(db, source, sources.RELEARN_SAMPLE)
                relearned |= learn_boilerplate(sample + members)
                learned_at[source] = count + len(members)
        return merge_learned(known, relearned), learned_at

    def _copies_of_stored(
        self,
        changed: list[_Prepared],
        prepared: dict[str, _Prepared],
        copies: dict[str, list[Copy]],
    ) -> list[_Prepared]:
        """The batch's new articles that are not copies of stored ones (`live.copies`): a
        copy of a stored article is kept as that article's copy (with the batch's copies of
        it); the same page as a stored one is left unchanged. Returns those to index."""
        batch_ids = set(prepared)
        to_index = []
        for item in changed:
            article = item.article
            item.bands = live_copies.band_keys(article.text)
            with self._lock:
                match = live_copies.best_stored_match(
                    self._open_version().db, article.text, item.bands, batch_ids
                )
            if match is None:
                to_index.append(item)
                continue
            stored = Article(
                id=match.article_id,
                title="",
                text="",
                url=match.url,
                publication=match.publication,
            )
            if match.similarity >= 1.0 and is_reread(stored, article):
                item.same_as = match.article_id
                continue
            item.copy_of = match.article_id
            found = copies.setdefault(match.article_id, [])
            found.append(as_copy(article, match.similarity))
            for copy in copies.pop(article.id, []):  # its own copies follow it
                found.append(copy)
                prepared[copy.id].copy_of = match.article_id
        return to_index

    def _chunk_and_embed(self, items: list[_Prepared]) -> None:
        assert self._chunker is not None
        chunker = self._chunker
        texts: list[str] = []
        fresh = self._format >= 2
        for item in items:
            article = item.article
            item.chunks = chunker.chunk(article.text)
            texts += [chunker.embedding_text(article.title, c.text) for c in item.chunks]
            # Format 2: the article's own language, as a build analyses it; before, English.
            language = article.language if fresh else None
            item.words = index_words(
                [keyword_text(article.title, c.text) for c in item.chunks], language=language
            )
            if fresh:
                whole = keyword_text(article.title, article.text)
                item.article_words = index_words([whole], language=language)[0]
                if item.bands is None:
                    item.bands = live_copies.band_keys(article.text)
        vectors = [
            self.embedder.encode_documents(texts[i : i + _EMBED_GROUP])
            for i in range(0, len(texts), _EMBED_GROUP)
        ]
        stacked = (
            np.concatenate(vectors)
            if vectors
            else np.zeros((0, self.embedder.dimension), dtype=np.float32)
        )
        start = 0
        for item in items:
            item.vectors = stacked[start : start + len(item.chunks)]
            start += len(item.chunks)

    def _commit(self, batch: _Batch, outcomes: dict[int, WriteOutcome]) -> int:
        """One transaction for the whole batch; returns the generation it is visible at."""
        if not batch.prepared:
            with self._lock:
                return catalog.read_generation(self._open_version().db)
        with self._committing() as store:
            db = store.db
            try:
                with _transaction(db):
                    return self._apply(store, batch, outcomes)
            except _NothingChanged as nothing:
                return nothing.generation

    def _apply(self, store: StoreWriter, batch: _Batch, outcomes: dict[int, WriteOutcome]) -> int:
        db = store.db
        state = catalog.read_state(db)
        generation = state.generation + 1
        store.next_chunk_id = state.next_chunk_id
        fresh = state.format >= 2
        removed: list[_Removed] = []
        ids: list[int] = []
        owners: list[str] = []  # each passage's article id (an engine's row needs it)
        vectors: list[np.ndarray] = []
        words: list[list[str]] = []
        keys: list[int] = []
        titles: dict[int, str] = {}  # by article key: the segment's suggestions
        pooled: list[np.ndarray] = []
        article_words: list[list[str]] = []
        languages: list[tuple[str, int]] = []
        for item in batch.prepared.values():
            article, line = item.article, item.position
            if item.refused is not None:
                outcomes[line] = WriteOutcome(article.id, "refused", item.refused, line)
                continue
            if item.same_as is not None:
                outcomes[line] = WriteOutcome(
                    article.id, "unchanged", f"the same page as the stored {item.same_as!r}", line
                )
                continue
            if (
                item.copy_of is not None
                and item.copy_of not in batch.prepared
                and store.content_hash(item.copy_of) is None
            ):  # the stored article it copies was deleted since it was found
                outcomes[line] = WriteOutcome(
                    article.id,
                    "refused",
                    f"a copy of {item.copy_of!r}, deleted meanwhile: send it again",
                    line,
                )
                continue
            if item.copy_of is not None:
                outcomes[line] = WriteOutcome(
                    article.id,
                    "created",
                    f"stored as a copy of {item.copy_of!r}, not indexed on its own",
                    line,
                )
                continue
            stored = store.content_hash(article.id)
            if stored == article.content_hash():
                outcomes[line] = WriteOutcome(article.id, "unchanged", None, line)
                continue
            if item.vectors is None:  # changed by another writer since it was compared
                self._chunk_and_embed([item])
            if not item.chunks:
                outcomes[line] = WriteOutcome(
                    article.id, "refused", "no text to index after cleaning", line
                )
                continue
            status = "created"
            if stored is not None:
                removed.append(self._take_off(store, article.id))
                status = "updated"
            written = store.add(article, item.chunks)
            ids += written
            owners += [article.id] * len(written)
            assert item.vectors is not None
            vectors.append(item.vectors)
            words += item.words
            if fresh:
                keys.append(written[0])
                titles[written[0]] = article.title
                pooled.append(pooled_vector(item.vectors))
                article_words.append(item.article_words)
                languages.append((analysed_language(article.language), len(written)))
                live_copies.add_bands(db, article.id, item.bands)
                sources.add_article(db, source_of(article), article.id)
            outcomes[line] = WriteOutcome(article.id, status, None, line)
        copied = False
        for kept, found in batch.copies.items():
            if found and store.content_hash(kept) is not None:
                store.add_copies(kept, found)
                copied = True
        if not ids and not removed and not copied:
            raise _NothingChanged(state.generation)
        store.save_learned_blocks(batch.learned)
        state = self._count_removed(db, state, removed)
        catalog.add_tombstones(db, (c for r in removed for c in r.chunk_ids), generation)
        if self._mirror is not None:
            gone = [c for r in removed for c in r.chunk_ids]
            stacked = np.concatenate(vectors) if ids else None
            self._mirror.record(db, generation, ids, owners, stacked, gone)
        added = catalog.count_words(db, words, 1)
        next_segment = state.next_segment_id
        if ids:
            segment = make_segment(next_segment, np.asarray(ids), np.concatenate(vectors), words)
            if fresh:
                rows = make_segment(next_segment, np.asarray(keys), np.stack(pooled), article_words)
                segment = with_suggestions(replace(segment, articles=rows), titles)
            catalog.add_segment(db, next_segment, len(ids), generation, to_blob(segment))
            next_segment += 1
        if fresh:
            catalog.count_languages(db, languages, 1)
            whole = catalog.count_words(db, article_words, 1, "live_article_terms")
            sources.mark_learned(db, batch.relearned)
            state = _replace_state(
                state,
                articles=state.articles + len(keys),
                article_words=state.article_words + whole,
            )
        catalog.set_state(
            db,
            _replace_state(
                state,
                generation=generation,
                passages=state.passages + len(ids),
                words=state.words + added,
                next_chunk_id=store.next_chunk_id,
                next_segment_id=next_segment,
            ),
        )
        crash_point("live-before-commit")
        return generation

    def _take_off(self, store: StoreWriter, article_id: str) -> _Removed:
        """Remove a stored article (in the caller's transaction); what it held, for the
        collection's counts and the tombstones."""
        db = store.db
        fresh = self._format >= 2
        row = db.execute(
            "SELECT title, text, language FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        passages = store.passages_of(article_id)
        language = row[2] if fresh and row is not None else None
        texts = [keyword_text(title, text) for _, title, text in passages]
        words = index_words(texts, language=language) if texts else []
        whole: list[str] = []
        if fresh and passages and row is not None:
            whole = index_words([keyword_text(row[0], row[1])], language=language)[0]
            live_copies.remove_bands(db, article_id)
            sources.remove_article(db, article_id)
        store.remove(article_id)
        return _Removed([c for c, _, _ in passages], words, whole, analysed_language(language))

    def _count_removed(
        self, db: sqlite3.Connection, state: catalog.LiveState, removed: list[_Removed]
    ) -> catalog.LiveState:
        """The state with removed articles' passages and words taken off the collection's
        statistics (in the caller's transaction)."""
        if not removed:
            return state
        words = catalog.count_words(db, [w for r in removed for w in r.words], -1)
        passages = sum(len(r.chunk_ids) for r in removed)
        state = _replace_state(state, passages=state.passages - passages, words=state.words - words)
        if state.format < 2:
            return state
        gone = [r for r in removed if r.chunk_ids]
        catalog.count_languages(db, [(r.language, len(r.chunk_ids)) for r in gone], -1)
        whole = catalog.count_words(db, [r.article_words for r in gone], -1, "live_article_terms")
        return _replace_state(
            state, articles=state.articles - len(gone), article_words=state.article_words - whole
        )

    # --- merges ------------------------------------------------------------------------------

    def _maybe_merge(self) -> None:
        """Start a background merge when the policy asks for one and none runs here."""
        from semsearch.index.live.merge import merge_in_background

        if self._merging is not None and self._merging.is_alive():
            return
        self._merging = merge_in_background(self.index, self.settings)


class _NothingChanged(Exception):
    """Every item was unchanged or refused: the transaction is rolled back."""

    def __init__(self, generation: int) -> None:
        super().__init__(generation)
        self.generation = generation


def _replace_state(state: catalog.LiveState, **changes: int) -> catalog.LiveState:
    from dataclasses import replace

    return replace(state, **changes)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT (fsync'd in WAL mode); rolled back on any error, and a
    full disk raised as StorageFullError."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        if _is_disk_full(exc):
            raise StorageFullError(
                "the disk of the index is full: nothing of this write was kept (the writes "
                "acknowledged before it are); free space and send it again"
            ) from exc
        raise


def _is_disk_full(exc: BaseException | None) -> bool:
    """Whether the disk was full, here or in an error this one was raised while handling
    (SQLite rolls the whole transaction back on SQLITE_FULL, so the store's own savepoint
    rollback then fails with another error)."""
    while exc is not None:
        if isinstance(exc, sqlite3.Error) and (
            getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "disk is full" in str(exc)
        ):
            return True
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def open_segment_writer(
    index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> SegmentWriter:
    """The writer of the live index at `index`; an index that does not exist yet is made,
    empty (a built index is refused: `semsearch live` makes it live once)."""
    path = Path(os.path.abspath(index))
    if not path.exists() and not path.is_symlink():
        create_live_index(path, embedder, settings)
    return SegmentWriter(path, embedder, settings)
