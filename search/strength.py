"""Where the strong matches end: each hit marked `strong` or `weak`.

After one right answer a query's list goes on with passages that share a word with it and
nothing else. A hit is strong when its score is close enough to the best hit's: the rule
and its constants were chosen on judged queries (SciFact test and the news questions) with
the packaged model; the measurements and the command are in docs/relevance.md ("Weak
matches"). The best hit is always strong; "no good match" (the min_score threshold) still
answers before any of this.
"""

from __future__ import annotations

from dataclasses import replace

from semsearch.search.results import Hit

#: strong when the fused score is at least this share of the best hit's (hybrid, keyword).
MIN_SHARE_OF_BEST = 0.8
#: The same for bounded fusion's scores (`semsearch.search.fusion.Scale`), which start at
#: "no evidence" rather than at the worst candidate's score, so lie closer to the best.
MIN_SHARE_OF_BEST_BOUNDED = 0.85
#: In dense mode, strong within this cosine of the best hit.
MAX_DENSE_GAP = 0.04
STRONG, WEAK = "strong", "weak"


def is_strong(score: float, best: float, mode: str, bounded: bool = False) -> bool:
    """Whether a hit's score (fused, BM25 or cosine by mode; `bounded` fusion's) is close
    enough to the best."""
    if score >= best:
        return True  # the best hit, whatever its score (bounded ones can be below 0)
    if mode == "dense":
        return score >= best - MAX_DENSE_GAP
    share = MIN_SHARE_OF_BEST_BOUNDED if bounded else MIN_SHARE_OF_BEST
    return best > 0 and score >= share * best


def mark_strength(hits: list[Hit], mode: str, bounded: bool = False) -> list[Hit]:
    """The hits (in any order) each marked strong or weak against the best score among them
    (`bounded`: the scores are bounded fusion's)."""
    if not hits:
        return hits
    best = max(hit.score for hit in hits)
    return [
        replace(hit, strength=STRONG if is_strong(hit.score, best, mode, bounded) else WEAK)
        for hit in hits
    ]
