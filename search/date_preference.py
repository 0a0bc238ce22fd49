"""Dates read from a question as a preference, not a filter.

A date in a question is often the event's, not the publication's: "who won the 2021 final?"
is answered by an article published in 2022 as often as by one of 2021. Read as a filter
(as it was until issue 21), such a date removed the answering article from the list, or
left nothing at all ("no article matches the filters"). So an inferred date now only
breaks ties at the top of the unfiltered search: among the hits with the best score, those
published inside the range come first; every other hit keeps its place. Re-ordering more
than ties (the strong matches, or near-ties) lost answers whose date was the event's
(`TIE_SHARE`). The answer the unfiltered search gives is never emptied or thinned.

Dates the user gives explicitly (`published_from`, `published_to`) stay filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

#: The head re-ordered: hits with the best score (hybrid, keyword; dense: the best cosine),
#: ties only. Measured on news questions asked with a year (scripts/date_study.py,
#: docs/relevance.md "Date-aware questions"): re-ordering the strong matches (0.8 of the
#: best) cost 0.17 nDCG@10 where the year was the event's, within 0.95 still 0.012, and
#: gained nothing where it was the publication's: so a date read from a question only
#: breaks ties, and the answer is the unfiltered search's.
TIE_SHARE = 1.0
TIE_COSINE = 0.0


def _near_tie(score: float, best: float, mode: str) -> bool:
    if mode == "dense":
        return score >= best - TIE_COSINE
    return best > 0 and score >= TIE_SHARE * best


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
    while head < len(ranked) and _near_tie(ranked[head][1], best, mode):
        head += 1
    dates = published_of([cid for cid, _ in ranked[:head]])
    inside = [item for item in ranked[:head] if in_range(dates.get(item[0]), start, end)]
    outside = [item for item in ranked[:head] if not in_range(dates.get(item[0]), start, end)]
    # The scores stay the retrievers' own: the order changes, not what each hit scored.
    return inside + outside + list(ranked[head:])
