#!/usr/bin/env python
"""Per-query fusion: do label-free signals tell, query by query, which list to trust?

    .venv/bin/python scripts/fusion_signals.py --collections-dir /tmp/team/relevance/collections \
        --indexes /tmp/team/relevance/before/indexes [--collections scifact,news] \
        [--out /tmp/team/relevance/signals.json]

For each collection (built by `scripts/relevance_table.py`), each judged query's dense and
keyword passage lists are drawn once (as deep as the service's first round for k=100
grouped), and for each query:

- the signals, none of which reads a judgment (query-performance prediction: pre-retrieval,
  the query's IDF; post-retrieval, the shape of each list's scores, as NQC and the
  score-distribution predictors do):
  `coverage`, the share of the query's IDF (Lucene's, from the index) that the keyword list's
  best passage holds (a word no passage holds counts at the highest IDF);
  `dense_peak` and `keyword_peak`, how far each list's best score stands above the mean of
  its top 10, as a share of the best (BM25) or in cosine (dense);
  `overlap`, the share of the top 10 passages the two lists have in common;
- nDCG@10 (articles at their best passage) of dense alone, keyword alone, the collection's
  fusion (the manifest's, or the default) and of each per-query rule in `RULES`, which moves
  the dense weight by the signals, with no constant fitted to any collection.

Prints, per collection, the mean of each signal, its rank correlation with the per-query
advantage of dense over keyword (nDCG@10 dense − keyword), and nDCG@10 per rule. The
judgments are for measuring only: nothing here feeds back into the product.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.index.storage.vectors import search_vectors
from semsearch.search.backends.directory import directory_backend
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries
from semsearch.search.fusion import Fusion, fuse, per_query_fusion
from semsearch.search.service import SearchService
from semsearch.settings import default_setting

COLLECTIONS = ("scifact", "news", "scifact-one", "news-one", "paragraphs", "paragraphs-short")
DEPTH = 1000


def signals(
    service: SearchService,
    text: str,
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
) -> dict[str, float]:
    """The label-free signals of one query (see the module's docstring)."""
    coverage = (
        directory_backend(service.backend).keyword.idf_coverage(text, keyword[0][0])
        if keyword
        else 0.0
    )
    top_dense = [s for _, s in dense[:10]]
    top_keyword = [s for _, s in keyword[:10]]
    dense_peak = top_dense[0] - float(np.mean(top_dense)) if top_dense else 0.0
    keyword_peak = (
        (top_keyword[0] - float(np.mean(top_keyword))) / top_keyword[0] if top_keyword else 0.0
    )
    overlap = len({c for c, _ in dense[:10]} & {c for c, _ in keyword[:10]}) / 10
    agree = bool(keyword) and keyword[0][0] in {c for c, _ in dense[:10]}
    return {
        "agree": float(agree),
        "coverage": coverage,
        "dense_peak": dense_peak,
        "keyword_peak": keyword_peak,
        "overlap": overlap,
    }


def articles_of(ranked: list[tuple[int, float]], chunk_article: dict[int, str]) -> list[str]:
    seen: dict[str, None] = {}
    for chunk_id, _ in ranked:
        seen.setdefault(chunk_article[chunk_id], None)
        if len(seen) >= 10:
            break
    return list(seen)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(values: list[float]) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        out = np.empty(len(values))
        sorted_values = np.asarray(values)[order]
        i = 0
        while i < len(values):
            j = i
            while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
                j += 1
            out[order[i : j + 1]] = (i + j) / 2
            i = j + 1
        return out

    if len(a) < 3:
        return math.nan
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


Rule = Callable[[Fusion, dict[str, float]], Fusion]
DEFAULT = Fusion(str(default_setting("fusion")), float(default_setting("dense_weight")))
RULES: dict[str, Rule] = {
    "fixed (the collection's)": lambda fusion, _: fusion,
    "keyword weight x coverage": lambda fusion, s: per_query_fusion(fusion, s["coverage"]),
    "keyword weight x sqrt(coverage)": lambda fusion, s: per_query_fusion(
        fusion, math.sqrt(s["coverage"])
    ),
    # The built-in default instead of what the probes chose, alone and with the rules above.
    "default fusion": lambda _, s: DEFAULT,
    "default fusion, keyword weight x sqrt(coverage)": lambda _, s: per_query_fusion(
        DEFAULT, math.sqrt(s["coverage"])
    ),
    "default fusion, keyword weight x coverage": lambda _, s: per_query_fusion(
        DEFAULT, s["coverage"]
    ),
    # The keyword list's own confidence: its best passage's share of the IDF, counted fully
    # when that passage is also near the top of the dense list (the lists agree).
    "keyword weight x coverage, unless the lists agree": lambda fusion, s: per_query_fusion(
        fusion, 1.0 if s["agree"] else s["coverage"]
    ),
}


def study(collection: dict[str, Any], index: Path) -> dict[str, Any]:
    service = SearchService.open(index)
    queries = read_queries(Path(collection["queries"]))
    qrels = read_qrels(Path(collection["qrels"]))
    owners = service.copy_owners()
    with closing(service.backend.store.connect()) as db:
        chunk_article = dict(db.execute("SELECT id, article_id FROM chunks").fetchall())
    fusion = service.fusion()
    rows = []
    for qid in qrels:
        if qid not in queries:
            continue
        text = queries[qid]
        found = directory_backend(service.backend)
        dense = search_vectors(found.vectors, service.embedder.encode_query(text), DEPTH)
        keyword = found.keyword.search(text, DEPTH)
        relevant = credited_to_kept(qrels[qid], owners)
        row: dict[str, Any] = {"signals": signals(service, text, dense, keyword)}
        row["dense"] = ndcg_at(articles_of(dense, chunk_article), relevant, 10)
        row["keyword"] = ndcg_at(articles_of(keyword, chunk_article), relevant, 10)
        for name, rule in RULES.items():
            chosen = rule(fusion, row["signals"])
            row[name] = ndcg_at(
                articles_of(fuse(dense, keyword, chosen), chunk_article), relevant, 10
            )
        rows.append(row)
    service.close()
    advantage = [r["dense"] - r["keyword"] for r in rows]
    names = list(rows[0]["signals"])
    return {
        "name": collection["name"],
        "queries": len(rows),
        "fusion": f"{fusion.method}:{fusion.dense_weight}",
        "signal_means": {
            n: round(float(np.mean([r["signals"][n] for r in rows])), 4) for n in names
        },
        "signal_vs_dense_advantage": {
            n: round(spearman([r["signals"][n] for r in rows], advantage), 3) for n in names
        },
        "ndcg_10": {
            name: round(float(np.mean([r[name] for r in rows])), 4)
            for name in ("dense", "keyword", *RULES)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections-dir", type=Path, required=True)
    parser.add_argument("--indexes", type=Path, required=True)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for name in args.collections.split(","):
        collection = json.loads((args.collections_dir / name / "collection.json").read_text())
        result = study(collection, args.indexes / name)
        print(json.dumps(result), flush=True)
        results.append(result)
    rules = ["dense", "keyword", *RULES]
    print("| collection | fusion | " + " | ".join(rules) + " |")
    print("|---|---|" + "---|" * len(rules))
    for r in results:
        cells = " | ".join(f"{r['ndcg_10'][n]:.4f}" for n in rules)
        print(f"| {r['name']} ({r['queries']} q) | {r['fusion']} | {cells} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
