"""`semsearch publish INDEX_DIR --to ENGINE_URI`: a built index directory into a search engine.

What goes where:

- into the engine, one collection per published version (`<name>__<version>`, with a
  random suffix when that name is taken, as by a republish of the same version): every
  passage's chunk id, article id, vector (read back from the directory's FAISS index, so
  not embedded again), its BM25 weights from the directory's bm25s matrix as a sparse
  vector (the product's own keyword scores, exactly: the Milvus client's "product" mode) and
  the filter fields (published, the article's and its copies' publications, author);
- onto storage every server reads (`store_dir`; by default the folder of a Milvus Lite
  database): a copy of the SQLite store (the articles' metadata and clean text, the
  passages' text and offsets), with the table of term ids the sparse vectors use, and the
  article-level keyword index;
- into the engine's catalog (`<name>__meta`), last: the manifest, the collection and store
  copy it names, the store's checksum, and what the index owns (`owns`: this version's
  collection and store folder, and the previous version's). That one record is the switch:
  servers read the old version or the new one, never a mix, and `semsearch serve --index
  ENGINE_URI` runs the manifest's checks (format, model, prompts) against it as it does for
  a directory.

A publish never replaces what a server may be answering from: the new version's collection
and store folder are new names, a publish that fails leaves the catalog as it was (and
removes what it had written), and after the switch only what the previous record owned and
the new one does not is dropped: never another index's collections, whatever their names.

Why a publish step rather than `build --out ENGINE_URI`: the build stays one code path
(reading, cleaning, chunking, embedding, tuning, calibration all work on the directory),
the directory stays the source of truth an engine can be re-filled from, and a publish
costs no embedding (about 3 s per 10,000 passages here). Updates (`semsearch add/delete
--index ENGINE_URI`) change the source directory recorded in the catalog, then publish it
again: the product's BM25 weights depend on the whole collection (IDF, mean length), so a
re-publish rewrites every passage's row; it keeps the previous collection for servers still
answering from it and drops older ones, with their store folders.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BuildError, IndexUnavailableError, SemsearchError
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.keyword_index import KeywordIndex, bm25_idf
from semsearch.index.storage.manifest import (
    ARTICLE_KEYWORD_DIR,
    KEYWORD_DIR,
    STORE_NAME,
    VECTORS_NAME,
    file_digest,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.milvus.address import parse_engine_uri
from semsearch.index.storage.milvus.catalog import (
    CURRENT_KEY,
    ENGINE_FORMAT,
    read_engine_record,
    read_record,
    write_record,
)
from semsearch.index.storage.milvus.client import (
    TERMS_TABLE,
    EnginePassage,
    MilvusPassages,
    collection_name,
)
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import read_vector_index, stored_vectors

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
    source: Path | None = None  # the index directory published

    def summary(self) -> str:
        """What the CLI says of a publish, a line a fact."""
        lines = [
            f"published: {self.source} (version {self.version}) -> {self.uri}",
            f"passages: {self.passages} in collection {self.collection}",
            f"store: {self.store}",
        ]
        if self.dropped:
            lines.append(f"dropped: {', '.join(self.dropped)}")
        lines.append(f"seconds: {self.seconds:.1f}")
        return "\n".join(lines)


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
    switched = False
    created: MilvusPassages | None = None
    target: Path | None = None
    try:
        previous = read_record(catalog, CURRENT_KEY)
        before = owned_by(previous)
        name, target = _fresh_names(
            catalog, f"{address.collection}__{manifest.version}", folder.absolute(), before
        )
        published_store = _copy_store(version_dir, target)
        passages = catalog.with_collection(name)
        passages.vector_index = vector_index
        passages.create(int(manifest.model["dimension"]))  # a new name: nothing replaced
        created = passages
        written = passages.write(_engine_passages(version_dir, published_store.parent))
        if written != manifest.counts["chunks"] or passages.count() != written:
            raise BuildError(
                f"publishing to {uri}: {written} passages written, the manifest says "
                f"{manifest.counts['chunks']}: nothing was switched"
            )
        articles = published_store.parent / ARTICLE_KEYWORD_DIR
        # This version's, and the one servers may still answer from until they reload.
        owns = [{"passages": name, "store_folder": str(target)}]
        if previous:
            owns += [o for o in before if o["passages"] == previous.get("passages")]
        kept = {o["passages"] for o in owns}
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
            "owns": owns,
            # Dropped right after the switch; listed so that the next publish retries any
            # drop that failed.
            "dropping": [o for o in before if o["passages"] not in kept],
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_record(catalog, CURRENT_KEY, record)
        switched = True
        dropped = _drop_old(catalog, before, owns)
        if previous and "owns" not in previous:  # published before records said what they own
            dropped += _drop_unlisted(catalog, address.collection, previous, owns)
    except Exception as exc:
        if not switched:
            _remove_unpublished(created, target)
        if isinstance(exc, SemsearchError):
            raise
        raise BuildError(f"publishing to {uri} failed: {exc}") from exc  # the engine's own
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
        Path(index_dir),
    )


def owned_by(record: dict[str, Any] | None) -> list[dict[str, str]]:
    """The passage collections and store folders a catalog record says its index owns (a
    record written before `owns`: the one it serves), and those it was dropping."""
    if not record:
        return []
    owns = record.get("owns")
    if owns is None:
        return [{"passages": record["passages"], "store_folder": str(Path(record["store"]).parent)}]
    listed = [*owns, *record.get("dropping", [])]
    return [
        {"passages": str(o["passages"]), "store_folder": str(o["store_folder"])} for o in listed
    ]


def _fresh_names(
    catalog: MilvusPassages, base: str, folder: Path, owned: list[dict[str, str]]
) -> tuple[str, Path]:
    """A collection name and store folder for a new version: `base`, or `base` with a
    random suffix when either is taken (the same version published again, whose collection
    and store servers are answering from, or what a publish killed half-way left)."""
    name = collection_name(base)
    taken = {o["passages"] for o in owned}
    while name in taken or catalog.with_collection(name).exists() or (folder / name).exists():
        name = collection_name(f"{base}__{uuid.uuid4().hex[:8]}")
    return name, folder / name


def _remove_unpublished(passages: MilvusPassages | None, folder: Path | None) -> None:
    """Remove what a failed publish wrote (never switched to, so nothing reads it)."""
    try:
        if passages is not None:
            passages.drop()
    except Exception:  # the engine may be what failed: the collection is left, unnamed
        log.warning("a failed publish left collection %s", passages and passages.collection)
    for path in (folder, folder.with_name(folder.name + ".partial")) if folder else ():
        shutil.rmtree(path, ignore_errors=True)


def _copy_store(version_dir: Path, target: Path) -> Path:
    """The store and the article-level keyword index copied to `target`, the store with
    the term ids of the engine's sparse vectors (the keyword index's vocabulary)."""
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
    # The bm25s vocabulary: a word's column of the weight matrix is its term id; with its
    # IDF, so the server can bound a question's BM25 (bounded fusion, `score_bound`).
    vocabulary = keyword.vocabulary
    columns = keyword.weight_matrix().shape[1]
    passages = keyword.passages
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute(
            f"CREATE TABLE {TERMS_TABLE} (word TEXT PRIMARY KEY, id INTEGER NOT NULL, idf REAL)"
        )
        db.executemany(
            f"INSERT INTO {TERMS_TABLE} VALUES (?, ?, ?)",
            (
                (w, int(c), bm25_idf(passages, keyword.document_frequency(w)))
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
    keyword = KeywordIndex(version_dir / KEYWORD_DIR)
    matrix = keyword.weight_matrix()
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
                    language=article.get("language") or "",
                )


def _drop_old(
    catalog: MilvusPassages, before: list[dict[str, str]], keep: list[dict[str, str]]
) -> tuple[str, ...]:
    """Drop the collections and store folders the previous record owned that the new one
    does not (it keeps the one just published and the one servers may still answer from)."""
    kept = {o["passages"] for o in keep}
    dropped = []
    for owned in before:
        if owned["passages"] in kept or not _drop(catalog, owned["passages"]):
            continue
        _remove_store_folder(Path(owned["store_folder"]), {o["store_folder"] for o in keep})
        dropped.append(owned["passages"])
    return tuple(dropped)


def _drop_unlisted(
    catalog: MilvusPassages, name: str, previous: dict[str, Any], keep: list[dict[str, str]]
) -> tuple[str, ...]:
    """Once, after a record written before `owns`: the older versions' collections that
    publish named `<name>__<version stamp>`, matched exactly (another index's, such as
    `<name>__eu__<version>`, never match), and their store folders."""
    stamp = r"\d{8}T\d{6}Z(_[A-Za-z0-9]+)*"
    version = re.compile(re.escape(collection_name(f"{name}__")) + stamp)
    kept = {o["passages"] for o in keep}
    store_dir = previous.get("store_dir")
    dropped = []
    for collection in catalog.collections():
        if version.fullmatch(collection) and collection not in kept:
            if not _drop(catalog, collection):
                continue
            if store_dir:
                folders = {o["store_folder"] for o in keep}
                _remove_store_folder(Path(str(store_dir)) / collection, folders)
            dropped.append(collection)
    return tuple(dropped)


def _drop(catalog: MilvusPassages, collection: str) -> bool:
    """Drop a collection after the switch; a failure is logged, not the publish's (the new
    version is served: the next publish drops it again)."""
    try:
        catalog.with_collection(collection).drop()
    except IndexUnavailableError:
        log.warning("collection %s of an older version could not be dropped", collection)
        return False
    return True


def _remove_store_folder(folder: Path, keep: set[str]) -> None:
    """Delete a dropped version's store copy (a folder publish wrote: it holds the store)."""
    if str(folder) in keep or not (folder / STORE_NAME).is_file():
        return
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        log.warning("the store copy %s of a dropped version is left: %s", folder, exc)


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
