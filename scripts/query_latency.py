#!/usr/bin/env python
"""Print in-process query latency (p50/p95/p99) of an index, end to end through SearchService.

    .venv/bin/python scripts/query_latency.py --index DIR [--queries FILE] [--repeat 5] [-k 10]

Queries: one per line in FILE, default the demo questions. The full benchmark (HTTP,
concurrency, memory, build throughput, a baseline) is `semsearch bench`; this is the quick number.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from semsearch.search.service import SearchService

DEMO_QUESTIONS = Path(__file__).parent / "demo" / "QUESTIONS.md"


def load_queries(path: Path | None) -> list[str]:
    if path is not None:
        return [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    text = DEMO_QUESTIONS.read_text(encoding="utf-8")
    return re.findall(r"^\d+\. (.+?) -> `", text, flags=re.MULTILINE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    service = SearchService.open(args.index)
    service.warm_up()
    ready = time.perf_counter() - started
    queries = load_queries(args.queries)
    timings = []
    for _ in range(args.repeat):
        for query in queries:
            t0 = time.perf_counter()
            service.search(query, args.k)
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()

    def pct(p: float) -> float:
        return timings[min(len(timings) - 1, int(p / 100 * len(timings)))]

    print(f"index: {args.index} ({service.chunk_count} chunks), k={args.k}")
    print(f"load + warm-up: {ready:.2f} s")
    print(f"queries: {len(timings)} ({len(queries)} distinct x {args.repeat})")
    print(
        f"latency ms: p50 {pct(50):.1f}  p95 {pct(95):.1f}  p99 {pct(99):.1f}  "
        f"mean {statistics.mean(timings):.1f}"
    )


if __name__ == "__main__":
    main()
