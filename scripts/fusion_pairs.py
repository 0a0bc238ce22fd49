#!/usr/bin/env python
"""Per-query fusion off against on, query by query: nDCG@10 of hybrid search on judged
collections, the paired difference and its standard error (docs/relevance.md, "Issue 21").

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/fusion_pairs.py \\
        --collections-dir /tmp/team/relevance/collections \\
        --index news-one=/tmp/lead/rel-main/indexes/news-one --fusion news-one=linear:0.6 \\
        --index scifact=/tmp/team/relevance/before/indexes/scifact

Each `--index NAME=PATH` is a built index of the collection NAME (its `collection.json`
in `--collections-dir` names the queries and judgments, as `scripts/eval/make_collections.py`
writes them); `--fusion NAME=METHOD:DENSE_WEIGHT` searches it with that fusion instead of
the one its build chose. Every judged query is searched twice (k 100, grouped by article,
as `semsearch eval` does), with `per_query_fusion` off and on; nothing else differs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from semsearch.api import open_index
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries


def pairs(index: Path, collection: Path, settings: dict[str, object]) -> tuple[list[float], ...]:
    """nDCG@10 of every judged query with per-query fusion off, then on."""
    described = json.loads((collection / "collection.json").read_text(encoding="utf-8"))
    queries = read_queries(Path(described["queries"]))
    qrels = read_qrels(Path(described["qrels"]))
    judged = [qid for qid in qrels if qid in queries]
    runs: list[list[float]] = []
    for flag in (False, True):
        chosen = {**settings, "per_query_fusion": flag, "search_timeout_ms": 600_000}
        with open_index(index, settings=chosen) as opened:
            service = opened._current()
            owners = service.copy_owners()
            scores = []
            for qid in judged:
                found = service.search(queries[qid], 100, mode="hybrid", group="article")
                ranked = [hit.article.id for hit in found.hits]
                scores.append(ndcg_at(ranked, credited_to_kept(qrels[qid], owners), 10))
            runs.append(scores)
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections-dir", type=Path, required=True)
    parser.add_argument("--index", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--fusion", action="append", default=[], help="NAME=METHOD:WEIGHT")
    args = parser.parse_args()
    fusions = dict(item.split("=", 1) for item in args.fusion)
    for item in args.index:
        name, path = item.split("=", 1)
        settings: dict[str, object] = {}
        if name in fusions:
            method, weight = fusions[name].split(":")
            settings = {"fusion": method, "dense_weight": float(weight)}
        off, on = pairs(Path(path), args.collections_dir / name, settings)
        diffs = [b - a for a, b in zip(off, on, strict=True)]
        n = len(diffs)
        mean = sum(diffs) / n
        spread = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
        moved = sum(1 for d in diffs if abs(d) > 1e-9)
        print(
            f"{name:17s} n={n:3d} off {sum(off) / n:.4f} on {sum(on) / n:.4f} "
            f"difference {mean:+.4f} ± {spread / math.sqrt(n):.4f} (paired standard error); "
            f"queries moved {moved}",
            flush=True,
        )


if __name__ == "__main__":
    main()
