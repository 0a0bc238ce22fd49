"""The measurements behind docs/live-index.md: which store for the live index's keyword side,
what a durable append costs, and how the vector side searches small and merged segments.

Passages are SciFact abstracts cut into pieces of about 60 words, repeated under new ids up
to `--passages` (repeats change no cost that is measured here); every keyword option is fed
the product's own index words (`semsearch.index.text.analysis`), so there is one analysis.

1. keyword: the cost of writing 100 articles (~200 passages) into an index of `--passages`
   and the latency of a 4-word query, for
   - tantivy (segments, merges and BM25 over all segments inside the library; a whitespace
     tokenizer over the product's words),
   - term-frequency segments in numpy (CSC per segment) with the collection's document
     frequencies kept by the product (in SQLite; bm25s keeps BM25 *weights*, which bake in one
     segment's idf and mean length, so per-segment bm25s cannot give collection-wide BM25),
   - SQLite postings (word, passage, tf) with the same document-frequency table;
2. durability: an fsync'd append to a log file against a SQLite commit (WAL, synchronous
   FULL) of the same batch;
3. vectors: exact search over a small flat segment against FAISS HNSW over a merged one
   (build time, search time).

    .venv/bin/python -m pip install tantivy==0.27.0   # measured, not a dependency
    .venv/bin/python scripts/live_index_choices.py --passages 100000

Figures go to docs/live-index.md ("Measured").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import sparse

from semsearch.index.text.analysis import index_words, query_words

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
K1, B = 1.2, 0.75


def passages(limit: int) -> list[str]:
    """SciFact abstracts in pieces of about 60 words, repeated up to `limit`."""
    pieces: list[str] = []
    with (DATASET / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            words = f"{record['title']} {record['text']}".split()
            pieces += [" ".join(words[i : i + 60]) for i in range(0, len(words), 60)]
    return [pieces[i % len(pieces)] for i in range(limit)]


def questions(limit: int) -> list[str]:
    with (DATASET / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle][:limit]


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each call."""
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        found.append((time.perf_counter() - started) * 1000)
    return found


def timed_each(function: Callable[[np.ndarray], object], items: np.ndarray) -> list[float]:
    """Milliseconds of one call per item."""
    found = []
    for item in items:
        started = time.perf_counter()
        function(item)
        found.append((time.perf_counter() - started) * 1000)
    return found


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms"


# --- keyword: tantivy -------------------------------------------------------------------


