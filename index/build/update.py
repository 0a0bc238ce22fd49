"""Add, replace and delete articles in a published index without rebuilding it.

An update never edits the version being served. It copies the current store into a fresh
staging folder (SQLite's backup API), loads the vectors, applies the change there, and
publishes the result as a new version, exactly as a build does (`storage.directory`): a server
sees the old version or the new one, never a mix, and a crash at any moment leaves the
served version as it was.

Only new and changed articles are chunked and embedded; an article whose content hash is
unchanged is left alone. New chunks take ids above every existing one, so a chunk id is
never reused within a version. The chunker runs with the settings recorded in the manifest,
and the hybrid fusion tuned by the last build is kept (the README says when to rebuild).

The added articles are cleaned as a build's are (`semsearch.index.ingest.collection`), with
one choice made for the learned boilerplate: the blocks each source repeats are stored in
the index (`boilerplate` table) by the build and every update, and applied to the articles
an update adds, merged with what the added batch itself repeats. Learning again over the
stored articles could not work: their text has the boilerplate removed already. Syndicated
copies are looked for among the added articles only (the stored texts' shingles are not
kept); a copy of a stored article added later is indexed as an article of its own.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semsearch.errors import BuildError
from semsearch.index.build.builder import Progress, embed_chunks, ingest_inputs, store_article
from semsearch.index.build.space import disk_full_error, is_disk_full
from semsearch.index.embed import Embedder, check_embedder
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.storage.article_index import write_article_index
from semsearch.index.storage.directory import (
    crash_point,
    new_staging_dir,
    publish,
    resolve_index_dir,
    writer_lock,
)
from semsearch.index.storage.keyword_index import write_keyword_index
from semsearch.index.storage.manifest import (
    ARTICLE_KEYWORD_DIR,
    FORMAT_VERSION,
    KEYWORD_DIR,
    MANIFEST_NAME,
    STORE_NAME,
    SUGGEST_DIR,
    VECTORS_NAME,
    WORDS_DIR,
    index_files,
    library_versions,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.store import StoreWriter
from semsearch.index.storage.suggestions import write_index_suggestions
from semsearch.index.storage.vectors import (
    read_vector_index,
    remove_vectors,
    stored_vectors,
    write_index_object,
)
from semsearch.index.storage.word_index import write_word_index

if TYPE_CHECKING:
    import faiss
from semsearch.index.text.chunking import Chunker
from semsearch.settings import get_setting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpdateReport:
    """What an update did, article by article. `version_dir` is None when nothing changed
    (no new version was published)."""

    index_dir: Path
    version_dir: Path | None
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Ids asked to be deleted that are not in the index (only when `strict_delete` is off).
    missing: list[str] = field(default_factory=list)
    articles: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.deleted)


def update_index(
    index_dir: str | Path,
    embedder: Embedder,
    *,
    add: Iterable[str | Path] = (),
    delete: Sequence[str] = (),
    column_map: dict[str, str] | None = None,
    progress: Progress | None = None,
    articles: Sequence[Article | Skipped] | None = None,
    strict_delete: bool = True,
) -> UpdateReport:
    """Delete the articles `delete` names, then add or replace the articles read from `add`
    (or given as `articles`, already read: records written over HTTP), and publish the
    result as a new version of `index_dir`.

    With `strict_delete`, an id in `delete` that is not in the index fails the whole update
    before anything is written: a typo must not pass for a deletion. Without it (a writer
    answering item by item), such ids are only listed in the report's `missing`."""
    started = time.perf_counter()
    out = Path(index_dir)
    paths = [Path(p) for p in add]
    with writer_lock(out):
        current = resolve_index_dir(out)
        manifest = read_manifest(current)
        check_embedder(manifest, embedder)
        verify_files(current, manifest)
        chunker = Chunker(
            embedder.token_offsets,
            embedder.max_seq_tokens,
            **{k: v for k, v in manifest.chunker.items() if k != "window_tokens"},
        )
        staging = new_staging_dir(out)
        try:
            store = StoreWriter.copy_of(current / STORE_NAME, staging / STORE_NAME)
            # Never reuse an id a deleted chunk had: ids reach API clients (`chunk_id`).
            store.next_chunk_id = max(store.next_chunk_id, manifest.next_chunk_id or 0)
            vectors = read_vector_index(current / VECTORS_NAME)
            crash_point("update-copied")
            missing = [i for i in dict.fromkeys(delete) if store.content_hash(i) is None]
            if missing and strict_delete:
                shown = ", ".join(repr(i) for i in missing[:10])
                raise BuildError(
                    f"not in the index, nothing deleted: {shown}"
                    + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                    + "; ids are those shown as `id` in search results"
                )
            removed: list[int] = []
            absent = set(missing)
            deleted = [i for i in dict.fromkeys(delete) if i not in absent]
            for article_id in deleted:
                removed += store.remove(article_id)
            first_new = store.next_chunk_id
            changes = _Changes()
            _apply_additions(paths, column_map, chunker, store, changes, articles)
            removed += changes.removed_chunks
            new_chunks = store.next_chunk_id - first_new
            counts = store.counts()
            skipped = changes.skipped
            report = UpdateReport(
                out,
                None,
                changes.added,
                changes.replaced,
                changes.unchanged,
                deleted,
                skipped,
                missing if not strict_delete else [],
                counts["articles"],
                counts["chunks"],
            )
            if not report.changed:
                store.db.rollback()
                store.db.close()
                shutil.rmtree(staging, ignore_errors=True)
                return replace(report, seconds=time.perf_counter() - started)
            store.close()
            try:
                remove_vectors(vectors, removed)
            except ValueError as exc:
                raise BuildError(f"{exc}: the index is inconsistent; rebuild it") from exc
            if new_chunks:
                ids, embedded = embed_chunks(
                    staging / STORE_NAME,
                    chunker,
                    embedder,
                    int(get_setting("batch_size")),
                    progress,
                    from_id=first_new,
                )
                vectors.add_with_ids(embedded, ids)
            if vectors.ntotal != counts["chunks"]:
                raise BuildError(
                    f"internal error: {vectors.ntotal} vectors for {counts['chunks']} chunks; "
                    "the served index is unchanged"
                )
            write_index_object(vectors, staging / VECTORS_NAME)
            write_keyword_index(staging / STORE_NAME, staging / KEYWORD_DIR)  # whole store
            write_article_index(
                staging / STORE_NAME, staging / ARTICLE_KEYWORD_DIR, _read_back(vectors)
            )
            write_index_suggestions(staging / STORE_NAME, staging / SUGGEST_DIR)
            write_word_index(staging / STORE_NAME, staging / WORDS_DIR)
            new_manifest = replace(
                manifest,
                version=staging.name.removesuffix(".partial"),
                counts={**manifest.counts, **counts, "skipped": len(skipped)},
                built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds=round(time.perf_counter() - started, 3),
                next_chunk_id=store.next_chunk_id,
                files=index_files(staging),
                libraries=library_versions(),
                parent=manifest.version,
                format_version=FORMAT_VERSION,  # the copied store is upgraded (no FTS5 table)
            )
            (staging / MANIFEST_NAME).write_text(new_manifest.to_json(), encoding="utf-8")
            crash_point("staged")
            version_dir = publish(staging, out)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if is_disk_full(exc):
                raise disk_full_error(out, "update") from exc
            raise
    report = replace(report, version_dir=version_dir, seconds=time.perf_counter() - started)
    log.info(
        "updated %s: %d added, %d replaced, %d deleted, %d unchanged, %d skipped",
        out,
        len(report.added),
        len(report.replaced),
        len(report.deleted),
        len(report.unchanged),
        len(report.skipped),
    )
    return report


