"""`semsearch publish INDEX_DIR --to ENGINE_URI`: a built index directory into a search engine.

What goes where:

- into the engine, one collection per published version (`<name>__<version>`): every
  passage's chunk id, article id, vector (read back from the directory's FAISS index, so
  not embedded again), its BM25 weights from the directory's bm25s matrix as a sparse
  vector (the product's own keyword scores, exactly: `engine_backend`'s "product" mode) and
  the filter fields (published, the article's and its copies' publications, author);
- onto storage every server reads (`store_dir`; by default the folder of a Milvus Lite
  database): a copy of the SQLite store (the articles' metadata and clean text, the
  passages' text and offsets), with the table of term ids the sparse vectors use, and the
  article-level keyword index;
- into the engine's catalog (`<name>__meta`), last: the manifest, the collection and store
  copy it names and the store's checksum. That one row is the switch: servers read the old
  version or the new one, never a mix, and `semsearch serve --index ENGINE_URI` runs the
  manifest's checks (format, model, prompts) against it as it does for a directory.

Why a publish step rather than `build --out ENGINE_URI`: the build stays one code path
(reading, cleaning, chunking, embedding, tuning, calibration all work on the directory),
the directory stays the source of truth an engine can be re-filled from, and a publish
costs no embedding (about 3 s per 10,000 passages here). Updates (`semsearch add/delete
--index ENGINE_URI`) change the source directory recorded in the catalog, then publish it
again: the product's BM25 weights depend on the whole collection (IDF, mean length), so a
re-publish rewrites every passage's row; it keeps the previous collection for servers still
answering from it and drops older ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BuildError, IndexUnavailableError, SemsearchError
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.engine_backend import EnginePassage, MilvusPassages, collection_name
from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.storage.manifest import (
    ARTICLE_KEYWORD_DIR,
    KEYWORD_DIR,
    STORE_NAME,
    VECTORS_NAME,
    file_digest,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import read_vector_index, stored_vectors
from semsearch.search.backend import (
    CURRENT_KEY,
    ENGINE_FORMAT,
    TERMS_TABLE,
    parse_engine_uri,
    read_engine_record,
)

log = logging.getLogger(__name__)

#: Passages read from the directory and written to the engine at a time.
BATCH = 1_000


@dataclass(frozen=True)
class PublishReport:
    """What a publish wrote, and where."""

    uri: str
    version: str
    collection: str
    passages: int
    store: Path
    seconds: float
    dropped: tuple[str, ...] = ()


def default_store_dir(uri: str) -> Path | None:
    """Where store copies go by default: beside a Milvus Lite database; None for an engine
    elsewhere (its servers' shared storage is for the operator to name)."""
    client_uri = parse_engine_uri(uri).client_uri
    return Path(client_uri).parent if client_uri.endswith(".db") else None


def publish_index(
    index_dir: str | Path,
    uri: str,
    *,
    store_dir: str | Path | None = None,
    vector_index: str = "FLAT",
) -> PublishReport:
    """Write the index at `index_dir` into the engine at `uri` and switch the engine's
    catalog to it (see the module docstring)."""
    started = time.perf_counter()
    source = Path(index_dir).absolute()
    version_dir = resolve_index_dir(source)
    manifest = read_manifest(version_dir)
    verify_files(version_dir, manifest)
    address = parse_engine_uri(uri)
    folder = Path(store_dir) if store_dir else default_store_dir(uri)
    if folder is None:
        raise BuildError(
            f"publishing to {uri}: say where the store goes with --store-dir (a folder every "
            "server reads, shared storage on a cluster)"
        )
    catalog = address.passages()
    catalog.timeout = max(catalog.timeout, 30)  # writes take longer than queries
    name = collection_name(f"{address.collection}__{manifest.version}")
    published_store = _copy_store(version_dir, folder.absolute() / name)
    passages = catalog.with_collection(name)
    passages.vector_index = vector_index
    try:
        previous = catalog.read_record(CURRENT_KEY)
        passages.create(int(manifest.model["dimension"]), replace=True)
        written = passages.write(_engine_passages(version_dir, published_store.parent))
        if written != manifest.counts["chunks"] or passages.count() != written:
            raise BuildError(
                f"publishing to {uri}: {written} passages written, the manifest says "
                f"{manifest.counts['chunks']}: nothing was switched"
            )
        articles = published_store.parent / ARTICLE_KEYWORD_DIR
        record: dict[str, Any] = {
            "engine_format": ENGINE_FORMAT,
            "manifest": asdict(manifest),
            "passages": name,
            "keyword": "product",
            "vector_index": vector_index,
            "store": str(published_store),
            "store_file": file_digest(published_store),
            "article_keyword": str(articles) if articles.is_dir() else None,
            "source": str(source),
            "store_dir": str(folder.absolute()),
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        catalog.write_record(CURRENT_KEY, record)
        dropped = _drop_old(
            catalog, address.collection, keep={name, (previous or {}).get("passages")}
        )
    except SemsearchError:
        raise
    except Exception as exc:  # the engine's own errors
        raise BuildError(f"publishing to {uri} failed: {exc}") from exc
    finally:
        catalog.close()
    log.info("published %s (%d passages) to %s as %s", manifest.version, written, uri, name)
    return PublishReport(
        uri,
        manifest.version,
        name,
        written,
        published_store,
        round(time.perf_counter() - started, 2),
        dropped,
    )


def _copy_store(version_dir: Path, target: Path) -> Path:
    """The store and the article-level keyword index copied to `target`, the store with
    the term ids of the engine's sparse vectors (the keyword index's vocabulary)."""
    if target.exists():
        shutil.rmtree(target)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    store = partial / STORE_NAME
    shutil.copyfile(version_dir / STORE_NAME, store)
    articles = version_dir / ARTICLE_KEYWORD_DIR
    if articles.is_dir():
        shutil.copytree(articles, partial / ARTICLE_KEYWORD_DIR)
    keyword = KeywordIndex(version_dir / KEYWORD_DIR)
    # The bm25s vocabulary: a word's column of the weight matrix is its term id.
    vocabulary = keyword._vocabulary  # the index's own words, read only
    columns = len(keyword._model.scores["indptr"]) - 1
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute(f"CREATE TABLE {TERMS_TABLE} (word TEXT PRIMARY KEY, id INTEGER NOT NULL)")
        db.executemany(
            f"INSERT INTO {TERMS_TABLE} VALUES (?, ?)",
            (
                (w, int(c))
                for w, c in vocabulary.items()
                # bm25s's vocabulary also holds "", with no column: no query word is "".
                if w and c < columns and keyword.document_frequency(w) > 0
            ),
        )
        db.commit()
    partial.rename(target)
    return target / STORE_NAME


def _engine_passages(version_dir: Path, published: Path) -> Iterator[EnginePassage]:
    """Every passage of the directory with its vector, BM25 weights and filter fields."""
    from scipy import sparse

    keyword = KeywordIndex(version_dir / KEYWORD_DIR)
    scores = keyword._model.scores  # the bm25s weight matrix, read only
    matrix = sparse.csc_matrix(
        (scores["data"], scores["indices"], scores["indptr"]),
        shape=(int(scores["num_docs"]), len(scores["indptr"]) - 1),
    ).tocsr()
    row_of = {int(c): r for r, c in enumerate(np.asarray(keyword.chunk_ids))}
    vectors = read_vector_index(version_dir / VECTORS_NAME)
    reader = StoreReader(published / STORE_NAME)
    with contextlib.closing(reader.connect()) as db:
        chunks = reader.iter_chunks(db)
        while batch := [c for _, c in zip(range(BATCH), chunks, strict=False)]:
            ids = [c.chunk_id for c in batch]
            found = stored_vectors(vectors, ids)
            if found is None:
                raise BuildError(f"the vectors of {version_dir} cannot be read back: rebuild")
            copies = reader.fetch_copies(db, (c.article["id"] for c in batch))
            for chunk, vector in zip(batch, found, strict=True):
                article = chunk.article
                row = row_of.get(chunk.chunk_id)
                weights: dict[int, float] = {}
                if row is not None:
                    start, end = matrix.indptr[row], matrix.indptr[row + 1]
                    weights = dict(
                        zip(
                            matrix.indices[start:end].tolist(),
                            matrix.data[start:end].tolist(),
                            strict=True,
                        )
                    )
                yield EnginePassage(
                    chunk_id=chunk.chunk_id,
                    article_id=article["id"],
                    vector=vector,
                    published=article["published"],
                    publications=(
                        article["publication"] or "",
                        *(c["publication"] or "" for c in copies.get(article["id"], [])),
                    ),
                    author=article["author"] or "",
                    weights=weights,
                )


def _drop_old(catalog: MilvusPassages, name: str, keep: set[Any]) -> tuple[str, ...]:
    """Drop this index's passage collections but those in `keep` (the one just published
    and the one servers may still answer from until they reload)."""
    prefix = collection_name(f"{name}__")
    dropped = []
    for collection in catalog.collections():
        if (
            collection.startswith(prefix)
            and collection != f"{name}__meta"
            and collection not in keep
        ):
            catalog.with_collection(collection).drop()
            dropped.append(collection)
    return tuple(dropped)


def engine_source(uri: str) -> Path:
    """The index directory the engine's index was published from (updates go there)."""
    record = read_engine_record(uri)
    source = Path(str(record.get("source") or ""))
    if not record.get("source") or not source.exists():
        raise IndexUnavailableError(
            f"the index at {uri} was published from {source}, which is not there: updates "
            "change that directory and publish it again; publish a directory first"
        )
    return source


def engine_store_dir(uri: str) -> Path | None:
    """The store folder the engine's current index was published with."""
    record = read_engine_record(uri)
    folder = record.get("store_dir")
    return Path(folder) if folder else None
