#!/usr/bin/env python
"""Dates in questions: a filter against a preference, on judged questions that name a year.

    .venv/bin/python scripts/date_study.py --index /tmp/team/relevance/after/indexes/news \
        --queries scripts/eval/news-questions/queries.jsonl \
        --qrels scripts/eval/news-questions/qrels.tsv

No judged set of ours has questions with dates (the 60 news questions name none), so this
one makes them: each judged question whose article has a publication date is asked twice
more, "In YEAR, <question>", once with the year the article was published (the date is the
publication's: a filter can only help) and once with the year before (the date is the
event's, reported later: a filter rules the answer out). Each is answered three ways,
hybrid, k=100 grouped by article, as `semsearch eval`:

- `unread`: infer_dates=false, the year left in the searched text;
- `filter`: what an inferred date did before issue 21: the year as published_from and
  published_to, its words out of the searched text;
- `product`: the service as it is (a date read from the question re-orders its strong
  matches, `semsearch.search.date_preference`).

Prints nDCG@10 for each, and how many questions each way answered with nothing at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.search.evaluate import credited_to_kept, ndcg_at, read_qrels, read_queries
from semsearch.search.service import SearchService


def ask(service: SearchService, text: str, filters: dict[str, str]) -> list[str]:
    """The article ids of a hybrid search, k=100 grouped by article ([] when refused)."""
    try:
        result = service.search(text, 100, mode="hybrid", group="article", filters=filters)
    except SemsearchError:
        return []
    return [hit.article.id for hit in result.hits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", required=True, type=Path)
    parser.add_argument("--qrels", required=True, type=Path)
    args = parser.parse_args()
    service = SearchService.open(args.index)
    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    owners = service.copy_owners()
    totals: dict[tuple[str, str], list[float]] = {}
    empty: dict[tuple[str, str], int] = {}
    asked = 0
    for qid, judged in qrels.items():
        if qid not in queries:
            continue
        relevant = credited_to_kept(judged, owners)
        years = set()
        for article_id in relevant:
            try:
                published = service.article(article_id).article.published
            except SemsearchError:
                continue
            if published:
                years.add(int(published[:4]))
        if len(years) != 1:
            continue  # undated, or answered by articles of several years
        (year,) = years
        asked += 1
        question = queries[qid]
        for case, named in (("publication year", year), ("year before", year - 1)):
            text = f"In {named}, {question[0].lower()}{question[1:]}"
            ways = {
                "unread": ask(service, text, {"infer_dates": "false"}),
                "filter": ask(
                    service,
                    question,
                    {"published_from": str(named), "published_to": str(named)},
                ),
                "product": ask(service, text, {}),
            }
            for way, ranked in ways.items():
                totals.setdefault((case, way), []).append(ndcg_at(ranked, relevant, 10))
                empty[(case, way)] = empty.get((case, way), 0) + (not ranked)
    print(f"{args.index}: {asked} judged questions with a dated answer")
    print("| the year named | unread (infer_dates=false) | filter (before) | product |")
    print("|---|---|---|---|")
    for case in ("publication year", "year before"):
        cells = []
        for way in ("unread", "filter", "product"):
            scores = totals.get((case, way), [])
            mean = sum(scores) / len(scores) if scores else 0.0
            cells.append(f"{mean:.4f} ({empty.get((case, way), 0)} empty)")
        print(f"| {case} | " + " | ".join(cells) + " |")
    service.close()


if __name__ == "__main__":
    main()
