"""Fuse dense and keyword candidate lists into one ranking.

Three methods, all weighted:
- `rrf`: reciprocal rank fusion, sum of weight / (rrf_k + rank) over the lists a chunk is in;
  it ignores score scales, so it is robust when one retriever's scores are not comparable.
- `linear`: each list's scores min-max normalised over its candidates, then weighted sum; a
  chunk missing from a list gets 0 there.
- `bounded` (the default, for questions): each list's scores over the range they can take
  for this query (`Scale`), then weighted sum: the cosine from the no-match threshold (what
  an off-topic question reaches) to 1, BM25 from 0 to the most the query's words can score
  (every word, its count saturated). A keyword list whose best passage holds only the
  question's common words stays a weak list instead of being stretched to 1, and the order
  does not depend on how deep the lists were drawn. Without a scale (a query longer than a
  question, or a backend that cannot say what its BM25 can reach) it is `linear`.
  Measured against `linear` on six judged sets (docs/relevance.md, "Issue 21", sixth pass).

`rrf` and `linear` normalise a list by its own best, so a keyword list of weak matches would
weigh as much as a list of strong ones: an English question over German passages matches a
name or a number here and there, and those passages would be pushed above the dense list's
answers. `for_coverage` takes the keyword list's weight down with the share of the query's
words the collection holds at all, below MIN_KEYWORD_COVERAGE; above it fusion is unchanged
(docs/relevance.md, "Languages").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, replace

FUSION_METHODS = ("rrf", "linear", "bounded")


@dataclass(frozen=True)
class Fusion:
    """How to fuse: method, the dense list's weight (keyword gets 1 - it), RRF's constant."""

    method: str = "linear"
    dense_weight: float = 0.5
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ValueError(f"fusion method must be one of {FUSION_METHODS}, got {self.method!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be in [0, 1], got {self.dense_weight}")


#: Below this share of the query's words known to the keyword index, the keyword list's
#: weight is scaled by that share (0 known: dense alone).
MIN_KEYWORD_COVERAGE = 0.5


def for_coverage(fusion: Fusion, coverage: float) -> Fusion:
    """`fusion` with the keyword list's weight scaled by `coverage` (the share of the query's
    words some passage holds) when it is under MIN_KEYWORD_COVERAGE; as it is otherwise.
    The dense list keeps its weight: only the ratio of the two matters to the order."""
    if coverage >= MIN_KEYWORD_COVERAGE:
        return fusion
    dense = fusion.dense_weight
    keyword = (1.0 - dense) * max(0.0, coverage)
    return replace(fusion, dense_weight=dense / (dense + keyword) if dense + keyword > 0 else 1.0)


def per_query_fusion(fusion: Fusion, coverage: float) -> Fusion:
    """The fusion for one query: the keyword list's weight scaled by the square root of how
    much of the query's IDF its best passage holds (`coverage`, 0..1), the two weights then
    summing to 1 again. A keyword list whose best passage matches only the query's common
    words is a list of passages that share a word with it; one whose best passage holds
    every word keeps its weight. Nothing here is fitted: coverage 1 is the collection's
    fusion. The square root, not the share itself: a paragraph-long query's best passage
    holds a small share of its IDF however right it is, and even so it lost on paragraph-long
    queries: the ranker applies it to queries of at most 64 words only, and only where the
    model reads the query's language and the collection's main one (it trusts the dense list
    more, which lost on Greek and Thai with the English model: docs/relevance.md, "Issue
    21")."""
    share = math.sqrt(min(1.0, max(0.0, coverage)))
    dense, keyword = fusion.dense_weight, (1.0 - fusion.dense_weight) * share
    weight = dense / (dense + keyword) if dense + keyword > 0 else 1.0
    return Fusion(fusion.method, round(weight, 4), fusion.rrf_k)


def _normalised(scored: list[tuple[int, float]]) -> dict[int, float]:
    if not scored:
        return {}
    values = [score for _, score in scored]
    low, high = min(values), max(values)
    span = high - low
    return {cid: (score - low) / span if span > 0 else 1.0 for cid, score in scored}


#: The least cosine range `bounded` fusion divides by (a no-match threshold set near 1).
MIN_COSINE_SPAN = 0.05


@dataclass(frozen=True)
class Scale:
    """The range a question's scores can take, for `bounded` fusion: `floor`, the cosine an
    off-topic question reaches (the collection's no-match threshold), and `bound`, the most
    BM25 score any passage could reach for it (`KeywordIndex.score_bound`)."""

    floor: float
    bound: float


def _bounded(
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    dense_weight: float,
    scale: Scale,
) -> dict[int, float]:
    """Each list over its `scale`, then the weighted sum. A passage the dense list did not
    reach gets that list's last cosine (the most it can have); one the keyword list did not
    reach gets 0, as in `linear`."""
    floor, span = scale.floor, max(1.0 - scale.floor, MIN_COSINE_SPAN)
    unreached = (dense[-1][1] - floor) / span if dense else 0.0
    fused = {cid: dense_weight * (score - floor) / span for cid, score in dense}
    keyword_weight = 1.0 - dense_weight
    for cid, score in keyword:
        base = fused.get(cid)
        if base is None:
            base = dense_weight * unreached
        fused[cid] = base + keyword_weight * score / scale.bound
    return fused


def fuse(
    dense: list[tuple[int, float]],
    keyword: list[tuple[int, float]],
    fusion: Fusion,
    scale: Scale | None = None,
) -> list[tuple[int, float]]:
    """One list of (chunk id, fused score), best first; inputs are best-first lists.
    `bounded` fusion needs the query's `scale` and is `linear` without one."""
    weights = (fusion.dense_weight, 1.0 - fusion.dense_weight)
    fused: dict[int, float] = {}
    if fusion.method == "bounded" and scale is not None and scale.bound > 0:
        fused = _bounded(dense, keyword, fusion.dense_weight, scale)
    elif fusion.method == "rrf":
        for weight, ranked in zip(weights, (dense, keyword), strict=True):
            for rank, (cid, _) in enumerate(ranked, start=1):
                fused[cid] = fused.get(cid, 0.0) + weight / (fusion.rrf_k + rank)
    else:
        for weight, ranked in zip(weights, (dense, keyword), strict=True):
            for cid, score in _normalised(ranked).items():
                fused[cid] = fused.get(cid, 0.0) + weight * score
    return best_first(fused.items())


def best_first(scored: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """(chunk id, score) pairs by score, best first, equal scores by id: two stable sorts on
    one field each, about twice as fast as one on a (-score, id) key built per item."""
    ordered = sorted(scored, key=operator.itemgetter(0))
    ordered.sort(key=operator.itemgetter(1), reverse=True)  # stable: ids stay ascending
    return ordered
