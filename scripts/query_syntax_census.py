#!/usr/bin/env python
"""How many judged queries the search box's syntax reads otherwise than as plain text.

    .venv/bin/python scripts/query_syntax_census.py \
        --collections-dir /tmp/team/relevance/collections

For each collection of `scripts/eval/make_collections.py`: the judged queries, and those
that `semsearch.search.syntax.parse_query` finds an operator in (a phrase, an exclusion, an
OR group, a scope) or whose searched text differs from the query as typed. Where there are
none, the syntax cannot change that collection's figures: the same text is searched under
the same filters (docs/relevance.md, "Issue 25").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semsearch.search.evaluate import read_qrels, read_queries
from semsearch.search.syntax import parse_query


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collections-dir", type=Path, required=True)
    args = parser.parse_args()
    for path in sorted(args.collections_dir.glob("*/collection.json")):
        described = json.loads(path.read_text(encoding="utf-8"))
        queries = read_queries(Path(described["queries"]))
        judged = [qid for qid in read_qrels(Path(described["qrels"])) if qid in queries]
        changed = []
        for qid in judged:
            typed = " ".join(queries[qid].split())
            parsed = parse_query(typed)
            if parsed.has_conditions or parsed.any_of or parsed.text != typed:
                changed.append(qid)
        print(
            f"{described['name']:18s} judged {len(judged):4d}  read with operators {len(changed)}"
        )
        for qid in changed[:5]:
            print(f"    {qid}: {parse_query(queries[qid]).understood_as[:90]}")


if __name__ == "__main__":
    main()
