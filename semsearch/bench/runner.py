"""`semsearch bench`: how fast this machine builds and answers, against a plain baseline.

From the articles given it measures, in one run and on the same chunks:

1. the build, end to end (read, chunk, embed, store, FAISS, tuning), in chunks/s; then the
   plain baseline, sentence-transformers `encode` + a FAISS flat index over the very texts
   the build embedded, and the ratio of the two;
2. embedding passages/s and query encoding time for each backend, on a sample of passages;
3. with `--scale-to N`, a second index of about N chunks: the real passages plus passages
   made by recombining their sentences, whose vectors are synthesised around the real ones
   (a random mix of two real vectors plus a little noise). Text, BM25 and the FAISS index
   choice are all real; only those vectors are not computed by the model;
4. query latency in-process for each mode, and for the baseline (encode + exact search);
5. `semsearch serve` as a separate process, with one worker and with one per core
   (`--workers`): start to ready, then p50/p95/p99 and queries/s over HTTP on loopback at
   1, 8 and 32 clients (bounded in time and count), no errors allowed, and the server's
   memory; index bytes per chunk.

Every figure is what this run measured on this machine; nothing is remembered between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from semsearch.index.embed import Embedder, load_embedder, resolve_model_path
from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.readers import iter_input_files, read_file

#: How the synthesised articles are told apart from the real ones (their title begins so).
SYNTHETIC_MARK = "[bench "
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Echo = Callable[[str], None]


@dataclass
class BenchConfig:
    """What to measure and how long to spend on it."""

    inputs: list[Path]
    work: Path
    articles: int = 1500  # the first N articles of the input
    sample: int = 256  # passages embedded per backend for passages/s
    scale_to: int = 100_000  # chunks in the scaled index; 0: measure the real one only
    queries: Path | None = None  # BEIR queries.jsonl or one query per line
    query_count: int = 200
    clients: tuple[int, ...] = (1, 8, 32)
    workers: tuple[int, ...] = ()  # server processes to measure; () : 1 and one per core
    http_seconds: float = 20.0
    http_requests: int = 3000
    backends: tuple[str, ...] = ("onnx-int8", "torch")
    baseline: bool = True
    seed: int = 0


@dataclass
class BenchResult:
    """Every figure the run printed, for `--json`."""

    machine: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)
    scaled: dict[str, Any] = field(default_factory=dict)
    in_process: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)  # by worker count


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and mean of a list of milliseconds, rounded for printing."""
    data = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(data, 50)), 2),
        "p95_ms": round(float(np.percentile(data, 95)), 2),
        "p99_ms": round(float(np.percentile(data, 99)), 2),
        "mean_ms": round(float(data.mean()), 2),
    }


