"""Recall@10 of a live index's HNSW segments for real questions, against their cost: the
choices behind `live_hnsw_*` and the segment's graph storage (docs/live-index.md, "Vectors").

Vectors are the bench's filler (`semsearch.bench.runner.synthesise`: two of 300 real SciFact
passage vectors mixed plus noise, as `scripts/bench_ingest.py` fills its indexes) or, with
`--real INDEX`, the real passage vectors of a built index (SciFact's whole collection is
about 11,500), with the filler at the same size beside them to tell whether the filler is
harder than real passages. Queries are the first `--queries` SciFact questions embedded by
the real model. Each configuration `M,efConstruction,storage[,parts]` builds `parts` graphs
over equal slices (a live index's segments; 1 by default) and reports, for each efSearch:
recall@10 against exact search over all the vectors, single-thread search time a query
(every part searched), the graph's build CPU and its bytes in memory. `storage` is `flat`
(float32, FAISS `IndexHNSWFlat`), `fp16` or `sq8` (`IndexHNSWSQ`), the last two re-scored
exactly from the float vectors (a segment's memory-mapped `vectors.npy`) over the graph's
top `--rescore`.

    .venv/bin/python scripts/live_hnsw_study.py --size 250000 --configs 32,80,flat 48,80,flat
    .venv/bin/python scripts/live_hnsw_study.py --real /path/to/built/scifact --configs 32,80,flat
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.bench.runner import first_articles, synthesise

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def real_inputs(work: Path, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """The 300 real vectors the filler is made around and the questions' vectors (cached)."""
    base_path, query_path = work / "base.npy", work / f"queries-{queries}.npy"
    if base_path.exists() and query_path.exists():
        return np.load(base_path), np.load(query_path)
    from semsearch.index.embed import load_embedder

    model = load_embedder()
    articles = first_articles([DATASET / "corpus.jsonl"], 5183)[:300]
    base = model.encode_documents([f"{a.title}\n{a.text}" for a in articles])
    lines = (DATASET / "queries.jsonl").open()
    texts = [json.loads(line)["text"] for line in lines][:queries]
    vectors = np.stack([model.encode_query(t) for t in texts]).astype(np.float32)
    np.save(base_path, base)
    np.save(query_path, vectors)
    return base, vectors


def built_vectors(index: Path) -> np.ndarray:
    import faiss

    stored = faiss.read_index(str(index / "vectors.faiss"))
    inner = faiss.downcast_index(getattr(stored, "index", stored))  # under an IndexIDMap
    return np.asarray(inner.reconstruct_n(0, inner.ntotal), dtype=np.float32)


def graph(vectors: np.ndarray, m: int, ef_construction: int, storage: str) -> Any:
    import faiss

    dimension = vectors.shape[1]
    if storage == "flat":
        index = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
    else:
        kind = {"fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}
        index = faiss.IndexHNSWSQ(dimension, kind[storage], m, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:: max(1, len(vectors) // 50_000)])
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    return index


def study(vectors: np.ndarray, queries: np.ndarray, label: str, args: argparse.Namespace) -> None:
    import faiss

    _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    log(f"{label}: {len(vectors):,} vectors, {len(queries)} questions")
    for config in args.configs:
        fields = config.split(",")
        m, ef_construction, storage = int(fields[0]), int(fields[1]), fields[2]
        parts = int(fields[3]) if len(fields) > 3 else 1
        faiss.omp_set_num_threads(args.build_threads)
        cpu, wall = time.process_time(), time.perf_counter()
        bounds = np.linspace(0, len(vectors), parts + 1).astype(int)
        graphs = [
            (int(bounds[p]), graph(vectors[bounds[p] : bounds[p + 1]], m, ef_construction, storage))
            for p in range(parts)
        ]
        built_cpu, built_wall = time.process_time() - cpu, time.perf_counter() - wall
        size = sum(faiss.serialize_index(g).nbytes for _, g in graphs)
        log(
            f"  M {m} efC {ef_construction} {storage} x{parts}: build {built_wall:.0f} s wall, "
            f"{built_cpu:.0f} s CPU; {size / 2**20:,.0f} MB in memory"
        )
        faiss.omp_set_num_threads(1)
        for ef in args.ef_search:
            params = faiss.SearchParametersHNSW()
            params.efSearch = ef
            depth = 10 if storage == "flat" else args.rescore
            found = []
            cpu = time.process_time()
            for query in queries:
                ids, scores = [], []
                for offset, part in graphs:
                    s, i = part.search(query[None, :], min(depth, ef), params=params)
                    keep = i[0] >= 0
                    rows = i[0][keep] + offset
                    # sq8 and fp16: exact re-scoring from the float vectors
                    s = s[0][keep] if storage == "flat" else vectors[rows] @ query
                    ids.append(rows)
                    scores.append(s)
                every, every_score = np.concatenate(ids), np.concatenate(scores)
                found.append(every[np.argsort(-every_score)[:10]])
            ms = (time.process_time() - cpu) * 1000 / len(queries)
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
            log(f"    efSearch {ef}: recall@10 {recall:.3f}, CPU {ms:.2f} ms a query")
        del graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=250_000, help="filler vectors")
    parser.add_argument("--real", type=Path, help="a built index whose real vectors to study")
    parser.add_argument("--configs", nargs="+", default=["32,80,flat"])
    parser.add_argument("--ef-search", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--rescore", type=int, default=100, help="graph candidates re-scored")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/live-hnsw-study"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"{time.strftime('%Y-%m-%d', time.gmtime())}; configs {args.configs}")
    base, queries = real_inputs(args.work, args.queries)
    if args.real is not None:
        real = built_vectors(args.real)
        study(real, queries, f"real passages of {args.real}", args)
        study(synthesise(base, len(real), seed=7), queries, "filler of the same size", args)
    else:
        study(synthesise(base, args.size, seed=7), queries, "filler", args)


if __name__ == "__main__":
    main()
