"""Where do strong matches end? Score every judged query's top results and measure rules.

For each query of a BEIR-format judged set, the top `--k` results (grouped by article, as
`semsearch eval` ranks them) are recorded with their fused, dense and keyword scores and
whether the judgments call them relevant. Then each candidate rule marks results strong or
weak, and the script prints the precision and recall of "strong" against the judgments
(recall over the relevant articles found in the top k), for

- share: strong when the score is at least a share of the best result's (the rule in
  `semsearch.search.strength`, on the mode's own score);
- gap: strong within a cosine gap of the best dense score (dense mode's rule);
- floor: strong at or above an absolute cosine.

Run (the real model; minutes on 2 cores for SciFact's 300 queries):

    python scripts/strength_study.py --index /tmp/scifact-idx \\
        --queries ../shared/datasets/scifact/queries.jsonl \\
        --qrels ../shared/datasets/scifact/qrels/test.tsv --rows /tmp/scifact-rows.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semsearch.search.evaluate import read_qrels, read_queries
from semsearch.search.service import SearchService

Row = dict[str, float | int | str | None]


def collect(service: SearchService, queries: Path, qrels: Path, k: int, mode: str) -> list[Row]:
    """One row per (query, result): rank, scores, relevance."""
    texts, judged = read_queries(queries), read_qrels(qrels)
    rows: list[Row] = []
    for qid, relevant in judged.items():
        if qid not in texts:
            continue
        result = service.search(texts[qid], k, mode=mode, group="article")
        for rank, hit in enumerate(result.hits, start=1):
            rows.append(
                {
                    "qid": qid,
                    "rank": rank,
                    "score": hit.score,
                    "dense": hit.dense_score,
                    "keyword": hit.keyword_score,
                    "relevant": int(relevant.get(hit.article.id, 0) > 0),
                }
            )
    return rows


def measure(rows: list[Row], rule: str, value: float) -> tuple[float, float, float, float]:
    """Precision, recall and F1 of "strong", and the mean strong results per query."""
    by_query: dict[str, list[Row]] = {}
    for row in rows:
        by_query.setdefault(str(row["qid"]), []).append(row)
    strong = strong_relevant = relevant = 0
    for hits in by_query.values():
        best = max(float(h["score"] or 0) for h in hits)
        best_dense = max(float(h["dense"] or 0) for h in hits)
        for hit in hits:
            score, dense = float(hit["score"] or 0), float(hit["dense"] or 0)
            if rule == "share":
                marked = score >= value * best
            elif rule == "gap":
                marked = dense >= best_dense - value
            else:
                marked = dense >= value
            marked = marked or hit["rank"] == 1  # the best result is always strong
            strong += marked
            strong_relevant += marked and bool(hit["relevant"])
            relevant += bool(hit["relevant"])
    precision = strong_relevant / strong if strong else 0.0
    recall = strong_relevant / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, strong / max(1, len(by_query))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path)
    parser.add_argument("--queries", type=Path)
    parser.add_argument("--qrels", type=Path)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--rows", type=Path, help="Cache of the collected rows (JSON).")
    args = parser.parse_args()
    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text())
    else:
        service = SearchService.open(args.index)
        rows = collect(service, args.queries, args.qrels, args.k, args.mode)
        if args.rows:
            args.rows.write_text(json.dumps(rows))
    baseline = measure(rows, "floor", 2.0)  # nothing but the best result strong
    everything = measure(rows, "floor", -2.0)
    print(f"{len({r['qid'] for r in rows})} queries, top {args.k}, mode {args.mode}")
    print(f"only the first strong: P {baseline[0]:.3f} R {baseline[1]:.3f} F1 {baseline[2]:.3f}")
    print(f"all strong:            P {everything[0]:.3f} R {everything[1]:.3f}")
    grids = {
        "share": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95],
        "gap": [0.02, 0.04, 0.06, 0.08, 0.1, 0.15],
        "floor": [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75],
    }
    for rule, values in grids.items():
        for value in values:
            p, r, f1, per_query = measure(rows, rule, value)
            line = f"{rule:5} {value:5.2f}: P {p:.3f} R {r:.3f} F1 {f1:.3f}"
            print(f"{line} strong/query {per_query:.1f}")


if __name__ == "__main__":
    main()