def _latency_line(figures: dict[str, float]) -> str:
    return (
        f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms"
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_gib": round(memory / 2**30, 1),
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- inputs ---------------------------------------------------------------------------------


def first_articles(inputs: list[Path], limit: int) -> list[Article]:
    """The first `limit` readable articles of the inputs (bad records are skipped)."""
    found: list[Article] = []
    for path, root in iter_input_files(inputs):
        for item in read_file(path, root):
            if isinstance(item, Article):
                found.append(item)
                if len(found) >= limit:
                    return found
    return found


def write_jsonl(articles: list[Article], path: Path) -> None:
    """Articles as JSONL the readers take back unchanged."""
    with path.open("w", encoding="utf-8") as handle:
        for article in articles:
            record = asdict(article)
            record.pop("origin")
            record.pop("extra")
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def synthetic_articles(articles: list[Article], count: int, seed: int) -> Iterator[Article]:
    """`count` new articles made of real sentences: one article's sentences in order with a
    third as many from another article mixed in, so passages are new text (not duplicates)
    over the collection's real vocabulary, with that article's credits."""
    rng = random.Random(seed)
    split = [_SENTENCE_END.split(a.text) for a in articles]
    for n in range(count):
        first, second = rng.randrange(len(articles)), rng.randrange(len(articles))
        sentences = list(split[first])
        for sentence in rng.sample(split[second], k=max(1, len(split[second]) // 3)):
            sentences.insert(rng.randrange(len(sentences) + 1), sentence)
        source = articles[first]
        yield Article(
            id=f"bench-{n}",
            title=f"{SYNTHETIC_MARK}{n}] {source.title}",
            text=" ".join(sentences),
            author=source.author,
            publication=source.publication,
            published=source.published,
            url=source.url,
            copyright=source.copyright,
        )


def read_bench_queries(path: Path | None, articles: list[Article], count: int) -> list[str]:
    """Queries from a BEIR queries.jsonl or a text file (one a line), else article titles."""
    if path is None:
        titles = [a.title for a in articles if a.title.strip()]
        random.Random(1).shuffle(titles)
        return titles[:count]
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".ndjson"):
        queries = [str(json.loads(line)["text"]) for line in text.splitlines() if line.strip()]
    else:
        queries = [line.strip() for line in text.splitlines() if line.strip()]
    return queries[:count]


# --- vectors --------------------------------------------------------------------------------


def synthesise(base: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` unit vectors around the real ones in `base`: each a random mix of two real
    vectors plus a little noise, so the collection keeps its real topic structure."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):  # in blocks: bounded temporary memory
        n = min(100_000, count - start)
        weight = rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
        mixed = weight * base[rng.integers(0, len(base), n)]
        mixed += (1 - weight) * base[rng.integers(0, len(base), n)]
        mixed += rng.normal(0, 0.02, mixed.shape).astype(np.float32)
        out[start : start + n] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out


class SynthesisingEmbedder:
    """The real embedder, except that passages of synthesised articles (title marked
    SYNTHETIC_MARK) get synthesised vectors instead of the model's. Same name, revision and
    backend, so the index it builds is served by the real model."""

    def __init__(self, real: Embedder, base: np.ndarray, seed: int) -> None:
        self.real = real
        self.base = base
        self.name, self.revision = real.name, real.revision
        self.dimension, self.max_seq_tokens = real.dimension, real.max_seq_tokens
        self.backend = real.backend
        self.rng_seed = seed
        self.synthesised = 0
        self.embedded = 0

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.real.token_offsets(text)

    def encode_query(self, text: str) -> np.ndarray:
        return self.real.encode_query(text)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        made = [i for i, t in enumerate(texts) if t.startswith(SYNTHETIC_MARK)]
        real = [i for i, t in enumerate(texts) if not t.startswith(SYNTHETIC_MARK)]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if made:
            vectors[made] = synthesise(self.base, len(made), self.rng_seed + self.synthesised)
            self.synthesised += len(made)
        if real:
            vectors[real] = self.real.encode_documents([texts[i] for i in real])
            self.embedded += len(real)
        return vectors


# --- measurements ---------------------------------------------------------------------------


def embedding_texts(index_dir: Path, embedder: Embedder) -> list[str]:
    """The exact texts the build embedded (title + passage), in chunk order."""
    from semsearch.index.build.builder import make_chunker
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import STORE_NAME
    from semsearch.index.storage.store import StoreReader

    reader = StoreReader(resolve_index_dir(index_dir) / STORE_NAME)
    chunker = make_chunker(embedder)
    with contextlib.closing(reader.connect()) as db:
        return [chunker.embedding_text(c.article["title"], c.text) for c in reader.iter_chunks(db)]


def measure_backend(backend: str, texts: list[str], queries: list[str]) -> dict[str, Any]:
    """Load time, passages/s over `texts` and query encoding time of one backend."""
    started = time.perf_counter()
    embedder = load_embedder("packaged:all-MiniLM-L6-v2", None, backend=backend)
    load_s = time.perf_counter() - started
    embedder.encode_documents(texts[:4])  # lazy set-up is not throughput
    started = time.perf_counter()
    embedder.encode_documents(texts)
    seconds = time.perf_counter() - started
    times = []
    for query in queries:
        t0 = time.perf_counter()
        embedder.encode_query(query)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "load_s": round(load_s, 2),
        "passages": len(texts),
        "passages_per_s": round(len(texts) / seconds, 1),
        "query_encode": percentiles(times),
    }


def plain_baseline(texts: list[str], queries: list[str]) -> dict[str, Any]:
    """sentence-transformers encode + FAISS flat, nothing else: build chunks/s and the
    query time of encode + exact search over the same passages."""
    import faiss
    from sentence_transformers import SentenceTransformer

    os.environ["HF_HUB_OFFLINE"] = "1"
    model = SentenceTransformer(
        str(resolve_model_path("packaged:all-MiniLM-L6-v2")), device="cpu", local_files_only=True
    )
    model.encode(texts[:4])
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.asarray(vectors, dtype=np.float32))
    seconds = time.perf_counter() - started
    times = _baseline_queries(model, index, queries)
    return {
        "chunks": len(texts),
        "seconds": round(seconds, 1),
        "chunks_per_s": round(len(texts) / seconds, 1),
        "query": percentiles(times),
    }


def _baseline_queries(model: Any, index: Any, queries: list[str]) -> list[float]:
    """Milliseconds of each query through the baseline: encode, then exact top 10."""
    times = []
    for query in queries:
        t0 = time.perf_counter()
        vector = model.encode([query], normalize_embeddings=True)
        index.search(np.asarray(vector, dtype=np.float32), 10)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def in_process(index_dir: str, queries: list[str], k: int = 10) -> dict[str, Any]:
    """Query latency through SearchService for each mode (one query at a time)."""
    from semsearch.search.service import SearchService

    service = SearchService.open(Path(index_dir))
    service.warm_up()
    figures: dict[str, Any] = {"chunks": service.chunk_count}
    for mode in ("hybrid", "dense", "keyword"):
        times = []
        for query in queries:
            t0 = time.perf_counter()
            service.search(query, k, mode=mode)
            times.append((time.perf_counter() - t0) * 1000)
        figures[mode] = percentiles(times)
    service.close()
    return figures


def index_size(index_dir: Path) -> dict[str, Any]:
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import STORE_NAME, VECTORS_NAME, read_manifest

    version = resolve_index_dir(index_dir)
    manifest = read_manifest(version)
    chunks = int(manifest.counts["chunks"])
    vectors = (version / VECTORS_NAME).stat().st_size
    store = (version / STORE_NAME).stat().st_size
    return {
        "chunks": chunks,
        "articles": int(manifest.counts["articles"]),
        "vector_index": manifest.vectors,
        "vector_bytes_per_chunk": round(vectors / chunks),
        "store_bytes_per_chunk": round(store / chunks),
    }


@contextlib.contextmanager
def served(
    index_dir: Path | str, log: Path, threads: int = 8, workers: int = 1
) -> Iterator[tuple[str, int, float]]:
    """`semsearch serve` of an index directory or engine URI in its own process on
    127.0.0.1, logging to `log`: yields (base URL, pid, seconds from process start to
    /readyz answering 200)."""
    from semsearch.bench.load import free_port

    port = free_port()
    env = {**os.environ, "SEMSEARCH_RELOAD_INTERVAL": "0"}
    command = [sys.executable, "-m", "semsearch", "serve", "--index", str(index_dir)]
    command += ["--port", str(port), "--threads", str(threads), "--reload-interval", "0"]
    command += ["--workers", str(workers)]
    started = time.perf_counter()
    base = f"http://127.0.0.1:{port}"
    with log.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_ready(process, base, log, started)
            yield base, process.pid, time.perf_counter() - started
        finally:
            # With workers, gunicorn gives them up to 10 s to finish (STOP_SECONDS).
            stop_process(process, 30)


def stop_process(process: subprocess.Popen[bytes], seconds: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within `seconds`."""
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path, started: float) -> None:
    """Poll /readyz until it answers 200; RuntimeError if the server dies or stays unready."""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(base + "/readyz", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        if time.perf_counter() - started > 120:
            raise RuntimeError("the server was not ready after 120 s")
        time.sleep(0.02)


def resident_memory(pid: int) -> dict[str, float]:
    """Memory of a server, in MB: VmRSS (now) and VmHWM (peak) summed over the process and
    its workers (gunicorn's master and its children), and Pss (pages shared between them,
    such as the mapped index, counted once in all)."""
    figures = {"VmRSS": 0.0, "VmHWM": 0.0, "Pss": 0.0}
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    for process in pids:
        for name, file in (("VmRSS", "status"), ("VmHWM", "status"), ("Pss", "smaps_rollup")):
            for line in Path(f"/proc/{process}/{file}").read_text().splitlines():
                if line.startswith(f"{name}:"):
                    figures[name] += int(line.split()[1]) / 1024
    return {name: round(value, 1) for name, value in figures.items()}


def in_fresh_process(work: Path, task: str, **arguments: Any) -> Any:
    """Run one of this module's measurements in a new Python process and return its
    figures: every measurement starts from a cold process, and none feels the threads,
    libraries or memory another one left behind (torch and FAISS share OpenMP)."""
    arguments_file = work / f"{task}.arguments.json"
    arguments_file.write_text(json.dumps(arguments), encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "semsearch.bench.runner", task, str(arguments_file)],
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"bench step {task} took over {STEP_TIMEOUT} s; stopped") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench step {task} failed: {done.stderr[-3000:]}")
    return json.loads(lines[-1])


#: Longest a measurement in its own process may take; the slowest, the baseline over 10k
#: passages, takes minutes (docs/benchmarks.md).
STEP_TIMEOUT = 3600


TASKS: dict[str, Callable[..., Any]] = {}  # filled below: what in_fresh_process may run


# --- the run --------------------------------------------------------------------------------


def run_bench(config: BenchConfig, echo: Echo = print) -> BenchResult:
    """Measure everything in the module docstring; prints as it goes and returns the figures."""
    from semsearch.index.build.builder import build_index
    from semsearch.search.tuning import build_tuner

    result = BenchResult(machine=machine())
    m = result.machine
    echo(f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}")
    config.work.mkdir(parents=True, exist_ok=True)
    # A previous run's index would lend its vectors to this build and flatter its speed.
    shutil.rmtree(config.work / ".index.versions", ignore_errors=True)
    for leftover in (config.work / "index", config.work / ".index.lock"):
        if leftover.is_symlink() or leftover.is_file():
            leftover.unlink()
    articles = first_articles(config.inputs, config.articles)
    if not articles:
        raise ValueError(f"no article could be read from {', '.join(map(str, config.inputs))}")
    source = config.work / "articles.jsonl"
    write_jsonl(articles, source)
    queries = read_bench_queries(config.queries, articles, config.query_count)
    echo(f"input: {len(articles)} articles; {len(queries)} queries")

    # 1. The build, end to end, then the plain baseline over the same texts.
    index_dir = config.work / "index"
    embedder = load_embedder("packaged:all-MiniLM-L6-v2", None)
    report = build_index([source], index_dir, embedder, tune=build_tuner(embedder))
    with_tuning = report.chunks / report.seconds
    result.build = {
        "backend": embedder.backend,
        "articles": report.articles,
        "chunks": report.chunks,
        "seconds": round(report.seconds, 1),
        "tune_seconds": round(report.tune_seconds, 1),
        "chunks_per_s": round(with_tuning, 1),
        "chunks_per_s_without_tuning": round(report.chunks_per_second, 1),
    }
    echo(
        f"build ({embedder.backend}): {report.chunks} chunks in {report.seconds:.1f} s = "
        f"{with_tuning:.1f} chunks/s end to end ({report.chunks_per_second:.1f} without the "
        f"{report.tune_seconds:.1f} s of fusion tuning)"
    )
    texts = embedding_texts(index_dir, embedder)
    if config.baseline:
        base = in_fresh_process(config.work, "plain_baseline", texts=texts, queries=queries)
        result.baseline = base
        ratio = with_tuning / base["chunks_per_s"]
        result.build["ratio_to_baseline"] = round(ratio, 2)
        echo(
            f"plain baseline (sentence-transformers encode, batch 32, + FAISS flat): "
            f"{base['chunks']} chunks in {base['seconds']} s = {base['chunks_per_s']} chunks/s"
        )
        echo(f"build throughput ratio: {ratio:.2f}x the baseline")

    # 2. Each backend on a sample of those passages.
    sample = texts[: config.sample]
    for backend in config.backends:
        figures = in_fresh_process(
            config.work, "measure_backend", backend=backend, texts=sample, queries=queries
        )
        result.backends[backend] = figures
        echo(
            f"backend {backend}: {figures['passages_per_s']} passages/s over "
            f"{figures['passages']}; query encode {_latency_line(figures['query_encode'])}; "
            f"model load {figures['load_s']} s"
        )

    # 3. The scaled index, built over the real one (whose vectors it reuses).
    base_vectors = _vectors_of(index_dir)
    if config.scale_to > report.chunks:
        result.scaled = _build_scaled(config, articles, base_vectors, index_dir, echo)
    served_dir = index_dir
    # 4. In-process latency, ours and the baseline's, on what will be served.
    figures = in_fresh_process(
        config.work, "in_process", index_dir=str(served_dir), queries=queries
    )
    result.in_process = figures
    size = index_size(served_dir)
    result.in_process["size"] = size
    echo(
        f"index served: {size['chunks']:,} chunks, {size['articles']:,} articles; vectors "
        f"{size['vector_index']}; {size['vector_bytes_per_chunk']} bytes/chunk of vectors, "
        f"{size['store_bytes_per_chunk']} of text store"
    )
    for mode in ("hybrid", "dense", "keyword"):
        echo(f"in-process {mode}, k=10: {_latency_line(figures[mode])}")
    if config.baseline:
        np.save(config.work / "real-vectors.npy", base_vectors)
        base_query = in_fresh_process(
            config.work,
            "baseline_query_at",
            vectors=str(config.work / "real-vectors.npy"),
            count=size["chunks"],
            queries=queries,
        )
        result.in_process["baseline"] = base_query
        echo(
            f"in-process baseline (sentence-transformers encode + FAISS flat, k=10) at "
            f"{size['chunks']:,} chunks: {_latency_line(base_query)}; hybrid p50 is "
            f"{figures['hybrid']['p50_ms'] / base_query['p50_ms']:.2f}x its p50"
        )

    # 5. The server, with one process and with one per core.
    for workers in config.workers or tuple(sorted({1, len(os.sched_getaffinity(0))})):
        result.server[str(workers)] = _measure_server(config, served_dir, queries, workers, echo)
    # Other work on the machine changes every figure: say how busy it was.
    result.machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    echo(
        f"load average (1, 5, 15 min) at start {result.machine['load_average_at_start']}, "
        f"at end {result.machine['load_average_at_end']}"
    )
    return result


def _measure_server(
    config: BenchConfig, index_dir: Path, queries: list[str], workers: int, echo: Echo
) -> dict[str, Any]:
    """Start to ready, then HTTP load at each client count, then memory, for one server."""
    from semsearch.bench.load import run_load

    named = f"{workers} worker{'s' if workers > 1 else ''}"
    log = config.work / f"server-{workers}.log"
    with served(index_dir, log, workers=workers) as (url, pid, ready_s):
        figures: dict[str, Any] = {"start_to_ready_s": round(ready_s, 2), "http": {}}
        echo(f"server ({named}): process start to /readyz 200 in {ready_s:.2f} s")
        # /readyz answers once one worker is up; the others, started at the same moment,
        # may still be loading. Two seconds of unmeasured requests let every one finish
        # loading and warm up.
        run_load(url, queries, clients=4 * workers, seconds=2.0)
        for clients in config.clients:
            load = run_load(
                url,
                queries,
                clients=clients,
                seconds=config.http_seconds,
                max_requests=config.http_requests,
            )
            figures["http"][str(clients)] = {
                "requests": load.requests,
                "failed": len(load.failures),
                "per_s": round(load.per_second, 1),
                "p50_ms": round(load.percentile(50), 1),
                "p95_ms": round(load.percentile(95), 1),
                "p99_ms": round(load.percentile(99), 1),
                "first_failures": load.failures[:3],
            }
            echo(
                f"HTTP hybrid k=10, {named}, {clients} clients: {load.requests} requests, "
                f"{len(load.failures)} failed, {load.per_second:.1f} queries/s; latency "
                f"p50 {load.percentile(50):.1f} ms, p95 {load.percentile(95):.1f} ms, "
                f"p99 {load.percentile(99):.1f} ms"
            )
        figures["memory_mb"] = resident_memory(pid)
        echo(f"server ({named}) memory after the load: {figures['memory_mb']} MB")
    return figures


def _vectors_of(index_dir: Path) -> np.ndarray:
    """The real vectors of a flat index, in chunk order."""
    import faiss

    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.vectors import read_vector_index

    stored = read_vector_index(resolve_index_dir(index_dir) / "vectors.faiss")
    # A flat index is an IndexIDMap2 around the vectors, which it holds in chunk order.
    flat = cast("faiss.IndexIDMap2", faiss.downcast_index(stored)).index
    return np.asarray(flat.reconstruct_n(0, stored.ntotal), dtype=np.float32)


def _build_scaled(
    config: BenchConfig, articles: list[Article], base: np.ndarray, index_dir: Path, echo: Echo
) -> dict[str, Any]:
    """Rebuild `index_dir` at about `config.scale_to` chunks: the real articles (their
    vectors reused from the real build) and synthesised ones (their vectors synthesised)."""
    from semsearch.index.build.builder import build_index

    # As many synthesised articles as hold the missing passages' worth of text.
    chars_per_chunk = sum(len(a.text) for a in articles) / len(base)
    budget = (config.scale_to - len(base)) * chars_per_chunk
    made: list[Article] = []
    for article in synthetic_articles(articles, sys.maxsize, config.seed):
        if budget <= 0:
            break
        made.append(article)
        budget -= len(article.text)
    needed = len(made)
    extra = config.work / "synthetic.jsonl"
    write_jsonl(made, extra)
    embedder = SynthesisingEmbedder(load_embedder("packaged:all-MiniLM-L6-v2", None), base, 7)
    # Synthesised articles are near-copies of real ones by construction: all are kept.
    report = build_index(
        [config.work / "articles.jsonl", extra], index_dir, embedder, {"find_copies": False}
    )
    echo(
        f"scaled index: {report.chunks:,} chunks in {report.seconds:.0f} s: {report.reused:,} "
        f"real passages (vectors reused), {embedder.embedded:,} embedded again, "
        f"{embedder.synthesised:,} from {needed:,} synthesised articles (sentences of two real "
        f"articles mixed; vectors synthesised around the real ones)"
    )
    return {
        "chunks": report.chunks,
        "reused": report.reused,
        "embedded": embedder.embedded,
        "synthesised": embedder.synthesised,
        "seconds": round(report.seconds, 1),
    }


def baseline_query_at(vectors: str, count: int, queries: list[str]) -> dict[str, float]:
    """sentence-transformers encode + exact flat search over `count` vectors: the real ones
    (a .npy file) and as many more synthesised around them (a flat scan costs the same
    whatever the vectors are)."""
    import faiss
    from sentence_transformers import SentenceTransformer

    base = np.load(vectors)
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    if count > len(base):
        flat.add(synthesise(base, count - len(base), seed=3))
    model = SentenceTransformer(
        str(resolve_model_path("packaged:all-MiniLM-L6-v2")), device="cpu", local_files_only=True
    )
    model.encode(["warm up"])
    return percentiles(_baseline_queries(model, flat, queries))


TASKS.update(
    measure_backend=measure_backend,
    plain_baseline=plain_baseline,
    in_process=in_process,
    baseline_query_at=baseline_query_at,
)

if __name__ == "__main__":  # a child of in_fresh_process
    task, arguments = sys.argv[1], json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
    print(json.dumps(TASKS[task](**arguments)))
