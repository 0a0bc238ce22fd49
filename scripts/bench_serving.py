"""Serving at scale: the directory index against the Milvus engine backend.

On one collection grown by the bench's synthesis (`semsearch bench --scale-to`: the first
`--articles` SciFact abstracts embedded by the real model, plus articles recombined from
their sentences whose vectors are synthesised around the real ones) to `--passages`
passages (default 1,000,000), it:

1. builds the directory index (cached under `--work`: a re-run reuses it);
2. starts Milvus Lite as `semsearch engine` on a unix socket and publishes the index into
   it with `semsearch publish` (cached too: the catalog names the version published), and
   checks with /proc that no process it started listens on TCP beyond 127.0.0.1 (the
   engine on no TCP port at all);
3. times SearchService in a fresh process over each backend (dense, keyword, hybrid;
   p50/p95/p99 over `--queries` SciFact questions), then `semsearch serve` on 127.0.0.1
   over each backend at 1 and 8 keep-alive clients (p50/p95/p99 and requests/s);
4. reports the memory of each server process and of the engine process, and the index
   sizes on disk;
5. prints a table and writes every figure to `--json`.

    .venv/bin/python scripts/bench_serving.py --passages 1000000
    .venv/bin/python scripts/bench_serving.py --passages 20000 --work /tmp/bench-small

Figures go to docs/scaling.md ("Serving at 1M passages").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from semsearch.bench import runner
from semsearch.bench.load import run_load
from semsearch.index.build.distributed import check_loopback_only, listening_sockets, process_tree
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"
MODES = ("dense", "keyword", "hybrid")
COLLECTION = "bench"
#: The engine's IVF_FLAT cells (the Milvus client's `create`): probing all is exact.
IVF_NLIST = 128


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of one process, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = round(int(value.split()[0]) / 1024, 1)
    return figures


def disk_mb(path: Path) -> float:
    """Bytes under a path (a file or a folder, links not followed), in MB."""
    if path.is_file():
        return round(path.stat().st_size / 1e6, 1)
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 1e6, 1)


# --- 1. the directory index -----------------------------------------------------------------


def build_directory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The scaled directory index under `work/index`, built unless a previous run left it."""
    from semsearch.index.build.builder import build_index
    from semsearch.index.embed import load_embedder

    index_dir = work / "index"
    done = work / "build.json"
    if done.exists() and index_dir.exists():
        figures: dict[str, Any] = json.loads(done.read_text())
        log(f"directory index: reused {index_dir} ({figures['scaled']['chunks']:,} chunks)")
        figures["reused"] = True
        return figures
    articles = runner.first_articles([args.corpus], args.articles)
    runner.write_jsonl(articles, work / "articles.jsonl")
    started = time.perf_counter()
    embedder = load_embedder("packaged:all-MiniLM-L6-v2", None)
    real = build_index([work / "articles.jsonl"], index_dir, embedder)
    log(f"real index: {real.chunks:,} chunks of {real.articles:,} articles in {real.seconds:.0f} s")
    config = runner.BenchConfig(inputs=[args.corpus], work=work, scale_to=args.passages)
    base = runner._vectors_of(index_dir)
    scaled = runner._build_scaled(config, articles, base, index_dir, log)
    figures = {
        "real": {"articles": real.articles, "chunks": real.chunks, "seconds": round(real.seconds)},
        "scaled": scaled,
        "seconds": round(time.perf_counter() - started),
        "peak_rss_mb": rss_mb(os.getpid())["VmHWM"],
    }
    done.write_text(json.dumps(figures, indent=2))
    figures["reused"] = False
    return figures


def directory_sizes(index_dir: Path) -> dict[str, Any]:
    """The directory index's files, in MB, and bytes per passage."""
    version = resolve_index_dir(index_dir)
    manifest = read_manifest(version)
    chunks = int(manifest.counts["chunks"])
    parts = {p.name: disk_mb(p) for p in sorted(version.iterdir())}
    total = round(sum(parts.values()), 1)
    return {
        "chunks": chunks,
        "articles": int(manifest.counts["articles"]),
        "vector_index": manifest.vectors,
        "files_mb": parts,
        "total_mb": total,
        "bytes_per_passage": round(total * 1e6 / chunks),
    }


# --- 2. the engine --------------------------------------------------------------------------


