#!/usr/bin/env python
"""How well does each fusion setting, and each way of tuning it, do on real judgments?

    .venv/bin/python scripts/fusion_study.py --index DIR --queries Q.jsonl --qrels R.tsv

Prints nDCG@10 on the judged queries for every fusion setting in the tuning grid (fused at
chunk level and at article level), then which setting the build-time probes would choose
(with rare words dropped at several rates) and the nDCG@10 that choice earns. The grid on
real judgments is for study only: the product never tunes on a benchmark's qrels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semsearch.index.storage.vectors import search_vectors
from semsearch.search.backends.directory import directory_backend
from semsearch.search.evaluate import ndcg_at, read_qrels, read_queries
from semsearch.search.fusion import fuse
from semsearch.search.service import SearchService
from semsearch.search.tuning import GRID, question_scale, tune_fusion


def article_order(ranked: list[tuple[int, float]], chunk_article: dict[int, str]) -> list[str]:
    seen: dict[str, None] = {}
    for chunk_id, _ in ranked:
        seen.setdefault(chunk_article[chunk_id], None)
    return list(seen)


def as_article_list(ranked, chunk_article, article_number):
    """A chunk list as an article list: each article at its best chunk's rank and score."""
    out, seen = [], set()
    for chunk_id, score in ranked:
        article = chunk_article[chunk_id]
        if article not in seen:
            seen.add(article)
            out.append((article_number.setdefault(article, len(article_number)), score))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--qrels", required=True, type=Path)
    parser.add_argument("--depth", type=int, default=300)
    args = parser.parse_args()
    service = SearchService.open(args.index)
    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    judged = [q for q in qrels if q in queries]
    db = service.backend.store.connect()
    chunk_article = dict(db.execute("SELECT id, article_id FROM chunks").fetchall())
    lists = []
    keyword_index = directory_backend(service.backend).keyword
    floor = service.ranker.settings.cosine_floor
    for qid in judged:
        vector = service.embedder.encode_query(queries[qid])
        lists.append(
            (
                qid,
                search_vectors(directory_backend(service.backend).vectors, vector, args.depth),
                keyword_index.search(queries[qid], args.depth),
                question_scale(keyword_index, queries[qid], floor),
            )
        )
    article_number: dict[str, int] = {}
    number_article = {}
    chunk_scores, article_scores = {}, {}
    for fusion in GRID:
        chunk_total = article_total = 0.0
        for qid, dense, keyword, scale in lists:
            ranked = article_order(fuse(dense, keyword, fusion, scale), chunk_article)
            chunk_total += ndcg_at(ranked, qrels[qid], 10)
            fused = fuse(
                as_article_list(dense, chunk_article, article_number),
                as_article_list(keyword, chunk_article, article_number),
                fusion,
            )
            number_article = {n: a for a, n in article_number.items()}
            article_total += ndcg_at([number_article[n] for n, _ in fused], qrels[qid], 10)
        chunk_scores[fusion] = chunk_total / len(lists)
        article_scores[fusion] = article_total / len(lists)
    print(f"{len(lists)} judged queries; nDCG@10 by fusion (chunk-level / article-level)")
    for method in ("rrf", "linear", "bounded"):  # article-level bounded: linear (no scale)
        row = [f for f in GRID if f.method == method]
        print(f"{method:>6} w_dense: " + " ".join(f"{f.dense_weight:>11.1f}" for f in row))
        print(f"{'':>6}   chunk: " + " ".join(f"{chunk_scores[f]:>11.4f}" for f in row))
        print(f"{'':>6} article: " + " ".join(f"{article_scores[f]:>11.4f}" for f in row))
    for drop in (0.0, 0.3, 0.5):
        tuned = tune_fusion(service, drop=drop)
        if tuned is None:
            print(f"probes (drop {drop}): too few to tune")
            continue
        chosen = next(
            f
            for f in GRID
            if f.method == tuned["method"] and f.dense_weight == tuned["dense_weight"]
        )
        print(
            f"probes (drop {drop}): choose {chosen.method} w_dense={chosen.dense_weight} "
            f"(probe MRR {tuned['probe_mrr_10']}, dense-only {tuned['dense_only_mrr_10']}, "
            f"keyword-only {tuned['keyword_only_mrr_10']}) -> nDCG@10 "
            f"{chunk_scores[chosen]:.4f} chunk / {article_scores[chosen]:.4f} article"
        )


if __name__ == "__main__":
    main()
