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
import resource
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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
            log(f"  filled {passages:,} passages ({made:,} articles), RSS {peak_rss_mb():.0f} MB")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    log(
        f"  fill: {passages:,} passages in {seconds:.0f} s ({passages / seconds:,.0f} passages/s, "
        f"CPU {cpu:.0f} s), model excluded (synthesised vectors)"
    )
    reader.close()
    return passages


def fill_bulk(folder: Path, real: Embedder, base: np.ndarray, target: int, group: int) -> None:
    """Load `target` filler passages straight into merged segments of `group` passages (as
    `semsearch live` turns a built index into one), for sizes the write path would take
    hours to fill on a shared machine: one passage per filler article, its vector
    synthesised, its rows in the store, its words in the collection's statistics."""
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
        count = min(group, target - passages)
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
            write_folder(segment, version / SEGMENTS_DIR / str(segment_id), graph=True)
            catalog.add_segment(store.db, segment_id, count, 0, None)
            passages += count
            catalog.set_state(
                store.db,
                catalog.LiveState(0, passages, words_total, store.next_chunk_id, segment_id + 1),
            )
        segment_id += 1
        log(f"  loaded {passages:,} passages, peak RSS {peak_rss_mb():.0f} MB")
    store.db.close()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    log(f"  bulk fill: {passages:,} passages in {seconds:.0f} s (CPU {cpu:.0f} s)")


def run_size(
    size: int, work: Path, real: Embedder, base: np.ndarray, real_articles: list[Article], args: Any
) -> dict[str, Any]:
    folder = work / f"live-{size}"
    if folder.exists() or folder.is_symlink():
        shutil.rmtree(work / f".{folder.name}.versions", ignore_errors=True)
        folder.unlink() if folder.is_symlink() else shutil.rmtree(folder)
    settings: dict[str, Any] = {}
    log(f"size {size:,}: filling {folder}")
    if size > args.bulk_above:
        fill_bulk(folder, real, base, size, int(get_setting("live_max_segment")))
    else:
        synthesising = FillerEmbedder(real, base, seed=size)
        # Filler articles are made of other articles' sentences: looking for copies among
        # them would only measure the copy finder.
        filler = open_writer(folder, synthesising, {"find_copies": False})
        fill(filler, base, size, args.fill_batch, seed=size)
        filler.close()
    started = time.perf_counter()
    merges = compact(folder, settings)
    log(f"  merges until none due: {merges} in {time.perf_counter() - started:.0f} s")
    import faiss

    faiss.omp_set_num_threads(1)  # one thread a search, as the server runs (directory.py)
    reader = open_reader(folder)
    view = reader.view()
    log(
        f"  {view.state.passages:,} passages in {len(view.segments)} segments "
        f"({[len(s) for s in view.segments]}); peak RSS so far {peak_rss_mb():.0f} MB"
    )
    # --- the cost of a 100-article write, the model excluded ------------------------------
    cached = args.cached  # one for every size: the same articles are embedded once
    writer = open_writer(folder, cached, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merges timed apart
    batches = [
        [replace(a, id=f"{a.id}-{size}-{n}") for a in real_articles[n * 100 : (n + 1) * 100]]
        for n in range(args.writes)
    ]
    warm_up = [replace(a, id=f"{a.id}-{size}-warm") for a in real_articles[-100:]]
    for batch in [*batches, warm_up]:
        prepare(writer, batch)
    model_per_batch = cached.model_seconds / cached.embedded * passages_in(writer, batches[0])
    writer.upsert(warm_up)  # first-use imports (the copy finder's) are not a write's cost
    costs, visible = [], []
    for batch in batches:
        started = time.perf_counter()
        report = writer.upsert(batch)
        costs.append((time.perf_counter() - started) * 1000)
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
        f"the model's part apart: {model_per_batch * 1000:.0f} ms a batch"
    )
    log(f"  write -> visible (refresh interval 0.2 s): {percentiles(visible)}")
    # --- search idle and during ingest ------------------------------------------------------
    questions = [json.loads(line)["text"] for line in (DATASET / "queries.jsonl").open()]
    questions = questions[: args.queries]
    vectors = [real.encode_query(q) for q in questions]

    cpu_ms: list[float] = []

    def search_all() -> list[float]:
        found = []
        cpu_ms.clear()
        for question, vector in zip(questions, vectors, strict=True):
            started, cpu = time.perf_counter(), time.process_time()
            reader.dense(vector, 100)
            reader.keyword(question, 100)
            found.append((time.perf_counter() - started) * 1000)
            cpu_ms.append((time.process_time() - cpu) * 1000)
        return found

    idle = search_all()
    log(
        f"  search (dense + keyword, depth 100) idle: {percentiles(idle)}; "
        f"CPU time: {percentiles(cpu_ms)}"
    )
    streaming = open_writer(folder, real, settings)
    stop = threading.Event()
    ingested = {"passages": 0, "seconds": 0.0}
    articles_streamed = real_articles[args.writes * 100 :]
    stream_articles = [replace(a, id=f"{a.id}-stream-{size}") for a in articles_streamed]

    def ingest() -> None:
        started = time.perf_counter()
        for start in range(0, len(stream_articles), 10):
            if stop.is_set():
                break
            report = streaming.upsert(stream_articles[start : start + 10])
            ingested["passages"] += sum(
                len(streaming._chunker.chunk(a.text))  # type: ignore[union-attr]
                for a, o in zip(stream_articles[start : start + 10], report.outcomes, strict=True)
                if o.status == "created"
            )
        ingested["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(2)
    during = search_all()
    stop.set()
    thread.join()
    streaming.close()
    log(f"  search during ingest: {percentiles(during)}")
    rate = ingested["passages"] / ingested["seconds"] if ingested["seconds"] else 0.0
    model_rate = cached.embedded / cached.model_seconds if cached.model_seconds else 0.0
    log(
        f"  sustained ingest while searched: {rate:.1f} passages/s; the model alone on the "
        f"same machine: {model_rate:.1f} passages/s"
    )
    # --- recall at this size -----------------------------------------------------------------
    reader.refresh()
    view = reader.view()
    recalls = []
    for vector in vectors:
        exact_ids, exact_scores = [], []
        for segment, alive in zip(view.segments, view.alive, strict=True):
            scores = np.asarray(segment.vectors @ vector, dtype=np.float32)
            if alive is not None:
                scores[~alive] = -np.inf
            top = np.argsort(-scores)[:10]
            exact_ids.append(np.asarray(segment.ids)[top])
            exact_scores.append(scores[top])
        ids = np.concatenate(exact_ids)
        truth = set(ids[np.argsort(-np.concatenate(exact_scores))[:10]].tolist())
        found = {c for c, _ in reader.dense(vector, 10)}
        recalls.append(len(found & truth) / 10)
    recall = float(np.mean(recalls))
    log(f"  recall@10 of dense against exact, {len(vectors)} SciFact questions: {recall:.3f}")
    log(f"  peak RSS of this process: {peak_rss_mb():.0f} MB")
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
    parser.add_argument("--base-articles", type=int, default=300)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"{time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores (shared)")
    real = load_embedder()
    articles = first_articles([DATASET / "corpus.jsonl"], 5183)
    # Real vectors for the synthesis: the first articles' passages, embedded by the model.
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