def measure_tantivy(words: list[list[str]], batch: list[list[str]], queries: list[str]) -> None:
    import tantivy

    folder = Path(tempfile.mkdtemp(prefix="live-tantivy-"))
    try:
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("chunk", stored=True, indexed=True, fast=True)
        builder.add_text_field("words", stored=False, tokenizer_name="whitespace")
        schema = builder.build()
        index = tantivy.Index(schema, path=str(folder))
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        started = time.perf_counter()
        for i, w in enumerate(words):
            writer.add_document(tantivy.Document(chunk=i, words=" ".join(w)))
        writer.commit()
        writer.wait_merging_threads()
        print(f"tantivy: {len(words):,} passages indexed in {time.perf_counter() - started:.1f} s")
        writer = index.writer(heap_size=50_000_000, num_threads=1)
        next_id = len(words)

        def write_batch() -> None:
            nonlocal next_id
            for w in batch:
                writer.add_document(tantivy.Document(chunk=next_id, words=" ".join(w)))
                next_id += 1
            writer.commit()
            index.reload()

        costs = timed(write_batch, 20)
        print(f"tantivy: write {len(batch)} passages + commit + reload: {summary(costs)}")
        searcher = index.searcher()
        parsed = [index.parse_query(" ".join(query_words(q)) or "x", ["words"]) for q in queries]
        latencies = []
        for query in parsed:
            started = time.perf_counter()
            searcher.search(query, 100)
            latencies.append((time.perf_counter() - started) * 1000)
        print(
            f"tantivy: query (top 100) over {searcher.num_docs:,} passages, "
            f"{searcher.num_segments} segments: {summary(latencies)}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- keyword: term-frequency segments in numpy, collection statistics in the product ------


class TfSegment:
    """Term frequencies of a segment's passages: CSC (passages by local words)."""

    def __init__(self, words: list[list[str]], first_id: int) -> None:
        vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for r, passage in enumerate(words):
            for word, count in Counter(passage).items():
                rows.append(r)
                cols.append(vocabulary.setdefault(word, len(vocabulary)))
                tfs.append(count)
        self.vocabulary = vocabulary
        self.matrix = sparse.csc_matrix(
            (np.asarray(tfs, np.float32), (rows, cols)), shape=(len(words), len(vocabulary))
        )
        self.lengths = np.asarray([len(w) for w in words], np.float32)
        self.ids = np.arange(first_id, first_id + len(words))


def tf_scores(
    segments: list[TfSegment], qwords: list[str], df: dict[str, int], n: int, mean: float
) -> tuple[np.ndarray, np.ndarray]:
    found_ids, found_scores = [], []
    for seg in segments:
        scores = np.zeros(len(seg.ids), np.float32)
        norm = K1 * (1 - B + B * seg.lengths / mean)
        for word in qwords:
            col = seg.vocabulary.get(word)
            if col is None:
                continue
            d = df.get(word, 0)
            idf = math.log(1 + (n - d + 0.5) / (d + 0.5))
            start, end = seg.matrix.indptr[col], seg.matrix.indptr[col + 1]
            rows = seg.matrix.indices[start:end]
            tf = seg.matrix.data[start:end]
            scores[rows] += idf * tf / (tf + norm[rows])
        hit = np.flatnonzero(scores)
        found_ids.append(seg.ids[hit])
        found_scores.append(scores[hit])
    ids = np.concatenate(found_ids)
    scores = np.concatenate(found_scores)
    top = np.argsort(-scores)[:100]
    return ids[top], scores[top]


def measure_tf_segments(words: list[list[str]], batch: list[list[str]], queries: list[str]) -> None:
    started = time.perf_counter()
    base = TfSegment(words, 0)
    df: Counter[str] = Counter()
    for passage in words:
        df.update(set(passage))
    print(
        f"tf segments: {len(words):,} passages in one segment in "
        f"{time.perf_counter() - started:.1f} s"
    )
    folder = Path(tempfile.mkdtemp(prefix="live-tf-"))
    db = sqlite3.connect(folder / "stats.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE terms (word TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("BEGIN")
    db.executemany("INSERT INTO terms VALUES (?, ?)", df.items())
    db.execute("COMMIT")
    segments = [base]

    def write_batch() -> None:
        segment = TfSegment(batch, int(segments[-1].ids[-1]) + 1)
        counts: Counter[str] = Counter()
        for passage in batch:
            counts.update(set(passage))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO terms VALUES (?, ?) ON CONFLICT(word) DO UPDATE SET df = df + excluded.df",
            counts.items(),
        )
        db.execute("COMMIT")
        segments.append(segment)

    costs = timed(write_batch, 10)
    print(f"tf segments: write {len(batch)} passages (segment + df commit): {summary(costs)}")
    n = sum(len(s.ids) for s in segments)
    mean = float(sum(s.lengths.sum() for s in segments) / n)
    latencies = []
    for q in queries:
        qwords = list(dict.fromkeys(query_words(q)))
        started = time.perf_counter()
        marks = ",".join("?" * len(qwords))
        dfs = dict(db.execute(f"SELECT word, df FROM terms WHERE word IN ({marks})", qwords))
        tf_scores(segments, qwords, dfs, n, mean)
        latencies.append((time.perf_counter() - started) * 1000)
    print(
        f"tf segments: query (top 100) over {n:,} passages, {len(segments)} segments: "
        f"{summary(latencies)}"
    )
    db.close()
    shutil.rmtree(folder, ignore_errors=True)


# --- keyword: SQLite postings -------------------------------------------------------------


def measure_sqlite(words: list[list[str]], batch: list[list[str]], queries: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="live-sqlite-"))
    db = sqlite3.connect(folder / "postings.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(
        "CREATE TABLE postings (word TEXT, chunk INTEGER, tf INTEGER, "
        "PRIMARY KEY (word, chunk)) WITHOUT ROWID"
    )
    db.execute("CREATE TABLE lengths (chunk INTEGER PRIMARY KEY, words INTEGER)")
    db.execute("CREATE TABLE terms (word TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
    next_id = 0

    def insert(passages_words: list[list[str]]) -> None:
        nonlocal next_id
        rows, lengths = [], []
        df: Counter[str] = Counter()
        for passage in passages_words:
            counts = Counter(passage)
            rows += [(w, next_id, c) for w, c in counts.items()]
            lengths.append((next_id, len(passage)))
            df.update(counts.keys())
            next_id += 1
        db.execute("BEGIN")
        db.executemany("INSERT INTO postings VALUES (?, ?, ?)", rows)
        db.executemany("INSERT INTO lengths VALUES (?, ?)", lengths)
        db.executemany(
            "INSERT INTO terms VALUES (?, ?) ON CONFLICT(word) DO UPDATE SET df = df + excluded.df",
            df.items(),
        )
        db.execute("COMMIT")

    started = time.perf_counter()
    for i in range(0, len(words), 10_000):
        insert(words[i : i + 10_000])
    print(f"sqlite: {len(words):,} passages inserted in {time.perf_counter() - started:.1f} s")
    costs = timed(lambda: insert(batch), 10)
    print(f"sqlite: write {len(batch)} passages (one commit): {summary(costs)}")
    n = next_id
    mean = db.execute("SELECT avg(words) FROM lengths").fetchone()[0]
    latencies = []
    for q in queries:
        qwords = list(dict.fromkeys(query_words(q)))
        started = time.perf_counter()
        scores: dict[int, float] = {}
        for word in qwords:
            row = db.execute("SELECT df FROM terms WHERE word = ?", (word,)).fetchone()
            if row is None:
                continue
            idf = math.log(1 + (n - row[0] + 0.5) / (row[0] + 0.5))
            for chunk, tf, length in db.execute(
                "SELECT p.chunk, p.tf, l.words FROM postings p JOIN lengths l "
                "ON l.chunk = p.chunk WHERE p.word = ?",
                (word,),
            ):
                norm = K1 * (1 - B + B * length / mean)
                scores[chunk] = scores.get(chunk, 0.0) + idf * tf / (tf + norm)
        sorted(scores.items(), key=lambda kv: -kv[1])[:100]
        latencies.append((time.perf_counter() - started) * 1000)
    print(f"sqlite: query (top 100) over {n:,} passages: {summary(latencies)}")
    db.close()
    shutil.rmtree(folder, ignore_errors=True)


# --- durability ---------------------------------------------------------------------------


def measure_durability(dimension: int = 384, passages_in_batch: int = 200) -> None:
    folder = Path(tempfile.mkdtemp(prefix="live-fsync-", dir=ROOT.parent))
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(passages_in_batch, dimension)).astype(np.float32)
    text = ("word " * 12_000).encode()  # ~60 kB of article text
    record = text + vectors.tobytes()
    try:
        with (folder / "log").open("ab") as handle:

            def append() -> None:
                handle.write(record)
                handle.flush()
                os.fsync(handle.fileno())

            costs = timed(append, 30)
        print(f"durability: append {len(record) / 1024:.0f} kB + fsync: {summary(costs)}")
        db = sqlite3.connect(folder / "log.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, body BLOB)")

        def commit() -> None:
            db.execute("BEGIN")
            db.execute("INSERT INTO batches (body) VALUES (?)", (record,))
            db.execute("COMMIT")

        costs = timed(commit, 30)
        print(f"durability: SQLite WAL commit of the same, synchronous FULL: {summary(costs)}")
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- vectors --------------------------------------------------------------------------------


