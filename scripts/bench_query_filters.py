"""What the query syntax's filters cost at a million passages: phrases, exclusions and
field scopes (`semsearch.search.constraints.restriction_of`), on a store of `--passages`
passages.

The store: SciFact's abstracts (one passage each, its real title), repeated under new ids
until `--passages` (the texts repeat, so a phrase's matches grow with the store as a real
collection's would). Written with the build's `StoreWriter` and read as a server reads it
(`ServedStore`); no vectors, no keyword index: only the filters' own cost is timed, wall
and CPU, for each query shape, `--repeats` times (the store's pages warm after the first).

    .venv/bin/python scripts/bench_query_filters.py --passages 1000000 --work /tmp/filters

Figures go to docs/benchmarks.md ("Query syntax filters").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from semsearch.index.ingest.articles import Article
from semsearch.index.storage.store import ServedStore, StoreWriter
from semsearch.index.text.chunking import Chunk
from semsearch.search.constraints import restriction_of
from semsearch.search.syntax import parse_query

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
QUERIES = (
    '"gene expression"',
    '"randomized controlled trial" outcomes',
    "cancer -mouse",
    'insulin -"type 2"',
    "title:protein folding",
    "author:smith heart",
)


def write_store(path: Path, corpus: Path, total: int) -> None:
    records = [json.loads(line) for line in corpus.open(encoding="utf-8")]
    writer = StoreWriter(path)
    for n in range(total):
        record = records[n % len(records)]
        text = str(record.get("text") or "") or "empty"
        article = Article(id=f"a{n}", title=str(record.get("title") or ""), text=text,
                          author="Smith J" if n % 50 == 0 else None, language="en")  # fmt: skip
        writer.add(article, [Chunk(0, 0, len(text), text, 200)])
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus} is absent: the shared SciFact corpus is needed")
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"store-{args.passages}.sqlite"
    if not path.exists():
        started = time.perf_counter()
        write_store(path, args.corpus, args.passages)
        seconds = time.perf_counter() - started
        print(f"store of {args.passages:,} passages written in {seconds:.0f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)", flush=True)  # fmt: skip
    store = ServedStore(path)
    try:
        for query in QUERIES:
            parsed = parse_query(query)
            for repeat in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                held = restriction_of(store, parsed, "en")
                cpu_s = time.process_time() - cpu
                wall_s = time.perf_counter() - wall
                assert held is not None
                within = "any" if held.within is None else f"{len(held.within):,}"
                print(f"{query!r:42} run {repeat + 1}: wall {wall_s:.2f} s, CPU {cpu_s:.2f} s; "
                      f"within {within}, without {len(held.without):,}", flush=True)  # fmt: skip
    finally:
        store.close()


if __name__ == "__main__":
    main()
