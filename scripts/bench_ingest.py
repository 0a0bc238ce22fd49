"""Writes into a live index: what they cost as the index grows, how soon they are visible,
and how searches fare while they stream in (docs/benchmarks.md, "Live index").

For each size in `--sizes` (passages), it:

1. makes a live index and fills it to that size through the writer itself, in batches of
   `--fill-batch` articles: articles recombined from SciFact sentences
   (`semsearch.bench.runner.synthetic_articles`) whose vectors are synthesised around real
   ones (`SynthesisingEmbedder`, as the serving bench does); then runs merges until none is
   due, and reports the fill rate (passages/s, the model excluded) and peak memory;
2. writes `--writes` batches of 100 real SciFact articles (embedded beforehand by the real
   model: the write's cost is reported without the model, the model's apart) and reports
   the write's cost p50/p99;
3. measures write → visible: after each acknowledged write, the time until a reader with
   the default refresh interval finds the batch (p50/p99);
4. measures search (dense and keyword candidates, query vectors computed beforehand)
   p50/p99 idle, then while a thread writes real articles as fast as the model embeds them
   (sustained ingest, passages/s, against the model alone on the same texts);
5. at the largest size, recall@10 of the dense search against exact search for the real
   SciFact questions.

    .venv/bin/python scripts/bench_ingest.py --sizes 10000 100000
    .venv/bin/python scripts/bench_ingest.py --sizes 1000000 --work /tmp/bench-ingest > out.txt

The machine is shared: CPU seconds (from /proc) are reported beside wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.bench.runner import (
    SynthesisingEmbedder,
    first_articles,
    synthesise,
    synthetic_articles,
)
from semsearch.index.embed import Embedder, load_embedder
from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.merge import compact
from semsearch.index.live.writer import SegmentWriter
from semsearch.settings import get_setting

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(r"\w+|[^\w\s]")
DATASET = ROOT.parent / "shared" / "datasets" / "scifact"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cpu_seconds() -> float:
    """This process's user + system CPU time, from /proc (steadier than wall time under
    load)."""
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(reset: bool = False) -> str:
    """This process's peak RSS since the last reset (VmHWM), and what it holds now: anonymous
    memory apart from mapped files (segments' vectors are memory-mapped: the kernel may drop
    those pages; anonymous ones it cannot). With `reset`, the peak starts again from now."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())

    def mb(key: str) -> float:
        return int(status[key].split()[0]) / 1024

    text = (
        f"peak RSS {mb('VmHWM'):,.0f} MB; now RSS {mb('VmRSS'):,.0f} MB "
        f"(anonymous {mb('RssAnon'):,.0f}, files {mb('RssFile'):,.0f})"
    )
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    return text


def percentiles(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms (n {len(ordered)})"


class CachedEmbedder:
    """The real embedder with documents embedded beforehand: the write's own cost is
    measured without the model's."""

    def __init__(self, real: Embedder) -> None:
        self.real = real
        self.name, self.revision = real.name, real.revision
        self.dimension, self.max_seq_tokens = real.dimension, real.max_seq_tokens
        self.backend = getattr(real, "backend", "unknown")
        self.cache: dict[str, np.ndarray] = {}
        self.model_seconds = 0.0
        self.embedded = 0

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.real.token_offsets(text)

    def encode_query(self, text: str) -> np.ndarray:
        return self.real.encode_query(text)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            started = time.perf_counter()
            vectors = self.real.encode_documents(missing)
            self.model_seconds += time.perf_counter() - started
            self.embedded += len(missing)
            self.cache.update(zip(missing, vectors, strict=True))
        return np.stack([self.cache[t] for t in texts])


class FillerEmbedder(SynthesisingEmbedder):
    """The serving bench's synthesising embedder with word-level token offsets: the filler's
    passages are cut about as the model's tokenizer would cut them, without its cost."""

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in _TOKEN.finditer(text)]


def passages_in(writer: SegmentWriter, articles: list[Article]) -> int:
    assert writer._chunker is not None
    return sum(len(writer._chunker.chunk(a.text)) for a in articles)


