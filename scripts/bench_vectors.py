#!/usr/bin/env python
"""The vector index at scale: build, recall, latency and memory at 100k or 1M chunks.

    .venv/bin/python scripts/bench_vectors.py --index /tmp/scifact-idx --count 1000000 \\
        [--queries ../shared/datasets/scifact/queries.jsonl]

Vectors are synthesised around the real ones of an existing index (each a random mix of
two real passage vectors plus a little noise, so the collection keeps the real topic
structure at any size). Queries are real: the questions in `--queries`, encoded by the
model, or else real passage vectors moved to cosine ~0.7. For the index `write_vector_index`
builds (what `semsearch build` would choose at that size) it prints the build time, the
recall@10 the build measured and the recall@10 of the real queries against exact search,
then, in a fresh process that maps the file, load time, search p50/p95/p99 (one thread per
search, as the server runs it) and resident memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from semsearch.bench.runner import synthesise
from semsearch.index.storage.vectors import read_vector_index, recall_at_10, write_vector_index


def real_queries(path: Path | None, base: np.ndarray, limit: int) -> np.ndarray:
    if path is not None:
        from semsearch.index.embed import load_embedder

        embedder = load_embedder("packaged:all-MiniLM-L6-v2")
        lines = path.read_text(encoding="utf-8").splitlines()[:limit]
        return np.stack([embedder.encode_query(json.loads(line)["text"]) for line in lines])
    rng = np.random.default_rng(7)
    picked = base[rng.integers(0, len(base), limit)]
    moved = picked + rng.normal(0, 1 / np.sqrt(base.shape[1]), picked.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def measure_served(path: Path, queries_path: Path) -> dict[str, float]:
    """Load the index as the server does (mapped) in a fresh process and time searches."""
    code = f"""
import json, resource, time, numpy as np, faiss
from semsearch.index.storage.vectors import read_vector_index, search_vectors
faiss.omp_set_num_threads(1)
started = time.perf_counter()
index = read_vector_index({str(path)!r}, mmap=True)
load = time.perf_counter() - started
queries = np.load({str(queries_path)!r})
times = []
for _ in range(3):
    for q in queries:
        t = time.perf_counter()
        search_vectors(index, q, 100)
        times.append(time.perf_counter() - t)
rss = [l for l in open('/proc/self/status') if l.startswith(('VmRSS', 'VmHWM'))]
ms = {{f"p{{p}}_ms": 1000 * float(np.percentile(times, p)) for p in (50, 95, 99)}}
print(json.dumps({{"load_s": load, **ms, "rss": rss}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="an index with real vectors")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=Path, default=None, help="BEIR queries.jsonl")
    parser.add_argument("--exact-below", type=int, default=25_000)
    args = parser.parse_args()
    import faiss

    real = read_vector_index(args.index / "vectors.faiss")
    base = real.index.reconstruct_n(0, real.ntotal) if hasattr(real, "index") else None
    if base is None:
        raise SystemExit("--index must hold an exact (flat) index to take real vectors from")
    vectors = synthesise(base, args.count, seed=0)
    ids = np.arange(1, args.count + 1, dtype=np.int64)
    queries = real_queries(args.queries, base, 300).astype(np.float32)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "vectors.faiss"
        started = time.perf_counter()
        info = write_vector_index(ids, vectors, path, exact_below=args.exact_below)
        build = time.perf_counter() - started
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        _, rows = exact.search(queries, 10)
        del exact
        index = read_vector_index(path)
        _, found = index.search(queries, 10)
        recall = recall_at_10(found, ids[rows])
        del index
        np.save(Path(work) / "queries.npy", queries)
        served = measure_served(path, Path(work) / "queries.npy")
        size = path.stat().st_size
    print(f"chunks: {args.count:,} (synthesised around {len(base):,} real vectors)")
    print(f"index: {info}; built in {build:.1f}s; {size / args.count:.0f} bytes/chunk")
    source = args.queries or "moved passage vectors"
    print(f"recall@10 of {len(queries)} queries ({source}) against exact search: {recall:.3f}")
    print(
        f"served (mapped, 1 thread, k=100): load {served['load_s'] * 1000:.0f} ms; search "
        f"p50 {served['p50_ms']:.2f} ms, p95 {served['p95_ms']:.2f} ms, "
        f"p99 {served['p99_ms']:.2f} ms"
    )
    print("memory of the serving process: " + "; ".join(s.strip() for s in served["rss"]))


if __name__ == "__main__":
    main()