@contextlib.contextmanager
def engine_running(work: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """`semsearch engine` on work/engine/lite.db and a unix socket: yields (engine URI, the
    CLI's process, seconds until it answered)."""
    from semsearch.index.storage.milvus.client import MilvusPassages

    folder = work / "engine"
    folder.mkdir(exist_ok=True)
    socket_path = folder / "engine.sock"
    socket_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "semsearch", "engine"]
    command += ["--db", str(folder / "lite.db"), "--socket", str(socket_path)]
    with (folder / "engine.log").open("a") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    uri = f"milvus+unix://{socket_path}?collection={COLLECTION}&timeout=60"
    try:
        probe = MilvusPassages(f"unix:{socket_path}", timeout=5)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the engine exited: see {folder / 'engine.log'}")
            if socket_path.exists():
                with contextlib.suppress(Exception):
                    probe.collections()
                    break
            if time.perf_counter() - started > 600:
                raise RuntimeError("the engine did not answer within 600 s")
            time.sleep(0.5)
        probe.close()
        yield uri, process, time.perf_counter() - started
    finally:
        runner.stop_process(process, 60)


def engine_pid(process: subprocess.Popen[bytes]) -> int:
    """The Milvus Lite core under `semsearch engine` (the process holding the data)."""
    for child in psutil.Process(process.pid).children(recursive=True):
        if child.name() == "milvus":
            return int(child.pid)
    raise RuntimeError("no milvus process under the engine command")


def check_network(pids: list[int], what: str) -> list[str]:
    """Fail unless every TCP listener of these processes is on loopback; the listeners."""
    sockets = check_loopback_only(pids)
    return [f"{what}: pid {s.pid} on {s.address}:{s.port}" for s in sockets]


def publish(args: argparse.Namespace, work: Path, uri: str) -> dict[str, Any]:
    """`semsearch publish` of the directory into the engine, unless the engine's catalog
    already names this version with this vector index."""
    from semsearch.index.storage.milvus.catalog import read_engine_record

    version = read_manifest(resolve_index_dir(work / "index")).version
    record: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        record = read_engine_record(uri)
    done = work / "publish.json"
    if (
        record.get("manifest", {}).get("version") == version
        and record.get("vector_index") == args.vector_index
        and done.exists()
    ):
        figures: dict[str, Any] = json.loads(done.read_text())
        log(f"engine: {version} already published ({figures['seconds']} s when it was)")
        figures["reused"] = True
        return figures
    command = [sys.executable, "-m", "semsearch", "publish", str(work / "index"), "--to", uri]
    command += ["--store-dir", str(work / "store"), "--vector-index", args.vector_index]
    log(f"publishing: {' '.join(command[1:])}")
    started = time.perf_counter()
    child = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error, OSError):
            peak = max(peak, rss_mb(child.pid)["VmRSS"])
        time.sleep(1)
    output = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise RuntimeError(f"publish failed: {output[-3000:]}")
    seconds = time.perf_counter() - started
    passages = read_manifest(resolve_index_dir(work / "index")).counts["chunks"]
    figures = {
        "seconds": round(seconds, 1),
        "ms_per_passage": round(seconds * 1000 / int(passages), 2),
        "publisher_peak_rss_mb": peak,
        "vector_index": args.vector_index,
        "output": output.strip()[-500:],
    }
    done.write_text(json.dumps(figures, indent=2))
    figures["reused"] = False
    return figures


# --- 3. latency -----------------------------------------------------------------------------


def in_process(index: str, queries: list[str], k: int = 10) -> dict[str, Any]:
    """SearchService over one backend, one query at a time, each mode; the top-k article
    ids of each query (to compare the backends) and this process's memory."""
    from semsearch.search.service import SearchService

    started = time.perf_counter()
    service = SearchService.open(index)
    service.warm_up()
    figures: dict[str, Any] = {"open_s": round(time.perf_counter() - started, 2)}
    for mode in MODES:
        for query in queries[:20]:  # warm the caches and the engine's segments
            service.search(query, k, mode=mode)
        times, answers = [], []
        for query in queries:
            t0 = time.perf_counter()
            result = service.search(query, k, mode=mode)
            times.append((time.perf_counter() - t0) * 1000)
            answers.append([[hit.passage.chunk_id, hit.score] for hit in result.hits])
        figures[mode] = {**runner.percentiles(times), "answers": answers}
    figures["memory_mb"] = rss_mb(os.getpid())
    # The dense candidates alone (FAISS or the engine's index), for recall against exact.
    vectors = [service.embedder.encode_query(q) for q in queries]
    figures["dense_top"] = [[c for c, _ in service.backend.dense(v, k, None)] for v in vectors]
    passages = getattr(service.backend, "passages", None)
    if passages is not None:
        # IVF_FLAT probing every cell is an exact search over the engine's float vectors.
        every_cell = {"metric_type": "IP", "params": {"nprobe": IVF_NLIST}}
        figures["exact_top"] = [
            [
                int(hit["id"])
                for hit in passages.client.search(
                    passages.collection,
                    data=[v.tolist()],
                    anns_field="vector",
                    limit=k,
                    search_params=every_cell,
                    output_fields=[],
                    timeout=60,
                )[0]
            ]
            for v in vectors
        ]
    service.close()
    return figures


