"""Dates read from a question as a preference, not a filter.

A date in a question is often the event's, not the publication's: "who won the 2021 final?"
is answered by an article published in 2022 as often as by one of 2021. Read as a filter
(as it was until issue 21), such a date removed the answering article from the list, or
left nothing at all ("no article matches the filters"). So an inferred date now only
reorders the strong matches of the unfiltered search: among the hits whose score is close
to the best one (`semsearch.search.strength.is_strong`), those published inside the range
come first, each group in its own order; every other hit keeps its place. The answer the
unfiltered search gives is never emptied or thinned, only its near-ties re-ordered.

Dates the user gives explicitly (`published_from`, `published_to`) stay filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semsearch.search.strength import is_strong


def in_range(published: str | None, start: str | None, end: str | None) -> bool:
    """Whether an article's date (YYYY, YYYY-MM or YYYY-MM-DD) lies in [start, end], both
    inclusive prefixes as the filters read them; an undated article never does."""
    if not published:
        return False
    if start and published < start:
        return False
    return not (end and published > end + "\uffff")


def prefer_in_range(
    ranked: Sequence[tuple[int, float]],
    published_of: Callable[[Sequence[int]], dict[int, str | None]],
    start: str | None,
    end: str | None,
    mode: str,
) -> list[tuple[int, float]]:
    """`ranked` (best first) with its strong head re-ordered: passages of articles
    published in [start, end] first, then the head's others; the rest as it was.
    `published_of` reads the dates of the head's chunk ids."""
    if not ranked or not (start or end):
        return list(ranked)
    best = ranked[0][1]
    head = 0
    while head < len(ranked) and is_strong(ranked[head][1], best, mode):
        head += 1
    dates = published_of([cid for cid, _ in ranked[:head]])
    inside = [item for item in ranked[:head] if in_range(dates.get(item[0]), start, end)]
    outside = [item for item in ranked[:head] if not in_range(dates.get(item[0]), start, end)]
    # The scores stay the retrievers' own: the order changes, not what each hit scored.
    return inside + outside + list(ranked[head:])
