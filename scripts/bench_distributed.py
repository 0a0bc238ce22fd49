"""Embedding throughput on a loopback Dask cluster against the single-process embedder.

Embeds the same passages (SciFact abstracts by default, read from ../shared) once in this
process, then on a `LocalCluster` of 1 and of 2 worker processes bound to 127.0.0.1 (checked
from /proc after the start), and prints passages/s, CPU seconds per passage (every process
involved: the workers, and the scheduler and client in this one) and how far the cluster's
vectors are from the single-process ones. Model loads are kept out of the timings: each
cluster embeds a few passages first. Figures go to docs/scaling.md.

    .venv/bin/python scripts/bench_distributed.py --passages 2000 --workers 1 2

`--build` times whole builds instead (`build_index`, as `semsearch build` runs it, tuning
off): the first `--articles` SciFact abstracts (copied to `--work`, outside the project) built
in this process, with `--engine dask` on 1 and 2 workers of a loopback LocalCluster started
and warmed beforehand (start time reported apart), and once with an encoder that returns
constant vectors: the reading, parsing, chunking and writing that stay in the client. It
checks the cluster builds' chunks equal the single-process build's and reports how far their
vectors are.

    .venv/bin/python scripts/bench_distributed.py --build --articles 1200 --workers 1 2

`--engine-latency` instead times the Milvus passage backend (index/storage/milvus/client.py)
on Milvus Lite: 10,000 passages (SciFact abstracts cut in halves, random unit vectors, since
a FLAT search costs the same whatever the vectors), dense, keyword and filtered queries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from distributed import Client

from semsearch.index.build.builder import build_index
from semsearch.index.build.distributed import (
    check_loopback_only,
    dask_pipeline,
    embed_on_client,
    local_cluster,
    process_tree,
)
from semsearch.index.embed import Embedder, load_embedder
from semsearch.index.storage.directory import resolve_index_dir, versions_dir
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import read_vector_index
from semsearch.settings import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"


def read_passages(path: Path, n: int) -> list[str]:
    """The first `n` non-empty abstracts of a BEIR corpus."""
    texts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            text = str(json.loads(line).get("text", "")).strip()
            if text:
                texts.append(text)
            if len(texts) >= n:
                break
    return texts


def own_cpu() -> float:
    """CPU seconds of this process so far (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds so far of the given processes (their own, not their children's)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def bench_single(texts: list[str], model: str, backend: str | None) -> tuple[dict, np.ndarray]:
    """Passages/s and CPU s/passage of the embedder in this process."""
    embedder = load_embedder(model, backend=backend)
    embedder.encode_documents(texts[:8])
    cpu, start = own_cpu(), time.perf_counter()
    vectors = embedder.encode_documents(texts)
    seconds, cpu = time.perf_counter() - start, own_cpu() - cpu
    return {"engine": "single process", "workers": 1, "seconds": seconds, "cpu": cpu}, vectors


def bench_cluster(
    texts: list[str], model: str, backend: str | None, workers: int, chunk_size: int
) -> tuple[dict, np.ndarray]:
    """The same on a loopback LocalCluster of `workers` worker processes."""
    started = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        sockets = check_loopback_only(process_tree())
        embed_on_client(client, texts[:8], model, backend=backend, chunk_size=chunk_size)
        startup = time.perf_counter() - started
        pids = [int(pid) for pid in client.run(os.getpid).values()]
        cpu, start = own_cpu() + tree_cpu(pids), time.perf_counter()
        vectors = embed_on_client(client, texts, model, backend=backend, chunk_size=chunk_size)
        seconds = time.perf_counter() - start
        cpu = own_cpu() + tree_cpu(pids) - cpu
    row = {
        "engine": "dask",
        "workers": workers,
        "seconds": seconds,
        "cpu": cpu,
        "startup": startup,
        "listening": sorted(f"{s.address}:{s.port}" for s in sockets),
    }
    return row, vectors


class ConstantEncoder:
    """The real embedder's tokenizer and window, but a constant vector for every passage:
    a build with it costs what the client does besides embedding."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.vector = np.zeros(embedder.dimension, dtype=np.float32)
        self.vector[0] = 1.0

    def __getattr__(self, name: str) -> object:
        return getattr(self._embedder, name)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))


def write_articles(corpus: Path, n: int, work: Path) -> Path:
    """The first `n` records of a BEIR corpus as a JSONL file in `work` (not the project)."""
    work.mkdir(parents=True, exist_ok=True)
    target = work / f"{corpus.parent.name}-{n}.jsonl"
    if not target.exists():
        with corpus.open(encoding="utf-8") as source, target.open("w", encoding="utf-8") as out:
            for _, line in zip(range(n), source, strict=False):
                out.write(line)
    return target


def index_contents(out: Path) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """Chunks (id, article, offsets, text) and vectors of a built index, in id order."""
    folder = resolve_index_dir(out)
    reader = StoreReader(folder / "store.sqlite")
    db = reader.connect()
    chunks = [(c.chunk_id, c.article["id"], c.start, c.end, c.text) for c in reader.iter_chunks(db)]
    db.close()
    index = read_vector_index(folder / "vectors.faiss")
    return chunks, np.stack([index.reconstruct(int(chunk[0])) for chunk in chunks])


def timed_build(inputs: Path, out: Path, embedder: Any, pipeline_factory: Any = None) -> dict:
    """One build_index run: wall seconds, CPU seconds of this process and its children
    alive at the end (a cluster's workers), passages."""
    # A fresh folder: a build over an older one would reuse its vectors.
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(versions_dir(out), ignore_errors=True)
    if out.is_symlink():
        out.unlink()
    pids = process_tree()
    cpu, start = tree_cpu(pids), time.perf_counter()
    report = build_index([inputs], out, embedder, pipeline_factory=pipeline_factory)
    seconds = time.perf_counter() - start
    cpu = tree_cpu(pids) - cpu
    return {"seconds": seconds, "cpu": cpu, "passages": report.chunks}


def bench_build(args: argparse.Namespace) -> None:
    """Whole builds: in this process, on 1 and 2 Dask workers, and the client's share."""
    inputs = write_articles(args.corpus, args.articles, args.work)
    embedder = load_embedder(args.model, backend=args.backend)
    embedder.encode_documents(["warm up"])
    rows = []
    reference_out = args.work / "single"
    row = timed_build(inputs, reference_out, embedder)
    rows.append({"engine": "single process", "workers": 1, **row})
    reference_chunks, reference_vectors = index_contents(reference_out)
    row = timed_build(inputs, args.work / "constant", ConstantEncoder(embedder))
    rows.append({"engine": "client only (constant vectors)", "workers": 0, **row})
    for workers in args.workers:
        started = time.perf_counter()
        with local_cluster(workers) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            sockets = check_loopback_only(process_tree())
            # Load the model on every worker before the clock starts, as a long build would.
            embed_on_client(client, ["warm up"], args.model, backend=args.backend)
            startup = time.perf_counter() - started
            out = args.work / f"dask-{workers}"
            row = timed_build(inputs, out, embedder, dask_pipeline(cluster.scheduler_address))
            check_loopback_only(process_tree())
        chunks, vectors = index_contents(out)
        rows.append(
            {
                "engine": "dask",
                "workers": workers,
                **row,
                "startup": startup,
                "same_chunks": chunks == reference_chunks,
                "max_abs_diff": float(np.abs(vectors - reference_vectors).max()),
                "listening": sorted(f"{s.address}:{s.port}" for s in sockets),
            }
        )
    passages = rows[0]["passages"]
    print(f"{args.articles} articles, {passages} passages, {args.backend}, {os.cpu_count()} CPUs")
    for row in rows:
        row["passages_per_s"] = row["passages"] / row["seconds"]
        row["cpu_ms_per_passage"] = 1000 * row["cpu"] / row["passages"]
        print(json.dumps(row))
    base = rows[0]["cpu"] / passages
    print("| build | workers | passages/s | CPU ms/passage | CPU vs single | start s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        overhead = 100 * (row["cpu"] / passages / base - 1)
        print(
            f"| {row['engine']} | {row['workers']} | {row['passages_per_s']:.1f} | "
            f"{row['cpu_ms_per_passage']:.1f} | {overhead:+.0f} % | {row.get('startup', 0):.1f} |"
        )


def bench_engine(corpus: Path, n: int, repeats: int = 50) -> None:
    """Write `n` passages to a Milvus Lite collection and print query latencies."""
    import tempfile

    from semsearch.index.storage.milvus.client import EngineFilter, EnginePassage, MilvusPassages

    texts: list[str] = []
    for text in read_passages(corpus, n):
        texts += [text[: len(text) // 2], text[len(text) // 2 :]]
    texts = texts[:n]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(texts), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    passages = [
        EnginePassage(
            i,
            f"a{i // 2}",
            vectors[i],
            text=text,
            published=f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            publications=(f"pub{i % 10}",),
            author=f"auth{i % 100}",
        )
        for i, text in enumerate(texts)
    ]
    with tempfile.TemporaryDirectory() as folder:
        # Milvus's own BM25 over the text ("engine" mode), as measured in docs/scaling.md.
        engine = MilvusPassages(str(Path(folder) / "bench.db"), keyword_mode="engine")
        start = time.perf_counter()
        engine.create(384)
        created = time.perf_counter() - start
        start = time.perf_counter()
        engine.write(passages)
        written = time.perf_counter() - start
        engine_pids = [p for p in process_tree() if psutil.Process(p).name() == "milvus"]
        tcp = check_loopback_only(engine_pids)
        print(
            f"{len(texts)} passages: create {created:.1f} s, write {written:.1f} s; "
            f"engine pids {engine_pids}, TCP listeners {tcp}"
        )
        narrow = EngineFilter(publication="pub3", author="auth13")  # 1 %
        year = EngineFilter(published_from="2020", published_to="2020")
        queries = {
            "dense": lambda: engine.dense(vectors[5], 10),
            "keyword": lambda: engine.keyword("cerebral white matter diffusion", 10),
            "dense, 1 % filter": lambda: engine.dense(vectors[5], 10, narrow),
            "keyword, 1 % filter": lambda: engine.keyword("cells", 10, narrow),
            "dense, date filter": lambda: engine.dense(vectors[5], 10, year),
        }
        print("| query | hits | p50 ms | p95 ms |")
        print("| --- | ---: | ---: | ---: |")
        for name, query in queries.items():
            query()
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                hits = query()
                seconds.append(time.perf_counter() - start)
            p50, p95 = np.percentile(seconds, [50, 95]) * 1000
            print(f"| {name} | {len(hits)} | {p50:.1f} | {p95:.1f} |")
        engine.close()


def main() -> None:
    """Run the benchmark and print one JSON line per configuration, then a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--engine-latency", action="store_true", help="time Milvus Lite instead")
    parser.add_argument("--build", action="store_true", help="time whole builds instead")
    parser.add_argument("--articles", type=int, default=1200, help="articles read by --build")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/semsearch-bench-distributed"),
        help="--build's folder",
    )
    args = parser.parse_args()
    if args.build:
        bench_build(args)
        return
    if args.engine_latency:
        bench_engine(args.corpus, 10_000)
        return
    texts = read_passages(args.corpus, args.passages)
    rows = []
    single, reference = bench_single(texts, args.model, args.backend)
    rows.append(single)
    for workers in args.workers:
        row, vectors = bench_cluster(texts, args.model, args.backend, workers, args.chunk_size)
        row["min_cosine"] = float(np.sum(vectors * reference, axis=1).min())
        row["max_abs_diff"] = float(np.abs(vectors - reference).max())
        rows.append(row)
    base = single["cpu"] / len(texts)
    print(f"{len(texts)} passages, model {args.model} on {args.backend}, {os.cpu_count()} CPUs")
    for row in rows:
        row["passages_per_s"] = len(texts) / row["seconds"]
        row["cpu_ms_per_passage"] = 1000 * row["cpu"] / len(texts)
        row["cpu_overhead"] = row["cpu"] / len(texts) / base - 1
        print(json.dumps(row))
    print("| engine | workers | passages/s | CPU ms/passage | CPU vs single | start s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['engine']} | {row['workers']} | {row['passages_per_s']:.1f} | "
            f"{row['cpu_ms_per_passage']:.1f} | {100 * row['cpu_overhead']:+.0f} % | "
            f"{row.get('startup', 0):.1f} |"
        )


# Dask starts its workers with multiprocessing's spawn: they import this file again.
if __name__ == "__main__":
    main()
