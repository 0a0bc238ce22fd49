"""The offline build: articles → clean text → chunks → embeddings → FAISS + SQLite + manifest.

Every input is read first and cleaned as a collection (`semsearch.index.ingest.collection`:
footer shapes, syndicated copies, boilerplate learned per source), so the articles' metadata
and text, not their vectors, are in memory at once between reading and chunking; then each
article is chunked, stored with its copies, and its passages embedded in the background.

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
from semsearch.index.build.pipeline import EmbeddingPipeline, PipelineFactory
from semsearch.index.build.reuse import VectorReuse
from semsearch.index.build.space import disk_full_error, is_disk_full
from semsearch.index.embed import Embedder, manifest_model, passage_window
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.collection import (
    IngestSummary,
    clean_collection,
    model_advice,
    read_collection,
)
from semsearch.index.storage.article_index import vectors_from_arrays, write_article_index
from semsearch.index.storage.directory import crash_point, new_staging_dir, publish, writer_lock
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
    IndexManifest,
    index_files,
    library_versions,
)
from semsearch.index.storage.store import StoreReader, StoreWriter
from semsearch.index.storage.suggestions import write_index_suggestions
from semsearch.index.storage.vectors import write_vector_index
from semsearch.index.storage.word_index import write_word_index
from semsearch.index.text.chunking import Chunk, Chunker
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: Called as progress(phase, done, total): phase is "read" (files) or "embed" (chunks).
Progress = Callable[[str, int, int], None]
#: Called with the finished staging folder before it is published; what it returns (or None)
#: is stored as the manifest's `fusion`. The search layer provides it (`semsearch.search.tuning`).
Tuner = Callable[[Path], dict[str, Any] | None]
#: Called like a Tuner, after it; what it returns is stored as the manifest's `no_match` (the
#: calibrated "no good match" threshold, `semsearch.search.calibration`).
Calibrator = Callable[[Path], dict[str, Any] | None]


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
    ingest: IngestSummary | None = None  # boilerplate removed, copies found, WARC counts
    no_match: dict[str, Any] | None = None  # the calibrated min_score and its evidence

    @property
    def chunks_per_second(self) -> float:
        """Build throughput: read, chunk, embed and write; tuning is reported apart."""
        indexing = self.seconds - self.tune_seconds
        return self.chunks / indexing if indexing > 0 else 0.0


def make_chunker(embedder: Embedder, overrides: dict[str, Any] | None = None) -> Chunker:
    """The chunker for an embedder, with settings from the overrides, environment, defaults."""
    return Chunker(
        embedder.token_offsets,
        passage_window(embedder),  # the model's window less its document prompt
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
    calibrate: Calibrator | None = None,
    pipeline_factory: PipelineFactory | None = None,
) -> BuildReport:
    """Build an index from files and folders into `out`, replacing it atomically. Passages
    embed in this process, or in the pipeline `pipeline_factory` makes (a Dask cluster's
    workers: `distributed.dask_pipeline`)."""
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
            # Passages embed in the background while the next articles are chunked and stored.
            make_pipeline = pipeline_factory or EmbeddingPipeline
            pipeline = make_pipeline(embedder, _group_size(batch_size), reuse, progress)
            store = StoreWriter(staging / STORE_NAME)
            articles, skipped, ingest = _read_and_chunk(
                paths,
                chunker,
                store,
                column_map,
                progress,
                pipeline,
                bool(get_setting("find_copies", settings)),
            )
            if advice := model_advice(ingest.languages, embedder.name):
                log.info("%s", advice.strip())
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
            if pipeline.embedded_by:  # where the vectors were made; absent in this process
                vector_info = {**vector_info, "embedded_by": pipeline.embedded_by}
            write_keyword_index(staging / STORE_NAME, staging / KEYWORD_DIR)
            pooled = vectors_from_arrays(ids, vectors)
            write_article_index(staging / STORE_NAME, staging / ARTICLE_KEYWORD_DIR, pooled)
            write_index_suggestions(staging / STORE_NAME, staging / SUGGEST_DIR)
            write_word_index(staging / STORE_NAME, staging / WORDS_DIR)
            seconds = time.perf_counter() - started
            manifest = IndexManifest(
                format_version=FORMAT_VERSION,
                version=staging.name.removesuffix(".partial"),
                model=manifest_model(embedder),
                chunker=chunker.settings(),
                counts={
                    "articles": articles,
                    "chunks": chunk_total,
                    "skipped": len(skipped),
                    **ingest.counts(),
                },
                built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds=round(seconds, 3),
                files=index_files(staging),
                libraries=library_versions(),
                vectors=vector_info,
                next_chunk_id=chunk_total + 1,
                ingest=ingest.as_dict(),
            )
            (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            crash_point("staged")
            # The threshold first: bounded fusion, which the probes try, scores cosines
            # from it (`semsearch.search.fusion.Scale`).
            if calibrate is not None:
                calibrate_started = time.perf_counter()
                no_match = calibrate(staging)
                tune_seconds += time.perf_counter() - calibrate_started
                if no_match is not None:
                    manifest = replace(manifest, no_match=no_match)
                    (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            if tune is not None:
                if progress:
                    progress("tune", 0, 1)
                tune_started = time.perf_counter()
                fusion = tune(staging)
                tune_seconds += time.perf_counter() - tune_started
                if fusion is not None:
                    manifest = replace(manifest, fusion=fusion)
                    (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
                if progress:
                    progress("tune", 1, 1)
            version_dir = publish(staging, out)
        except BaseException as exc:
            if pipeline is not None:
                pipeline.close()
            shutil.rmtree(staging, ignore_errors=True)
            if is_disk_full(exc):
                raise disk_full_error(out, "build") from exc
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
        ingest,
        manifest.no_match,
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
    find_copies: bool = True,
) -> tuple[int, list[Skipped], IngestSummary]:
    """Parse every input, chunk each article, store it and queue its passages for
    embedding; returns (articles, skipped, what cleaning the collection did)."""
    skipped: list[Skipped] = []

    def stored(article: Article, chunks: list[Chunk], ids: list[int]) -> None:
        for chunk_id, chunk in zip(ids, chunks, strict=True):
            pipeline.add(chunk_id, chunker.embedding_text(article.title, chunk.text))

    articles, ingest = ingest_inputs(
        inputs,
        column_map,
        lambda article: store_article(article, chunker, writer, stored),
        writer,
        skipped,
        progress,
        find_copies=find_copies,
    )
    return articles, skipped, ingest


def ingest_inputs(
    inputs: list[Path],
    column_map: dict[str, str] | None,
    handle: Callable[[Article], str | None],
    store: StoreWriter,
    skipped: list[Skipped],
    progress: Progress | None = None,
    known_blocks: dict[str, set[str]] | None = None,
    find_copies: bool = True,
    main_language: str = "",
    items: Iterable[Article | Skipped] | None = None,
) -> tuple[int, IngestSummary]:
    """Read every input, clean the articles as a collection (boilerplate blocks already
    learned, `known_blocks`, applied too), and hand each article to `handle`, which returns
    why it could not be indexed, or None; the copies of each article taken and the blocks
    learned go into `store`. Bad records, duplicate ids and what `handle` refused are
    reported in `skipped`; returns how many articles `handle` took and the cleaning's
    summary. An article whose language detection cannot tell takes `main_language` (an `add`
    passes the index's), else the batch's main language (`ingest.collection.with_languages`:
    a short article in another script keeps its own). Shared by the build and
    by `add`; `items` (articles already read, e.g. written over HTTP) are cleaned instead of
    reading `inputs`."""
    if items is not None:
        collection = clean_collection(items, known_blocks, find_copies, None, main_language)
    else:
        collection = read_collection(
            inputs, column_map, progress, known_blocks, find_copies, main_language
        )
    skipped.extend(collection.skipped)
    taken = 0
    for article in collection.articles:
        problem = handle(article)
        if problem:
            skipped.append(Skipped(article.origin, problem))
            log.warning("skipped %s: %s", article.origin, problem)
            continue
        if copies := collection.copies.get(article.id):
            store.add_copies(article.id, copies)
        taken += 1
    store.save_learned_blocks(collection.learned)
    for line in collection.summary.lines():
        log.info("%s", line)
    return taken, collection.summary


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