@dataclass
class _Changes:
    """What the additions did so far, article id by article id."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    removed_chunks: list[int] = field(default_factory=list)  # old chunks of replaced articles


def _apply_additions(
    paths: list[Path],
    column_map: dict[str, str] | None,
    chunker: Chunker,
    store: StoreWriter,
    changes: _Changes,
    articles: Sequence[Article | Skipped] | None = None,
) -> None:
    """Store the new and changed articles read from `paths` (or given as `articles`),
    recording each in `changes`; the boilerplate learned for their sources so far is
    removed from them too."""
    ingest_inputs(
        paths,
        column_map,
        lambda article: _add_or_replace(article, chunker, store, changes),
        store,
        changes.skipped,
        known_blocks=store.learned_blocks(),
        find_copies=bool(get_setting("find_copies")),
        main_language=store.main_language(),
        items=articles,
    )


def _add_or_replace(
    article: Article, chunker: Chunker, store: StoreWriter, changes: _Changes
) -> str | None:
    """Store one article unless its content is unchanged; returns why it was skipped."""
    stored_hash = store.content_hash(article.id)
    if stored_hash == article.content_hash():
        changes.unchanged.append(article.id)
        return None
    if stored_hash is None:
        problem = store_article(article, chunker, store)
        if problem is None:
            changes.added.append(article.id)
        return problem
    # Replacing is all or nothing: if the new content cannot be indexed, the old stays.
    store.db.execute("SAVEPOINT replace_article")
    old_ids = store.remove(article.id)
    problem = store_article(article, chunker, store)
    if problem:
        store.db.execute("ROLLBACK TO replace_article")
        store.db.execute("RELEASE replace_article")
        return f"{problem}; the indexed version was kept"
    store.db.execute("RELEASE replace_article")
    changes.replaced.append(article.id)
    changes.removed_chunks.extend(old_ids)
    return None


def _read_back(vectors: faiss.Index) -> Callable[[list[int]], np.ndarray]:
    """The stored vectors of chunk ids, read back from the index held in memory (an update
    loads it whole, so IVF can give them back too), for the articles' pooled vectors."""

    def vectors_of(chunk_ids: list[int]) -> np.ndarray:
        found = stored_vectors(vectors, chunk_ids)
        if found is None:
            raise BuildError("the passage vectors cannot be read back from FAISS: rebuild")
        return found

    return vectors_of