def measure_vectors(count: int, dimension: int = 384) -> None:
    import faiss

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2000, dimension)).astype(np.float32)
    data = centres[rng.integers(0, 2000, count)] + rng.normal(
        scale=0.6, size=(count, dimension)
    ).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[rng.choice(count, 200, replace=False)] + rng.normal(
        scale=1.3 / math.sqrt(dimension), size=(200, dimension)
    ).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    for small in (2_000, 20_000):
        flat = faiss.IndexFlatIP(dimension)
        flat.add(data[:small])
        costs = timed_each(lambda q, flat=flat: flat.search(q[None, :], 100), queries)
        print(f"vectors: exact search over a flat segment of {small:,}: {summary(costs)}")
    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dimension, 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(data)
    print(
        f"vectors: HNSW (M 16, efConstruction 40) over {count:,}: built in "
        f"{time.perf_counter() - started:.1f} s on {faiss.omp_get_max_threads()} threads"
    )
    exact = faiss.IndexFlatIP(dimension)
    exact.add(data)
    _, truth = exact.search(queries, 10)
    for ef in (64, 128, 256):
        hnsw.hnsw.efSearch = ef
        costs = timed_each(lambda q: hnsw.search(q[None, :], 100), queries)
        _, found = hnsw.search(queries, 10)
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        print(
            f"vectors: HNSW efSearch {ef}: {summary(costs)}, recall@10 {recall:.3f} "
            "(synthetic clustered vectors)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip", nargs="*", default=[], help="tantivy, tf, sqlite, vectors")
    args = parser.parse_args()
    texts = passages(args.passages + 200)
    words = index_words(texts[: args.passages])
    batch = index_words(texts[args.passages :])
    queries = questions(args.queries)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores")
    if "tantivy" not in args.skip:
        measure_tantivy(words, batch, queries)
    if "tf" not in args.skip:
        measure_tf_segments(words, batch, queries)
    if "sqlite" not in args.skip:
        measure_sqlite(words, batch, queries)
    measure_durability()
    if "vectors" not in args.skip:
        measure_vectors(args.vectors)


if __name__ == "__main__":
    main()