def prepare(writer: SegmentWriter, articles: list[Article]) -> None:
    """Embed these articles' passages into the cache (the model's part of a write)."""
    assert writer._chunker is not None
    chunker = writer._chunker
    texts = [
        chunker.embedding_text(a.title, c.text) for a in articles for c in chunker.chunk(a.text)
    ]
    writer.embedder.encode_documents(texts)


def fill(writer: SegmentWriter, base: np.ndarray, target: int, batch: int, seed: int) -> int:
    """Write synthesised articles until the index holds `target` passages."""
    reader = open_reader(writer.index)
    seeds = first_articles([DATASET / "corpus.jsonl"], 5183)
    made = 0
    passages = reader.view().state.passages
    source = synthetic_articles(seeds, 10**9, seed)
    started, cpu = time.perf_counter(), cpu_seconds()
    while passages < target:
        articles = [next(source) for _ in range(batch)]
        writer.upsert(articles)
        made += len(articles)
        passages = reader.refresh() and reader.view().state.passages
        if made % (batch * 20) == 0:
            log(f"  filled {passages:,} passages ({made:,} articles), {memory()}")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    log(
        f"  fill: {passages:,} passages in {seconds:.0f} s ({passages / seconds:,.0f} passages/s, "
        f"CPU {cpu:.0f} s), model excluded (synthesised vectors)"
    )
    reader.close()
    return passages


def fill_bulk(folder: Path, real: Embedder, base: np.ndarray, target: int, part: int) -> None:
    """Load `target` filler passages straight into flat folder segments of `part` passages
    each (as `semsearch live` turns a built index into one), for sizes the write path would
    take hours to fill on a shared machine: one passage per filler article, its vector
    synthesised, its rows in the store, its words in the collection's statistics. The
    merges that follow (`compact`) are the product's own: they make the graph segments.
    Memory is bounded by `part`, not by `target`."""
    from semsearch.index.live import catalog
    from semsearch.index.live.segments import make_segment, write_folder
    from semsearch.index.live.writer import SEGMENTS_DIR, _transaction, create_live_index
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.keyword_index import keyword_text
    from semsearch.index.storage.manifest import STORE_NAME
    from semsearch.index.storage.store import StoreWriter
    from semsearch.index.text.analysis import index_words
    from semsearch.index.text.chunking import Chunk

    create_live_index(folder, real)
    version = resolve_index_dir(folder)
    store = StoreWriter(version / STORE_NAME, create=False, durable=True)
    seeds = first_articles([DATASET / "corpus.jsonl"], 5183)
    source = synthetic_articles(seeds, 10**9, seed=target)
    started, cpu = time.perf_counter(), cpu_seconds()
    passages = words_total = 0
    segment_id = 1
    while passages < target:
        count = min(part, target - passages)
        articles = []
        for _ in range(count):
            made = next(source)
            articles.append(replace(made, text=" ".join(made.text.split()[:70])))
        texts = [keyword_text(a.title, a.text) for a in articles]
        words = index_words(texts)
        vectors = synthesise(base, count, seed=segment_id)
        with _transaction(store.db):
            ids = []
            for article in articles:
                chunk = Chunk(0, 0, len(article.text), article.text, len(article.text.split()))
                ids += store.add(article, [chunk])
            words_total += catalog.count_words(store.db, words, 1)
            segment = make_segment(segment_id, np.asarray(ids), vectors, words)
            write_folder(segment, version / SEGMENTS_DIR / str(segment_id), graph=False)
            catalog.add_segment(store.db, segment_id, count, 0, None)
            passages += count
            catalog.set_state(
                store.db,
                catalog.LiveState(0, passages, words_total, store.next_chunk_id, segment_id + 1),
            )
        segment_id += 1
        del articles, texts, words, vectors, segment
        if segment_id % 10 == 1:
            log(f"  loaded {passages:,} passages, {memory()}")
    store.db.close()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    log(f"  bulk fill: {passages:,} passages in {seconds:.0f} s (CPU {cpu:.0f} s)")


