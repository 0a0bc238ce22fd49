#!/usr/bin/env python
"""Two search settings, query by query: nDCG@10 of hybrid search on judged collections
under a baseline and a candidate setting, the paired difference and its standard error
(docs/relevance.md, "Issue 21" and "Bounded fusion").

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/fusion_pairs.py \\
        --collections-dir /tmp/lead/coll \\
        --index news-one=/tmp/lead/idx/news-one --index scifact=/tmp/lead/idx/scifact \\
        --baseline fusion=linear --candidate fusion=bounded [--k 10] [--limit 150]

Each `--index NAME=PATH` is a built index of the collection NAME (its `collection.json`
in `--collections-dir` names the queries and judgments, as `scripts/eval/make_collections.py`
writes them). `--baseline` and `--candidate` are settings (`NAME=VALUE`, repeatable; the
defaults compare `per_query_fusion` off against on); `--fusion NAME=METHOD:DENSE_WEIGHT`
searches one index with that fusion under both. Every judged query is searched under each
(k 100 by default, grouped by article, as `semsearch eval` does; `--k 10` as a page of the
API asks, which draws shallower candidate lists); nothing else differs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from semsearch.api import open_index
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries


def scores(
    index: Path, collection: Path, settings: dict[str, Any], k: int, limit: int | None = None
) -> list[float]:
    """nDCG@10 of every judged query of `collection` (the first `limit`) under `settings`."""
    described = json.loads((collection / "collection.json").read_text(encoding="utf-8"))
    queries = read_queries(Path(described["queries"]))
    qrels = read_qrels(Path(described["qrels"]))
    judged = [qid for qid in qrels if qid in queries][:limit]
    chosen = {**settings, "search_timeout_ms": 600_000}
    with open_index(index, settings=chosen) as opened:
        service = opened._current()
        owners = service.copy_owners()
        out = []
        for qid in judged:
            found = service.search(queries[qid], k, mode="hybrid", group="article")
            ranked = [hit.article.id for hit in found.hits]
            out.append(ndcg_at(ranked, credited_to_kept(qrels[qid], owners), 10))
    return out


def parsed(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE settings, numbers as numbers."""
    settings: dict[str, Any] = {}
    for item in items:
        name, value = item.split("=", 1)
        try:
            settings[name] = float(value) if "." in value else int(value)
        except ValueError:
            settings[name] = value
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections-dir", type=Path, required=True)
    parser.add_argument("--index", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--fusion", action="append", default=[], help="NAME=METHOD:WEIGHT")
    parser.add_argument("--baseline", action="append", default=[], help="SETTING=VALUE")
    parser.add_argument("--candidate", action="append", default=[], help="SETTING=VALUE")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--limit", type=int, default=None, help="the first N judged queries")
    args = parser.parse_args()
    baseline = parsed(args.baseline) if args.baseline else {"per_query_fusion": 0}
    candidate = parsed(args.candidate) if args.candidate else {"per_query_fusion": 1}
    fusions = dict(item.split("=", 1) for item in args.fusion)
    for item in args.index:
        name, path = item.split("=", 1)
        settings: dict[str, Any] = {}
        if name in fusions:
            method, weight = fusions[name].split(":")
            settings = {"fusion": method, "dense_weight": float(weight)}
        collection = args.collections_dir / name
        before = scores(Path(path), collection, {**settings, **baseline}, args.k, args.limit)
        after = scores(Path(path), collection, {**settings, **candidate}, args.k, args.limit)
        diffs = [b - a for a, b in zip(before, after, strict=True)]
        n = len(diffs)
        mean = sum(diffs) / n
        spread = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else 0.0
        moved = sum(1 for d in diffs if abs(d) > 1e-9)
        print(
            f"{name:17s} k={args.k} n={n:3d} baseline {sum(before) / n:.4f} candidate "
            f"{sum(after) / n:.4f} difference {mean:+.4f} ± {spread / math.sqrt(n):.4f} "
            f"(paired standard error); queries moved {moved}",
            flush=True,
        )


if __name__ == "__main__":
    main()
