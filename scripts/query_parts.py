"""Where a query's CPU goes, without a profiler's inflation: SciFact questions asked one at a
time through the Flask test client (`/api/search`, defaults), each part of the path wrapped
to add up its own thread's CPU time. Parts nest (`rank` holds `retrieve` and `hits`, `hits`
holds the highlights), so the rows do not add up to the request; what `rank` holds beyond
`retrieve` and `hits` is the query's encoding.

    .venv/bin/python scripts/query_parts.py --index DIR [--queries 300]

`scripts/profile_query.py` gives the served figure (the server's CPU from /proc) and a
cProfile breakdown; this one gives the parts' real sizes (docs/benchmarks.md, "Where a
query's CPU goes").
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT.parent / "shared" / "datasets" / "scifact" / "queries.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="a SciFact index directory")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    if not QUESTIONS.is_file():
        sys.exit(f"{QUESTIONS} is absent: this measurement needs ../shared beside the project")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from semsearch.index.storage import article_index
    from semsearch.search import ranking
    from semsearch.search import service as service_module
    from semsearch.search.backends import directory
    from semsearch.web import create_app, views

    spent: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()

    def timed(owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name)

        @functools.wraps(function)
        def wrapper(*positional: Any, **named: Any) -> Any:
            started = time.thread_time_ns()
            try:
                return function(*positional, **named)
            finally:
                spent[label] += time.thread_time_ns() - started
                calls[label] += 1

        setattr(owner, name, wrapper)

    parts = [
        (ranking.Ranker, "rank", "rank (encoding + retrieve + hits)"),
        (ranking.Ranker, "retrieve", "retrieve"),
        (directory.DirectoryBackend, "dense", "  dense list (FAISS)"),
        (directory.DirectoryBackend, "keyword_search", "  keyword list (BM25)"),
        (ranking, "fuse", "  fusion"),
        (ranking.Ranker, "_with_articles", "  whole-article evidence"),
        (article_index.ArticleIndex, "keyword_scores", "    article BM25"),
        (article_index.ArticleIndex, "dense_scores", "    article vectors"),
        (ranking, "blend", "    blend"),
        (ranking.Ranker, "hits", "hits"),
        (ranking, "find_highlights", "  highlights"),
        (ranking, "shingle", "  near-duplicate shingles"),
        (ranking, "best_sentence", "  best sentence"),
        (service_module, "with_spelling", "spelling"),
        (service_module.SearchService, "_with_language", "query language"),
        (service_module, "parse_query", "query syntax"),
        (service_module.SearchService, "_facets", "facets"),
        (service_module, "mark_strength", "strength marks"),
        (views, "validate_query", "validation"),
        (views, "result_to_dict", "answer as a dict"),
        (views, "jsonify", "JSON"),
    ]
    app = create_app({"INDEX_DIR": args.index, "RELOAD_INTERVAL": 0})
    client = app.test_client()
    for owner, name, label in parts:
        timed(owner, name, label)
    with QUESTIONS.open(encoding="utf-8") as handle:
        questions = [json.loads(line)["text"] for line in handle][: args.queries]
    for question in questions[:40]:  # warm: caches, the first calls' imports
        client.get("/api/search", query_string={"q": question})
    spent.clear()
    calls.clear()
    started = time.thread_time_ns()
    for question in questions:
        answer = client.get("/api/search", query_string={"q": question})
        if answer.status_code != 200:
            sys.exit(f"{question!r}: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
    total = (time.thread_time_ns() - started) / len(questions) / 1e6
    load = os.getloadavg()[0]
    print(
        f"{len(questions)} questions, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load {load:.1f}: CPU a request {total:.2f} ms (the request thread)"
    )
    for _, _, label in parts:
        count = calls[label] / len(questions)
        print(f"{label:36s} {spent[label] / len(questions) / 1e6:6.3f} ms  ({count:.1f} calls)")


if __name__ == "__main__":
    main()
