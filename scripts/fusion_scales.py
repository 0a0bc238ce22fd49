#!/usr/bin/env python
"""Which scale should hybrid fuse its two lists on? Min-max, ranks, each list's best, or the
range a question's scores can take (bounded fusion): nDCG@10 per rule and weight on judged
collections, paired against the linear 0.6 fusion, at two list depths.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/fusion_scales.py \\
        --collections-dir /tmp/lead/coll --indexes /tmp/lead/idx \\
        --collections scifact,scifact-one,news,news-one,paragraphs,paragraphs-short

For each judged query of each collection (built by `scripts/relevance_table.py` or
`semsearch build`), the dense and keyword passage lists are drawn once, 1,000 deep, and cut
to each depth (1,000: `semsearch eval`'s k=100 grouped; 100: a page of 10 grouped, the
API's default). Rules, none fitted to a collection:
- `linear W`: min-max over each list's candidates (the product's `linear`);
- `rrf W`: reciprocal rank fusion, k 60;
- `max W`: each list over its own best (a minimum of 0, as Bruch et al.'s theoretical
  min-max for BM25);
- `floor-max W`: the cosine from the calibrated no-match threshold to the list's best, BM25
  over its best;
- `cosine+bound W`: raw cosine, BM25 over the most the query's words can score
  (`KeywordIndex.score_bound`);
- `bounded W`: the product's bounded fusion, the cosine from the index's calibrated no-match
  threshold to 1 (`fusion.Scale`), for every query whatever its length (the product keeps
  min-max for queries over 32 words: the paragraph sets show why).
Articles rank at their best passage (no article-level evidence). The judgments only measure.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from fusion_signals import articles_of  # a sibling script (run from scripts/)

from semsearch.index.storage.vectors import search_vectors
from semsearch.search.backends.directory import directory_backend
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries
from semsearch.search.fusion import Fusion, Scale, best_first, fuse
from semsearch.search.service import SearchService

DEPTHS = (1000, 100)
BASELINE = "linear 0.6"
RULES = (
    [f"linear {w}" for w in (0.5, 0.6, 0.7, 0.8)]
    + ["rrf 0.5", "rrf 0.6"]
    + [f"max {w}" for w in (0.5, 0.6, 0.7)]
    + [f"floor-max {w}" for w in (0.5, 0.6, 0.7)]
    + [f"cosine+bound {w}" for w in (0.4, 0.5, 0.6, 0.7)]
    + [f"bounded {w}" for w in (0.4, 0.5, 0.55, 0.6, 0.65, 0.7)]
)
Candidates = list[tuple[int, float]]


def fused(
    rule: str, dense: Candidates, keyword: Candidates, floor: float, bound: float
) -> Candidates:
    """One rule's fused list."""
    name, weight_text = rule.rsplit(" ", 1)
    weight = float(weight_text)
    if name in ("linear", "rrf"):
        return fuse(dense, keyword, Fusion(name, weight))
    if name == "bounded":
        return fuse(dense, keyword, Fusion("bounded", weight), Scale(floor, bound))
    if name == "cosine+bound":
        return fuse(dense, keyword, Fusion("bounded", weight), Scale(0.0, bound))
    if name == "floor-max":  # cosine from the threshold to the list's best, BM25 over its best
        span = (dense[0][1] - floor) if dense and dense[0][1] > floor else 1.0
        top = keyword[0][1] if keyword else 1.0
        unreached = (dense[-1][1] - floor) / span if dense else 0.0
        scores = {cid: weight * (score - floor) / span for cid, score in dense}
        for cid, score in keyword:
            scores[cid] = scores.get(cid, weight * unreached) + (1 - weight) * score / top
        return best_first(scores.items())
    top_dense = dense[0][1] if dense and dense[0][1] > 0 else 1.0
    top_keyword = keyword[0][1] if keyword else 1.0
    unreached = dense[-1][1] / top_dense if dense else 0.0
    scores = {cid: weight * score / top_dense for cid, score in dense}
    for cid, score in keyword:
        scores[cid] = scores.get(cid, weight * unreached) + (1 - weight) * score / top_keyword
    return best_first(scores.items())


def study(collection: dict[str, Any], index: Path) -> dict[int, dict[str, list[float]]]:
    """Per depth, per rule, nDCG@10 of each judged query."""
    service = SearchService.open(index)
    found = directory_backend(service.backend)
    floor = service.ranker.settings.cosine_floor
    if floor is None:
        raise SystemExit(f"{index} has no calibrated threshold: build it with tuning on")
    queries = read_queries(Path(collection["queries"]))
    qrels = read_qrels(Path(collection["qrels"]))
    owners = service.copy_owners()
    chunk_article = found.store.chunk_articles()
    out: dict[int, dict[str, list[float]]] = {d: {r: [] for r in RULES} for d in DEPTHS}
    for d in DEPTHS:
        out[d]["dense"], out[d]["keyword"] = [], []
    for qid in [q for q in qrels if q in queries]:
        text = queries[qid]
        dense = search_vectors(found.vectors, service.embedder.encode_query(text), max(DEPTHS))
        keyword = found.keyword.search(text, max(DEPTHS))
        bound = found.keyword.score_bound(text) or 1.0
        relevant = credited_to_kept(qrels[qid], owners)
        for depth in DEPTHS:
            cut_dense, cut_keyword = dense[:depth], keyword[:depth]
            row = out[depth]
            row["dense"].append(ndcg_at(articles_of(cut_dense, chunk_article), relevant, 10))
            row["keyword"].append(ndcg_at(articles_of(cut_keyword, chunk_article), relevant, 10))
            for rule in RULES:
                ranked = fused(rule, cut_dense, cut_keyword, floor, bound)
                row[rule].append(ndcg_at(articles_of(ranked, chunk_article), relevant, 10))
    service.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections-dir", type=Path, required=True)
    parser.add_argument("--indexes", type=Path, required=True)
    parser.add_argument("--collections", default="scifact,scifact-one,news,news-one")
    args = parser.parse_args()
    names = args.collections.split(",")
    results = {}
    for name in names:
        described = json.loads((args.collections_dir / name / "collection.json").read_text())
        results[name] = study(described, args.indexes / name)
    for depth in DEPTHS:
        print(f"\nlists {depth} deep; nDCG@10 (paired difference from {BASELINE} ± its error)")
        print("| rule | " + " | ".join(names) + " | mean | worst difference |")
        print("|---|" + "---|" * (len(names) + 2))
        for rule in ["dense", "keyword", *RULES]:
            cells, differences, means = [], [], []
            for name in names:
                values = np.array(results[name][depth][rule])
                base = np.array(results[name][depth][BASELINE])
                diff = values - base
                error = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0
                cells.append(f"{values.mean():.4f} ({diff.mean():+.4f} ± {error:.4f})")
                differences.append(diff.mean())
                means.append(values.mean())
            print(
                f"| {rule} | "
                + " | ".join(cells)
                + f" | {np.mean(means):.4f} | {min(differences):+.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