def in_fresh_process(index: str, queries: list[str], work: Path) -> dict[str, Any]:
    """`in_process` in a new Python process (nothing loaded before it)."""
    arguments = work / "in-process.arguments.json"
    arguments.write_text(json.dumps({"index": index, "queries": queries}))
    done = subprocess.run(
        [sys.executable, __file__, "--task", str(arguments)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise RuntimeError(f"in-process measurement failed: {done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def agreement(first: list[list[Any]], second: list[list[Any]]) -> dict[str, float]:
    """How alike two backends' top-k passages are, query by query: the same chunk ids in the
    same order, the share of chunk ids in common, and lists whose scores are the same (to 4
    decimals) rank by rank, so that they differ only in the order of tied passages."""
    pairs = list(zip(first, second, strict=True))
    same = [[c for c, _ in a] == [c for c, _ in b] for a, b in pairs]
    overlap = [
        len({c for c, _ in a} & {c for c, _ in b}) / max(len(a), len(b), 1) for a, b in pairs
    ]
    ties = [
        len(a) == len(b) and all(abs(x[1] - y[1]) < 1e-4 for x, y in zip(a, b, strict=True))
        for a, b in pairs
    ]
    return {
        "identical_lists": round(float(np.mean(same)), 3),
        "same_scores": round(float(np.mean(ties)), 3),
        "mean_overlap": round(float(np.mean(overlap)), 3),
        "min_overlap": round(float(np.min(overlap)), 3),
    }


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    """Mean recall@k of `found` against the exact top k."""
    shares = [len(set(f) & set(e)) / max(len(e), 1) for f, e in zip(found, exact, strict=True)]
    return round(float(np.mean(shares)), 4)


def http_figures(
    args: argparse.Namespace, index: str, name: str, queries: list[str], work: Path
) -> dict[str, Any]:
    """Start to ready, loopback check, HTTP load per mode and client count, memory."""
    with runner.served(index, work / f"serve-{name}.log") as (url, pid, ready_s):
        log(f"serve {name}: ready in {ready_s:.1f} s")
        figures: dict[str, Any] = {
            "start_to_ready_s": round(ready_s, 2),
            "listeners": check_network(process_tree(pid), f"serve {name}"),
        }
        run_load(url, queries, clients=4, seconds=3.0)  # warm-up, not measured
        for mode in args.http_modes:
            for clients in args.clients:
                load = run_load(
                    url,
                    queries,
                    clients=clients,
                    seconds=args.http_seconds,
                    max_requests=args.http_requests,
                    params={"mode": mode},
                )
                figures[f"{mode}/{clients}"] = {
                    "requests": load.requests,
                    "failed": len(load.failures),
                    "per_s": round(load.per_second, 1),
                    "p50_ms": round(load.percentile(50), 1),
                    "p95_ms": round(load.percentile(95), 1),
                    "p99_ms": round(load.percentile(99), 1),
                    "first_failures": load.failures[:3],
                }
                log(f"HTTP {name} {mode} x{clients}: {load.summary()}")
        figures["memory_mb"] = runner.resident_memory(pid)
    return figures


# --- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = args.work / f"n{args.passages}"
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": runner.machine(),
        "passages_asked": args.passages,
    }
    log(f"machine: {result['machine']}")
    result["build"] = build_directory(args, work)
    result["directory"] = directory_sizes(work / "index")
    log(f"directory index: {result['directory']}")
    articles = runner.first_articles([args.corpus], args.articles)
    queries_file = None if args.queries == "titles" else Path(args.queries)
    queries = runner.read_bench_queries(queries_file, articles, args.query_count)
    with engine_running(work) as (uri, engine, ready_s):
        milvus = engine_pid(engine)
        result["engine"] = {"uri": uri, "start_to_ready_s": round(ready_s, 1)}
        tcp = listening_sockets(process_tree(engine.pid))
        if tcp:
            raise RuntimeError(f"the engine listens on TCP: {tcp}")
        log(f"engine: answering in {ready_s:.1f} s, no TCP listener; memory {rss_mb(milvus)}")
        result["engine"]["memory_mb_before_publish"] = rss_mb(milvus)
        result["publish"] = publish(args, work, uri)
        result["engine"]["memory_mb_after_publish"] = rss_mb(milvus)
        log(f"publish: {result['publish']}; engine memory {rss_mb(milvus)}")
        backends = {"directory": str(work / "index"), "engine": uri}
        result["in_process"] = {}
        for name, index in backends.items():
            figures = in_fresh_process(index, queries, work)
            result["in_process"][name] = figures
            log(
                f"in-process {name}: open {figures['open_s']} s; "
                + "; ".join(
                    f"{m} p50 {figures[m]['p50_ms']} p95 {figures[m]['p95_ms']} "
                    f"p99 {figures[m]['p99_ms']} ms"
                    for m in MODES
                )
                + f"; memory {figures['memory_mb']}"
            )
        result["engine"]["memory_mb_after_in_process"] = rss_mb(milvus)
        result["agreement"] = {
            mode: agreement(
                result["in_process"]["directory"][mode]["answers"],
                result["in_process"]["engine"][mode]["answers"],
            )
            for mode in MODES
        }
        log(f"top-10 article lists, directory against engine: {result['agreement']}")
        exact = result["in_process"]["engine"].pop("exact_top")
        result["dense_recall_at_10"] = {
            name: recall(figures.pop("dense_top"), exact)
            for name, figures in result["in_process"].items()
        }
        log(f"dense candidates, recall@10 against exact search: {result['dense_recall_at_10']}")
        for figures in result["in_process"].values():
            for mode in MODES:
                figures[mode].pop("answers")
        result["http"] = {}
        if args.clients:
            for name, index in backends.items():
                result["http"][name] = http_figures(args, index, name, queries, work)
        result["engine"]["memory_mb_at_end"] = rss_mb(milvus)
        result["engine"]["listeners"] = check_network(process_tree(engine.pid), "engine")
    result["engine"]["disk_mb"] = {
        "database": disk_mb(work / "engine"),
        "store_copies": disk_mb(work / "store"),
    }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def print_table(result: dict[str, Any]) -> None:
    """The figures as markdown tables."""
    size = result["directory"]
    print(f"\n{size['chunks']:,} passages, {size['articles']:,} articles")
    print("\n| backend | mode | in-process p50 / p95 / p99 ms |", end="")
    http_keys = [k for k in result["http"].get("directory", {}) if "/" in k]
    clients = sorted({int(k.split("/")[1]) for k in http_keys})
    for c in clients:
        print(f" HTTP {c} client{'s' * (c > 1)}: req/s, p50 / p95 / p99 ms |", end="")
    print("\n| --- | --- | --- |" + " --- |" * len(clients))
    for name, figures in result["in_process"].items():
        for mode in MODES:
            f = figures[mode]
            row = f"| {name} | {mode} | {f['p50_ms']} / {f['p95_ms']} / {f['p99_ms']} |"
            for c in clients:
                h = result["http"].get(name, {}).get(f"{mode}/{c}")
                row += (
                    f" {h['per_s']}, {h['p50_ms']} / {h['p95_ms']} / {h['p99_ms']} |"
                    if h
                    else " – |"
                )
            print(row)
    print("\n| process | RSS MB | peak MB |")
    print("| --- | ---: | ---: |")
    for name, figures in result["in_process"].items():
        m = figures["memory_mb"]
        print(f"| in-process service, {name} | {m['VmRSS']} | {m['VmHWM']} |")
    for name, figures in result["http"].items():
        m = figures["memory_mb"]
        print(f"| `semsearch serve`, {name} (after the load) | {m['VmRSS']} | {m['VmHWM']} |")
    m = result["engine"]["memory_mb_at_end"]
    print(f"| Milvus Lite engine (at the end) | {m['VmRSS']} | {m['VmHWM']} |")
    print(f"\ndirectory on disk: {size['total_mb']} MB {size['files_mb']}")
    print(f"engine on disk: {result['engine']['disk_mb']} MB")
    print(f"publish: {result['publish']['seconds']} s ({result['publish']['ms_per_passage']} ms)")
    print(f"top-10 agreement: {result['agreement']}")
    print(f"dense recall@10 against exact: {result['dense_recall_at_10']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/team/bench1m"))
    parser.add_argument("--corpus", type=Path, default=DATASET / "corpus.jsonl")
    parser.add_argument(
        "--queries",
        default=str(DATASET / "queries.jsonl"),
        help="BEIR queries.jsonl or one query a line; 'titles': the articles' titles",
    )
    parser.add_argument("--articles", type=int, default=1500, help="real articles embedded")
    parser.add_argument("--query-count", type=int, default=300)
    parser.add_argument("--vector-index", choices=["FLAT", "IVF_FLAT"], default="IVF_FLAT")
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 8])
    parser.add_argument("--http-modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--http-seconds", type=float, default=20.0)
    parser.add_argument("--http-requests", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None, help="[default: WORK/nN/result.json]")
    parser.add_argument("--build-only", action="store_true", help="stop after the directory")
    parser.add_argument("--task", type=Path, help=argparse.SUPPRESS)  # a child's measurement
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.task:
        print(json.dumps(in_process(**json.loads(args.task.read_text()))))
        return
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus} is not there: the benchmark reads SciFact from it")
    if args.build_only:
        work = args.work / f"n{args.passages}"
        work.mkdir(parents=True, exist_ok=True)
        print(json.dumps(build_directory(args, work), indent=2))
        return
    result = run(args)
    out = args.json or args.work / f"n{args.passages}" / "result.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nevery figure: {out}")


if __name__ == "__main__":
    main()
