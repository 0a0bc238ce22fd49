#!/usr/bin/env python
"""Relevance does not depend on how the index was made: SciFact built in one go, against
SciFact half built and half written to the live index in writes of 50 articles.

    .venv/bin/python scripts/live_relevance.py --work /tmp/live-relevance [--batch 50] \
        [--modes dense,keyword,hybrid]

1. the one-shot build: `build_index` over BEIR SciFact's corpus with the default settings
   and neither fusion tuning nor calibration (both indexes rank with the same settings, so
   only how they were made differs);
2. the made one: the first half of the corpus (in file order) built the same way, made live
   (`semsearch live`, `make_live`), the second half written through the live writer
   (`open_writer(...).upsert`) in writes of `--batch` articles, background merges running
   as they would in a server;
3. both searched through `SearchService` and scored by `semsearch eval`'s code
   (`semsearch.search.evaluate.evaluate`, k 100, grouped by article, the test judgments).

Passages are embedded once: the second index's passages are the first's, and the model gives
the same vector for the same text, so a cache keyed by the text stands in for the second run
of the model (it changes no figure, it halves the time). With `--vectors-from INDEX` (a built
index of the same model and chunker, e.g. an earlier one-shot build of SciFact) the cache is
filled first from that index's stored vectors, keyed by each passage's embedding text, and
the model embeds only the texts it does not hold; INDEX is opened read-only (SQLite's
immutable mode, FAISS read into memory) and never written. Prints nDCG@10 (and Recall@100) of
each mode for both, and the difference; the target is |difference| <= 0.005 nDCG@10. The
corpus is read from ../shared in place; the half written to --work is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets" / "scifact"
TARGET = 0.005


class CachedEmbedder:
    """An embedder that remembers each passage's vector by its text (thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.computed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def fill_from(self, index: Path, chunker: Any) -> int:
        """Take the stored vectors of a built index of the same model and chunker, keyed by
        each passage's embedding text; how many texts were taken. Never writes to `index`."""
        import sqlite3
        from contextlib import closing

        from semsearch.index.storage.directory import resolve_index_dir
        from semsearch.index.storage.manifest import (
            STORE_NAME,
            VECTORS_NAME,
            check_model,
            read_manifest,
        )
        from semsearch.index.storage.vectors import read_vector_index, stored_vectors

        version = resolve_index_dir(index)
        manifest = read_manifest(version)
        check_model(manifest, self.name, self.revision, self.dimension)
        if manifest.chunker != chunker.settings():
            raise SystemExit(
                f"{index} was chunked with {manifest.chunker}, this run chunks with "
                f"{chunker.settings()}: its vectors are not this run's passages'"
            )
        vectors = read_vector_index(version / VECTORS_NAME)
        uri = f"file:{version / STORE_NAME}?mode=ro&immutable=1"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a "
                "ON a.id = c.article_id ORDER BY c.id"
            ).fetchall()
        taken = 0
        for start in range(0, len(rows), 1_000):
            part = rows[start : start + 1_000]
            found = stored_vectors(vectors, [r[0] for r in part])
            if found is None:
                raise SystemExit(f"the vectors of {index} cannot be read back")
            with self._lock:
                for (_, title, text), vector in zip(part, found, strict=True):
                    self._cache[chunker.embedding_text(title, text)] = np.asarray(
                        vector, dtype=np.float32
                    )
                    taken += 1
        return taken

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._inner.encode_documents(missing)
            with self._lock:
                self._cache.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
                self.computed += len(missing)
        with self._lock:
            return np.stack([self._cache[t] for t in texts]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder")
    parser.add_argument("--batch", type=int, default=50, help="articles a write")
    parser.add_argument("--modes", default="dense,keyword,hybrid")
    parser.add_argument("--shared", type=Path, default=SHARED, help="BEIR SciFact's folder")
    parser.add_argument(
        "--vectors-from",
        type=Path,
        help="a built index of the same model and chunker whose stored vectors stand in for "
        "the model, keyed by passage text (read-only; a miss is embedded)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="only the first N articles, and the queries judged on them",
    )
    args = parser.parse_args()
    corpus = args.shared / "corpus.jsonl"
    if not corpus.is_file():
        raise SystemExit(f"no SciFact at {args.shared}: nothing to measure")

    from semsearch.index.build.builder import build_index
    from semsearch.index.embed import load_embedder
    from semsearch.index.ingest.articles import Article
    from semsearch.index.ingest.readers import read_file
    from semsearch.index.live import open_writer
    from semsearch.index.live.snapshot import make_live
    from semsearch.search.evaluate import evaluate, read_qrels, read_queries
    from semsearch.search.service import SearchService

    started = datetime.now(UTC)
    load = os.getloadavg()[0]
    work: Path = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    embedder = CachedEmbedder(load_embedder())
    if args.vectors_from:
        from semsearch.index.build.builder import make_chunker

        clock = time.perf_counter()
        taken = embedder.fill_from(args.vectors_from, make_chunker(embedder, {}))
        print(
            f"vectors taken from {args.vectors_from}: {taken} passages, "
            f"{time.perf_counter() - clock:.0f} s",
            flush=True,
        )
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        lines = lines[: args.limit]
        corpus = work / "corpus-slice.jsonl"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    articles = [a for a in read_file(corpus, corpus.parent) if isinstance(a, Article)]
    half = len(articles) // 2
    if len(lines) != len(articles):
        raise SystemExit("the corpus has lines the reader skips: halves would not line up")

    clock = time.perf_counter()
    full = work / "one-shot"
    build_index([corpus], full, embedder)
    print(
        f"one-shot build: {len(articles)} articles, {time.perf_counter() - clock:.0f} s",
        flush=True,
    )

    clock = time.perf_counter()
    first = work / "first-half.jsonl"
    first.write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    made = work / "built-then-written"
    build_index([first], made, embedder)
    first.unlink()
    make_live(made, embedder)
    writer = open_writer(made, embedder)
    rest = articles[half:]
    writes = 0
    for start in range(0, len(rest), args.batch):
        report = writer.upsert(rest[start : start + args.batch])
        writes += 1
        refused = [o for o in report.outcomes if o.status == "refused"]
        if refused:
            print(f"  write {writes}: refused {refused}", file=sys.stderr)
    writer.close()  # waits for a merge under way
    print(
        f"built {half} articles, made live, wrote {len(rest)} in {writes} writes of "
        f"{args.batch}: {time.perf_counter() - clock:.0f} s "
        f"(passages embedded by the model in all: {embedder.computed})",
        flush=True,
    )

    queries = read_queries(args.shared / "queries.jsonl")
    qrels = read_qrels(args.shared / "qrels" / "test.tsv")
    if args.limit:  # the queries judged on the slice, as make_collections.py --limit does
        ids = {a.id for a in articles}
        qrels = {q: {d: g for d, g in j.items() if d in ids} for q, j in qrels.items()}
        qrels = {q: j for q, j in qrels.items() if j}
    figures: dict[str, dict[str, dict[str, float]]] = {}
    # No time budget: a shared machine under load must not turn a slow search into a miss.
    settings = {"search_timeout_ms": 0}
    services = {
        "one-shot build": SearchService(full, embedder, settings),
        "half built, half written": SearchService(made, embedder, settings),
    }
    kinds = {name: service.backend.kind for name, service in services.items()}
    for name, service in services.items():
        figures[name] = {}
        for mode in args.modes.split(","):
            report = evaluate(service, queries, qrels, mode)
            figures[name][mode] = {"ndcg_10": report.ndcg_10, "recall_100": report.recall_100}
    print()
    print(f"SciFact ({len(qrels)} judged queries), nDCG@10 (Recall@100), k 100, grouped:")
    print("| mode | one-shot build | half built, half written | difference |")
    print("|---|---|---|---|")
    worst = 0.0
    for mode in args.modes.split(","):
        a = figures["one-shot build"][mode]
        b = figures["half built, half written"][mode]
        diff = b["ndcg_10"] - a["ndcg_10"]
        worst = max(worst, abs(diff))
        print(
            f"| {mode} | {a['ndcg_10']:.4f} ({a['recall_100']:.4f}) | "
            f"{b['ndcg_10']:.4f} ({b['recall_100']:.4f}) | {diff:+.4f} |"
        )
    print()
    print(f"backends: {kinds}; largest difference {worst:.4f} (target {TARGET})")
    if args.limit:
        print(f"over the first {args.limit} articles and the queries judged on them only")
        corpus.unlink()
    print(
        f"command: {' '.join([sys.executable, *sys.argv])}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, load {load:.1f} at the start; {started:%Y-%m-%d %H:%M} UTC"
    )
    (work / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    for service in services.values():
        service.close()
    if worst > TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
