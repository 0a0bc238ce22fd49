"""Facet counts and date order over a query's matches.

A query's *matches* are the articles with a passage in its first fused candidate list (the
`candidates` deepest of each retriever, filters applied inside the retrievers) that a
retriever really found: a keyword candidate (it holds a query word), or a dense one at or
above the no-match threshold (`min_score`). Facets count those articles by publication,
author, year and language; `sort=newest|oldest` orders the same set by date. Each facet is counted
with its own filter removed (publication without the publication filter, year without the
dates, as Elasticsearch's post_filter does), so a filtered facet keeps its other values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from semsearch.index.storage.store import ArticleFacts

#: The facets, each with the filters that narrow it (and are left out when counting it).
FACET_FILTERS: dict[str, tuple[str, ...]] = {
    "publication": ("publication",),
    "author": ("author",),
    "year": ("published_from", "published_to"),
    "language": ("language",),
}
#: Most values listed per facet, most frequent first.
FACET_VALUES = 20


def matched_chunks(
    dense: Sequence[tuple[int, float]],
    keyword: Sequence[tuple[int, float]],
    ranked: Sequence[tuple[int, float]],
    min_score: float,
) -> list[int]:
    """The ranked chunk ids that are matches: keyword candidates, and dense candidates at or
    above the no-match threshold, in ranked order."""
    found = {cid for cid, _ in keyword}
    found.update(cid for cid, score in dense if score >= min_score)
    return [cid for cid, _ in ranked if cid in found]


def facet_value(name: str, facts: ArticleFacts) -> str | None:
    """The value of one facet for an article; None when the article has none."""
    if name == "year":
        return facts.published[:4] if facts.published else None
    if name == "language":
        return facts.language or None
    value = facts.publication if name == "publication" else facts.author
    return value or None


def count_facet(name: str, articles: Iterable[ArticleFacts]) -> dict[str, int]:
    """Articles per value of one facet, most first (ties by value), at most FACET_VALUES."""
    seen: dict[str, ArticleFacts] = {}
    for facts in articles:
        seen.setdefault(facts.article_id, facts)
    counts = Counter(
        value for facts in seen.values() if (value := facet_value(name, facts)) is not None
    )
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ordered[:FACET_VALUES])


def date_ordered(
    ranked: Sequence[tuple[int, float]], facts: Mapping[int, ArticleFacts], newest: bool
) -> list[tuple[int, float]]:
    """The ranked chunks ordered by their article's date (newest or oldest first), undated
    ones last; equal dates keep their relevance order."""
    dated = [item for item in ranked if (f := facts.get(item[0])) and f.published]
    undated = [item for item in ranked if not ((f := facts.get(item[0])) and f.published)]

    def published(item: tuple[int, float]) -> str:
        return facts[item[0]].published or ""

    # ISO dates sort as strings; a bare "2019" sorts before "2019-01": it is less precise.
    return sorted(dated, key=published, reverse=newest) + undated
