"""What facets add to a search: the ranking's time and the facets' time, median and p95.

    python scripts/facet_latency.py --index /tmp/hp-idx \\
        --queries scripts/eval/news-questions/queries.jsonl --filter publication=cbsnews.com
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from semsearch.search.query import validate_query
from semsearch.search.service import SearchService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True, help="BEIR queries.jsonl")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--filter", action="append", default=[], help="NAME=VALUE, repeatable")
    args = parser.parse_args()
    service = SearchService.open(args.index)
    service.warm_up()
    filters = dict(item.split("=", 1) for item in args.filter)
    lines = args.queries.read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()][: args.limit]
    ranking_ms, facets_ms = [], []
    for text in texts:
        params = {"q": text, "facets": "publication,author,year", **filters}
        query = validate_query(params, service.settings)
        started = time.perf_counter()
        ranking = service.ranker.rank(query, service._scope(query))
        ranked = time.perf_counter()
        service._facets(query, ranking)
        ranking_ms.append((ranked - started) * 1000)
        facets_ms.append((time.perf_counter() - ranked) * 1000)
    facets_ms.sort()
    print(
        f"{len(texts)} queries, filters {filters or 'none'}: ranking p50 "
        f"{statistics.median(ranking_ms):.1f} ms; facets p50 {statistics.median(facets_ms):.2f} "
        f"ms, p95 {facets_ms[int(0.95 * len(facets_ms))]:.2f} ms"
    )


if __name__ == "__main__":
    main()