def http_ingest(
    folder: Path, articles: list[Article], writer: SegmentWriter, args: Any
) -> dict[str, float]:
    """Sustained ingest over HTTP: a real `semsearch serve` (waitress, loopback, the real
    model) takes NDJSON batches of `--http-batch` real articles from one client for
    `--http-seconds`; while it does, the client asks `/api/search` every second (hybrid).
    Returns articles/s and passages/s acknowledged, and the searches' latencies."""
    import subprocess
    import sys
    import urllib.parse
    import urllib.request

    from semsearch.bench.load import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key = "bench-ingest-admin-key"
    log_path = folder.parent / f"serve-{folder.name}.log"
    environment = {**os.environ, "SEMSEARCH_ADMIN_KEY": key, "HF_HUB_OFFLINE": "1"}
    command = [str(Path(sys.executable).with_name("semsearch")), "serve", "--index", str(folder)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: see {log_path}")
            time.sleep(0.5)
        headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {key}"}
        searched: list[float] = []
        stop = threading.Event()

        def search_every_second() -> None:
            questions = [json.loads(line)["text"] for line in (DATASET / "queries.jsonl").open()]
            n = 0
            while not stop.wait(1.0):
                query = urllib.parse.urlencode({"q": questions[n % len(questions)], "k": 10})
                started = time.perf_counter()
                with urllib.request.urlopen(f"{url}/api/search?{query}", timeout=60) as answer:
                    answer.read()
                searched.append((time.perf_counter() - started) * 1000)
                n += 1

        searcher = threading.Thread(target=search_every_second)
        searcher.start()
        done = passages = 0
        started = time.perf_counter()
        for start in range(0, len(articles), args.http_batch):
            if time.perf_counter() - started > args.http_seconds:
                break
            batch = articles[start : start + args.http_batch]
            body = "\n".join(
                json.dumps({"id": a.id, "title": a.title, "text": a.text}) for a in batch
            ).encode("utf-8")
            request = urllib.request.Request(f"{url}/api/articles", body, headers, method="POST")
            with urllib.request.urlopen(request, timeout=600) as response:
                items = json.loads(response.read())["items"]
            created = {i["id"] for i in items if i["status"] == "created"}
            done += len(created)
            passages += passages_in(writer, [a for a in batch if a.id in created])
        seconds = time.perf_counter() - started
        stop.set()
        searcher.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    log(
        f"  sustained ingest over HTTP ({args.http_batch}-article NDJSON batches, one client, "
        f"{seconds:.0f} s): {done / seconds:.2f} articles/s, {passages / seconds:.1f} passages/s"
    )
    if searched:
        log(f"  /api/search (hybrid, k 10) once a second meanwhile: {percentiles(searched)}")
    return {"articles_per_s": done / seconds, "passages_per_s": passages / seconds}


def run_size(
    size: int, work: Path, real: Embedder, base: np.ndarray, real_articles: list[Article], args: Any
) -> dict[str, Any]:
    folder = work / f"live-{size}"
    settings: dict[str, Any] = {}
    if args.reuse and folder.exists():
        log(f"size {size:,}: reusing {folder} as filled before")
    else:
        if folder.exists() or folder.is_symlink():
            shutil.rmtree(work / f".{folder.name}.versions", ignore_errors=True)
            folder.unlink() if folder.is_symlink() else shutil.rmtree(folder)
        log(f"size {size:,}: filling {folder}; before: {memory(reset=True)}")
        if size > args.bulk_above:
            fill_bulk(folder, real, base, size, args.bulk_part)
        else:
            synthesising = FillerEmbedder(real, base, seed=size)
            # Filler articles are made of other articles' sentences: looking for copies among
            # them would only measure the copy finder.
            filler = open_writer(folder, synthesising, {"find_copies": False})
            fill(filler, base, size, args.fill_batch, seed=size)
            filler.close()
    if args.fill_only:
        log(f"  memory of the fill: {memory()}")
        return {"size": size}
    log(f"  memory of the fill: {memory(reset=True)}")
    started, cpu = time.perf_counter(), cpu_seconds()
    merges = compact(folder, settings)
    log(
        f"  merges until none due: {merges} in {time.perf_counter() - started:.0f} s "
        f"(CPU {cpu_seconds() - cpu:.0f} s); memory of the merges: {memory(reset=True)}"
    )
    import faiss

    faiss.omp_set_num_threads(1)  # one thread a search, as the server runs (directory.py)
    reader = open_reader(folder)
    view = reader.view()
    log(
        f"  {view.state.passages:,} passages in {len(view.segments)} segments "
        f"({[len(s) for s in view.segments]}); the reader loaded: {memory(reset=True)}"
    )
    # --- the cost of a 100-article write, the model excluded ------------------------------
    cached = args.cached  # one for every size: the same articles are embedded once
    writer = open_writer(folder, cached, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merges timed apart
    # Ids new to this run, so that an index reused (--reuse) takes them as new articles.
    run = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    batches = [
        [replace(a, id=f"{a.id}-{size}-{run}-{n}") for a in real_articles[n * 100 : (n + 1) * 100]]
        for n in range(args.writes)
    ]
    warm_up = [replace(a, id=f"{a.id}-{size}-{run}-warm") for a in real_articles[-100:]]
    for batch in [*batches, warm_up]:
        prepare(writer, batch)
    model_per_batch = cached.model_seconds / cached.embedded * passages_in(writer, batches[0])
    writer.upsert(warm_up)  # first-use imports (the copy finder's) are not a write's cost
    costs, visible, cpu_costs = [], [], []
    for batch in batches:
        started, cpu = time.perf_counter(), cpu_seconds()
        report = writer.upsert(batch)
        costs.append((time.perf_counter() - started) * 1000)
        cpu_costs.append((cpu_seconds() - cpu) * 1000)
        assert all(o.status == "created" for o in report.outcomes), report.outcomes[:3]
        acknowledged = time.perf_counter()
        probe = batch[0].id
        while True:  # a reader as a server keeps it: the default refresh interval
            reader.view()
            if reader.fetch_article(probe) is not None and any(
                c in reader.fetch_chunks([c]) for c, _ in reader.keyword(batch[0].title, 5)
            ):
                break
            time.sleep(0.005)
        visible.append((time.perf_counter() - acknowledged) * 1000)
    passages_written = passages_in(writer, batches[0])
    log(
        f"  100-article write ({passages_written} passages), model excluded: {percentiles(costs)}; "
        f"the model's part apart: {model_per_batch * 1000:.0f} ms a batch; CPU time of the "
        f"write: {percentiles(cpu_costs)}"
    )
    log(f"  write -> visible (refresh interval 0.2 s): {percentiles(visible)}")
    # --- search idle and during ingest ------------------------------------------------------
    questions = [json.loads(line)["text"] for line in (DATASET / "queries.jsonl").open()]
    questions = questions[: args.queries]
    vectors = [real.encode_query(q) for q in questions]

    # Idle and during-ingest windows alternate in one run, so that load from outside the
    # bench falls on both; each search's own thread CPU time and the reader's view reloads
    # are recorded, to tell the index's share of a slow search from the machine's.
    loads: list[float] = []
    load_for_real = reader._load

    def timed_load(known: dict[int, Any]) -> Any:
        started = time.perf_counter()
        try:
            return load_for_real(known)
        finally:
            loads.append((time.perf_counter() - started) * 1000)

    reader._load = timed_load  # type: ignore[method-assign]

    def search_window(
        pairs: list[tuple[str, np.ndarray]], walls: list[float], cpus: list[float]
    ) -> None:
        for question, vector in pairs:
            started, cpu = time.perf_counter(), time.thread_time()
            reader.dense(vector, 100)
            reader.keyword(question, 100)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.thread_time() - cpu) * 1000)

    streaming = open_writer(folder, real, settings)
    stop, paused, parked = threading.Event(), threading.Event(), threading.Event()
    ingested = {"passages": 0, "seconds": 0.0}
    articles_streamed = real_articles[args.writes * 100 :]
    stream_articles = [replace(a, id=f"{a.id}-stream-{size}-{run}") for a in articles_streamed]

    def ingest() -> None:
        start = 0
        while not stop.is_set() and start < len(stream_articles):
            if paused.is_set():
                parked.set()
                time.sleep(0.01)
                continue
            parked.clear()
            started = time.perf_counter()
            report = streaming.upsert(stream_articles[start : start + 10])
            ingested["passages"] += sum(
                len(streaming._chunker.chunk(a.text))  # type: ignore[union-attr]
                for a, o in zip(stream_articles[start : start + 10], report.outcomes, strict=True)
                if o.status == "created"
            )
            ingested["seconds"] += time.perf_counter() - started
            start += 10
        parked.set()

    pairs = list(zip(questions, vectors, strict=True))
    window = max(1, len(pairs) // args.windows)
    modes: dict[str, dict[str, list[float]]] = {
        mode: {"wall": [], "cpu": [], "loads": []} for mode in ("idle", "ingest")
    }
    paused.set()
    thread = threading.Thread(target=ingest)
    thread.start()
    parked.wait()
    load_started = os.getloadavg()[0]
    for n in range(2 * args.windows):
        mode = "idle" if n % 2 == 0 else "ingest"
        if mode == "idle":
            paused.set()
            parked.wait()  # the batch under way finishes first: idle means idle
        else:
            paused.clear()
            time.sleep(1.0)  # a write under way, not one about to start
        first = (n // 2) * window % len(pairs)
        before = len(loads)
        search_window(pairs[first : first + window], modes[mode]["wall"], modes[mode]["cpu"])
        modes[mode]["loads"] += loads[before:]
    stop.set()
    paused.clear()
    thread.join()
    streaming.close()
    reader._load = load_for_real  # type: ignore[method-assign]
    log(
        f"  search (dense + keyword, depth 100), {args.windows} idle and {args.windows} "
        f"ingesting windows of {window} alternating; load average {load_started:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end:"
    )
    for mode, figures in modes.items():
        reloads = figures["loads"]
        log(
            f"    {mode}: {percentiles(figures['wall'])}; the search thread's CPU "
            f"{percentiles(figures['cpu'])}; view reloads {len(reloads)}"
            + (f", {percentiles(reloads)}" if reloads else "")
        )
    idle, during = modes["idle"]["wall"], modes["ingest"]["wall"]
    rate = ingested["passages"] / ingested["seconds"] if ingested["seconds"] else 0.0
    model_rate = cached.embedded / cached.model_seconds if cached.model_seconds else 0.0
    log(
        f"  sustained ingest while searched: {rate:.1f} passages/s; the model alone on the "
        f"same machine: {model_rate:.1f} passages/s"
    )
    if args.http_seconds > 0:
        posted = [replace(a, id=f"{a.id}-http-{size}-{run}") for a in articles_streamed]
        try:
            http_ingest(folder, posted, writer, args)
        except Exception as exc:  # the other figures of this size still count
            log(f"  sustained ingest over HTTP failed: {exc!r}")
    # The exact search below copies every segment's vectors: not what a server holds.
    log(f"  memory of the writes, searches and ingest: {memory(reset=True)}")
    # --- recall at this size -----------------------------------------------------------------
    reader.refresh()
    view = reader.view()
    queries = np.stack(vectors).astype(np.float32)
    exact_ids, exact_scores = [], []
    for segment, alive in zip(view.segments, view.alive, strict=True):
        rows = np.arange(len(segment)) if alive is None else np.flatnonzero(alive)
        depth = min(10, len(rows))
        if depth == 0:
            continue
        scores, found = faiss.knn(
            queries,
            np.ascontiguousarray(segment.vectors[rows], dtype=np.float32),
            depth,
            metric=faiss.METRIC_INNER_PRODUCT,
        )
        exact_ids.append(np.asarray(segment.ids)[rows[found]])
        exact_scores.append(scores)
    all_ids, all_scores = np.concatenate(exact_ids, axis=1), np.concatenate(exact_scores, axis=1)
    truth = [set(all_ids[q][np.argsort(-all_scores[q])[:10]].tolist()) for q in range(len(queries))]
    tenth = [float(np.sort(all_scores[q])[-10]) for q in range(len(queries))]
    graphs = sum(1 for s in view.segments if hasattr(s.graph, "hnsw"))
    flat_rows = sum(len(s) for s in view.segments if not hasattr(s.graph, "hnsw"))
    log(
        f"  recall@10 of dense against exact, {len(vectors)} SciFact questions, "
        f"{len(view.segments)} segments ({graphs} with HNSW, {flat_rows:,} rows searched exactly):"
    )
    recall = 0.0
    for ef in args.ef_search:
        reader.settings["live_hnsw_ef_search"] = ef
        recalls, took, short = [], [], []
        for q, vector in enumerate(vectors):
            started = time.perf_counter()
            answer = reader.dense(vector, 10)
            took.append((time.perf_counter() - started) * 1000)
            recalls.append(len({c for c, _ in answer} & truth[q]) / 10)
            short.append(tenth[q] - answer[-1][1])
        log(
            f"    efSearch {ef}: recall@10 {np.mean(recalls):.3f}; the 10th cosine found is "
            f"{np.mean(short):.4f} under the exact 10th on average (max {np.max(short):.4f}); "
            f"top 10 {percentiles(took)}"
        )
        if ef == int(get_setting("live_hnsw_ef_search")):
            recall = float(np.mean(recalls))
    reader.settings.pop("live_hnsw_ef_search", None)
    log(f"  at the end: {memory()}")
    writer.close()
    reader.close()
    return {
        "size": size,
        "write_ms": costs,
        "visible_ms": visible,
        "idle_ms": idle,
        "during_ms": during,
        "recall": recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-ingest"))
    parser.add_argument("--writes", type=int, default=10, help="100-article writes timed")
    parser.add_argument("--fill-batch", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--bulk-above",
        type=int,
        default=200_000,
        help="sizes above this are filled straight into merged segments (fill_bulk)",
    )
    parser.add_argument(
        "--bulk-part",
        type=int,
        default=10_000,
        help="passages in each flat segment fill_bulk writes (its memory bound)",
    )
    parser.add_argument("--base-articles", type=int, default=300)
    parser.add_argument(
        "--http-seconds",
        type=float,
        default=0,
        help="seconds of sustained ingest over HTTP into a real server (0: none)",
    )
    parser.add_argument(
        "--windows", type=int, default=8, help="idle and ingesting search windows, each"
    )
    parser.add_argument("--http-batch", type=int, default=10, help="articles a POST")
    parser.add_argument(
        "--fill-only", action="store_true", help="fill each size's index, measure nothing"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure indexes filled before (--fill-only)"
    )
    parser.add_argument(
        "--ef-search",
        type=int,
        nargs="+",
        default=[64, 128, 256, 512],
        help="HNSW efSearch values whose recall is measured",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"{time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores (shared)")
    real = load_embedder()
    articles = first_articles([DATASET / "corpus.jsonl"], 5183)
    # Real vectors for the synthesis: the first articles' passages, embedded by the model.
    # Not needed when every size reuses an index filled before.
    base = np.zeros((0, real.dimension), dtype=np.float32)
    if not (args.reuse and all((args.work / f"live-{n}").exists() for n in args.sizes)):
        started = time.perf_counter()
        base_texts = [f"{a.title}\n{a.text}" for a in articles[: args.base_articles]]
        base = real.encode_documents(base_texts)
        log(f"base: {len(base)} real vectors in {time.perf_counter() - started:.0f} s")
    # The real articles written: from the end of SciFact (not among the base articles).
    real_articles = articles[-(args.writes * 100 + 500) : -100]
    args.cached = CachedEmbedder(real)
    for size in args.sizes:
        run_size(size, args.work, real, base, real_articles, args)


if __name__ == "__main__":
    main()
