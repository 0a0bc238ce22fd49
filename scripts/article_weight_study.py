#!/usr/bin/env python
"""How much should a hybrid hit's score come from its whole article? nDCG@10 per weight.

    .venv/bin/python scripts/article_weight_study.py 0,0.5,0.8 \\
        INDEX:QUERIES.jsonl:QRELS.tsv [INDEX:QUERIES:QRELS ...]

Runs every judged query through the service (hybrid, k=100, grouped by article, as
`semsearch eval` does) at each `article_weight` (semsearch.search.articles), and prints
nDCG@10 with its paired gain over the first weight and the gain's standard error. The index
must have been built with the article keyword index (`keyword-articles/`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semsearch.index.embed import load_embedder
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries
from semsearch.search.service import SearchService
from semsearch.settings import get_setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", help="comma-separated article_weight values; first = base")
    parser.add_argument("sets", nargs="+", help="INDEX:QUERIES:QRELS")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    embedder = load_embedder(get_setting("model"), int(get_setting("batch_size")))
    for spec in args.sets:
        index, queries_path, qrels_path = spec.split(":")
        queries, qrels = read_queries(Path(queries_path)), read_qrels(Path(qrels_path))
        judged = [qid for qid in qrels if qid in queries]
        base: list[float] | None = None
        for weight in weights:
            service = SearchService(index, embedder, {"article_weight": weight})
            owners = service.copy_owners()
            scores = []
            for qid in judged:
                hits = service.search(queries[qid], 100, mode="hybrid", group="article").hits
                relevant = credited_to_kept(qrels[qid], owners)
                scores.append(ndcg_at([h.article.id for h in hits], relevant, 10))
            base = base or scores
            gains = [a - b for a, b in zip(scores, base, strict=True)]
            mean = sum(gains) / len(gains)
            spread = sum((g - mean) ** 2 for g in gains) / max(1, len(gains) - 1)
            error = (spread / len(gains)) ** 0.5
            print(
                f"{Path(index).name}: article_weight {weight}: hybrid nDCG@10 "
                f"{sum(scores) / len(scores):.4f} ({mean:+.4f} ± {error:.4f} "
                f"over {weights[0]}; {len(judged)} queries)",
                flush=True,
            )


if __name__ == "__main__":
    main()
