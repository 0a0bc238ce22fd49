"""The offline build: articles → clean text → chunks → embeddings → FAISS + SQLite + manifest.

Everything is written to a staging folder and published atomically (see `storage.directory`);
a bad article is reported and skipped, and a build that fails leaves the served index alone.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BuildError
from semsearch.index.build.pipeline import EmbeddingPipeline
from semsearch.index.build.reuse import VectorReuse
from semsearch.index.embed import Embedder
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.readers import iter_input_files, read_file
from semsearch.index.storage.directory import crash_point, new_staging_dir, publish, writer_lock
from semsearch.index.storage.keyword_index import write_keyword_index
from semsearch.index.storage.manifest import (
    FORMAT_VERSION,
    KEYWORD_DIR,
    MANIFEST_NAME,
    STORE_NAME,
    VECTORS_NAME,
    IndexManifest,
    index_files,
    library_versions,
)
from semsearch.index.storage.store import StoreReader, StoreWriter
from semsearch.index.storage.vectors import write_vector_index
from semsearch.index.text.chunking import Chunk, Chunker
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: Called as progress(phase, done, total): phase is "read" (files) or "embed" (chunks).
Progress = Callable[[str, int, int], None]
#: Called with the finished staging folder before it is published; what it returns (or None)
#: is stored as the manifest's `fusion`. The search layer provides it (`semsearch.search.tuning`).
Tuner = Callable[[Path], dict[str, Any] | None]


@dataclass(frozen=True)
class BuildReport:
    """What a build did: counts, what it skipped and why, and how fast it went."""

    index_dir: Path
    version_dir: Path
    articles: int
    chunks: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    fusion: dict[str, Any] | None = None
    tune_seconds: float = 0.0
    reused: int = 0  # passages whose vector came from the version replaced

    @property
    def chunks_per_second(self) -> float:
        """Build throughput: read, chunk, embed and write; tuning is reported apart."""
        indexing = self.seconds - self.tune_seconds
        return self.chunks / indexing if indexing > 0 else 0.0


def make_chunker(embedder: Embedder, overrides: dict[str, Any] | None = None) -> Chunker:
    """The chunker for an embedder, with settings from the overrides, environment, defaults."""
    return Chunker(
        embedder.token_offsets,
        embedder.max_seq_tokens,
        chunk_tokens=get_setting("chunk_tokens", overrides),
        overlap_tokens=get_setting("overlap_tokens", overrides),
        min_chunk_tokens=get_setting("min_chunk_tokens", overrides),
        title_tokens=get_setting("title_tokens", overrides),
    )


def build_index(
    inputs: Iterable[str | Path],
    out: str | Path,
    embedder: Embedder,
    settings: dict[str, Any] | None = None,
    column_map: dict[str, str] | None = None,
    progress: Progress | None = None,
    tune: Tuner | None = None,
) -> BuildReport:
    """Build an index from files and folders into `out`, replacing it atomically."""
    started = time.perf_counter()
    paths = [Path(p) for p in inputs]
    out = Path(out)
    chunker = make_chunker(embedder, settings)
    batch_size = int(get_setting("batch_size", settings))
    with writer_lock(out):
        staging = new_staging_dir(out)
        pipeline: EmbeddingPipeline | None = None
        try:
            reuse = VectorReuse.from_previous(out, embedder, chunker)
            # Passages embed in the background while the next files are read and chunked.
            pipeline = EmbeddingPipeline(embedder, _group_size(batch_size), reuse, progress)
            store = StoreWriter(staging / STORE_NAME)
            articles, skipped = _read_and_chunk(
                paths, chunker, store, column_map, progress, pipeline
            )
            chunk_total = store.next_chunk_id - 1
            store.close()
            if articles == 0:
                reasons = "; ".join(str(s) for s in skipped[:5]) or "no supported files found"
                raise BuildError(
                    f"no article could be read from {', '.join(map(str, paths))}: {reasons}"
                )
            ids, vectors = pipeline.finish()
            reused = reuse.hits if reuse else 0
            embed_seconds = pipeline.busy_seconds
            tune_seconds = 0.0
            vector_info = write_vector_index(ids, vectors, staging / VECTORS_NAME)
            write_keyword_index(staging / STORE_NAME, staging / KEYWORD_DIR)
            seconds = time.perf_counter() - started
            manifest = IndexManifest(
                format_version=FORMAT_VERSION,
                version=staging.name.removesuffix(".partial"),
                model={
                    "name": embedder.name,
                    "revision": embedder.revision,
                    "dimension": embedder.dimension,
                    "max_seq_tokens": embedder.max_seq_tokens,
                    "backend": getattr(embedder, "backend", "unknown"),
                },
                chunker=chunker.settings(),
                counts={"articles": articles, "chunks": chunk_total, "skipped": len(skipped)},
                built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds=round(seconds, 3),
                files=index_files(staging),
                libraries=library_versions(),
                vectors=vector_info,
                next_chunk_id=chunk_total + 1,
            )
            (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            crash_point("staged")
            if tune is not None:
                if progress:
                    progress("tune", 0, 1)
                tune_started = time.perf_counter()
                fusion = tune(staging)
                tune_seconds = time.perf_counter() - tune_started
                if fusion is not None:
                    manifest = replace(manifest, fusion=fusion)
                    (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
                if progress:
                    progress("tune", 1, 1)
            version_dir = publish(staging, out)
        except BaseException:
            if pipeline is not None:
                pipeline.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
    report = BuildReport(
        out,
        version_dir,
        articles,
        chunk_total,
        skipped,
        time.perf_counter() - started,
        embed_seconds,
        manifest.fusion,
        tune_seconds,
        reused,
    )
    log.info(
        "built %s: %d articles, %d chunks, %d skipped in %.1fs",
        out,
        articles,
        chunk_total,
        len(skipped),
        report.seconds,
    )
    return report


def _read_and_chunk(
    inputs: list[Path],
    chunker: Chunker,
    writer: StoreWriter,
    column_map: dict[str, str] | None,
    progress: Progress | None,
    pipeline: EmbeddingPipeline,
) -> tuple[int, list[Skipped]]:
    """Parse every input, chunk each article, store it and queue its passages for
    embedding; returns (articles, skipped)."""
    skipped: list[Skipped] = []

    def stored(article: Article, chunks: list[Chunk], ids: list[int]) -> None:
        for chunk_id, chunk in zip(ids, chunks, strict=True):
            pipeline.add(chunk_id, chunker.embedding_text(article.title, chunk.text))

    articles = index_inputs(
        inputs,
        column_map,
        lambda article: store_article(article, chunker, writer, stored),
        skipped,
        progress,
    )
    return articles, skipped


def index_inputs(
    inputs: list[Path],
    column_map: dict[str, str] | None,
    handle: Callable[[Article], str | None],
    skipped: list[Skipped],
    progress: Progress | None = None,
) -> int:
    """Read every input and hand each article with a new id to `handle`, which returns why
    it could not be indexed, or None. Bad records, duplicate ids and what `handle` refused
    are reported in `skipped`; returns how many articles `handle` took. Shared by the build
    and by `add`."""
    files = list(iter_input_files(inputs))
    seen: dict[str, str] = {}
    taken = 0
    for done, (path, root) in enumerate(files, start=1):
        for item in read_file(path, root, column_map):
            if isinstance(item, Skipped):
                log.warning("skipped %s", item)
                skipped.append(item)
                continue
            problem = _check_article(item, seen) or handle(item)
            if problem:
                skipped.append(Skipped(item.origin, problem))
                log.warning("skipped %s: %s", item.origin, problem)
                continue
            seen[item.id] = item.origin
            taken += 1
        if progress:
            progress("read", done, len(files))
    return taken


def store_article(
    article: Article,
    chunker: Chunker,
    store: StoreWriter,
    stored: Callable[[Article, list[Chunk], list[int]], None] | None = None,
) -> str | None:
    """Chunk an article and store it, all or nothing; returns why it was not, or None.
    `stored` is then called with the article, its chunks and their ids."""
    try:
        chunks = chunker.chunk(article.text)
        if not chunks:
            return "no text to index after cleaning"
        ids = store.add(article, chunks)
    except Exception as exc:  # one bad article must not end the build
        log.exception("cannot index %s", article.origin)
        return f"cannot index this article: {type(exc).__name__}: {exc}"
    if stored is not None:
        stored(article, chunks, ids)
    return None


def _check_article(article: Article, seen: dict[str, str]) -> str | None:
    if article.id in seen:
        return (
            f"duplicate article id {article.id!r} (first read from {seen[article.id]}); ids "
            "must be unique: for files, pass their common parent folder so paths differ"
        )
    return None


def embed_chunks(
    store_path: Path,
    chunker: Chunker,
    embedder: Embedder,
    batch_size: int,
    progress: Progress | None,
    from_id: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed the stored chunks (title + passage) whose id is `from_id` or more; returns
    (ids, vectors). Used by `add`, whose new passages are only known once it has stored
    them all (a replacement that fails is rolled back)."""
    reader = StoreReader(store_path)
    db = reader.connect()
    pipeline = EmbeddingPipeline(embedder, _group_size(batch_size), progress=progress)
    try:
        for chunk in reader.iter_chunks(db, from_id):
            pipeline.add(chunk.chunk_id, chunker.embedding_text(chunk.article["title"], chunk.text))
        return pipeline.finish()
    finally:
        pipeline.close()
        db.close()


def _group_size(batch_size: int) -> int:
    """Passages per embedding call: several model batches, so the model stays busy."""
    return max(batch_size * 4, 64)
