"""Recency: relevance blended with an exponential decay on the publication date.

`recency=HALF_LIFE` (`30d`, `2w`, `6m`, `2y`) multiplies each candidate's score by
`0.5 ** (age / half_life)`: Elasticsearch's `function_score` `exp` decay with `decay` 0.5
at `scale` = the half-life and no offset (`exp(ln(0.5) / scale * max(0, |date - origin|))`),
combined with `boost_mode: multiply`, its default; Qdrant's `exp_decay` with `midpoint` 0.5
at `scale` is the same curve. A passage as relevant as another but one half-life older
scores half as much; `sort=newest` (an order by date of the same matches) is unchanged.

The origin ("now" in Elasticsearch) is the newest publication date among the query's
candidates: a multiplicative decay orders the same whatever the origin, and an archive's
scores would otherwise all be nearly zero ("now" years after its last article). Candidates
dated after it cannot occur; none is ever scored above its relevance.

Undated articles are scored as if one half-life older than the origin (a factor of 0.5):
Elasticsearch leaves a document without the field undecayed (a factor of 1), which would
put every undated passage above every dated one of equal relevance — the opposite of what
a reader asking for recent articles wants — while a factor of 0 would bury an undated
passage that answers the question. A dated partial date (`2017`, `2017-06`) is read at the
middle of its year or month.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date

#: Days per unit of a half-life: a month and a year as their Gregorian averages.
UNIT_DAYS = {"d": 1.0, "w": 7.0, "m": 30.436875, "y": 365.2425}
#: The longest half-life: past a century, a decay changes no order among dated articles.
MAX_HALF_LIFE_DAYS = 100 * UNIT_DAYS["y"]
#: The factor an undated article's score takes (see the module docstring).
UNDATED_FACTOR = 0.5
#: The value that turns an index-wide default off for one request.
OFF = "off"

_HALF_LIFE = re.compile(r"([0-9]{1,6})\s*([dwmy])", re.IGNORECASE)


def half_life_days(value: str) -> float | None:
    """The half-life `value` names (`30d`, `2w`, `6m`, `2y`), in days; None for `off`.
    ValueError saying what a half-life looks like for anything else (`0d`, `-5y`,
    `10000y`, words)."""
    text = value.strip().lower()
    if text == OFF:
        return None
    match = _HALF_LIFE.fullmatch(text)
    if not match:
        raise ValueError(
            f"recency must be a half-life such as 30d, 2w, 6m or 2y (days, weeks, months, "
            f"years), or off; got {value[:40]!r}"
        )
    days = int(match.group(1)) * UNIT_DAYS[match.group(2).lower()]
    if days <= 0:
        raise ValueError(f"recency must be a half-life longer than zero; got {value[:40]!r}")
    if days > MAX_HALF_LIFE_DAYS:
        raise ValueError(f"recency is at most 100y (a century); got {value[:40]!r}")
    return days


def canonical(value: str) -> str:
    """The half-life as written back (`30d`, `off`); ValueError as `half_life_days`."""
    half_life_days(value)
    return "".join(value.split()).lower()


def _day(published: str | None) -> date | None:
    """An ISO date (or its year or month) as a day, a partial one at its middle."""
    if not published:
        return None
    try:
        if len(published) == 4:
            return date(int(published), 7, 2)
        if len(published) == 7:
            return date(int(published[:4]), int(published[5:7]), 15)
        return date.fromisoformat(published[:10])
    except ValueError:
        return None


def decayed(
    ranked: Sequence[tuple[int, float]],
    published_of: Callable[[Sequence[int]], dict[int, str | None]],
    half_life: float,
) -> list[tuple[int, float]]:
    """`ranked` re-scored by recency (see the module docstring), best first; ties keep
    their relevance order."""
    if not ranked:
        return []
    dates = published_of([cid for cid, _ in ranked])
    days = {cid: _day(dates.get(cid)) for cid, _ in ranked}
    known = [d for d in days.values() if d is not None]
    origin = max(known) if known else None
    rate = math.log(0.5) / half_life

    def log_factor(cid: int) -> float:
        day = days[cid]
        if day is None or origin is None:
            return math.log(UNDATED_FACTOR)
        return rate * max(0, (origin - day).days)

    # Ordered in log space: a short half-life over an archive takes factors far below the
    # smallest float (0.5 ** 3650), and the order must not fall back to ties among zeros.
    # A negative score (a dense cosine below zero) is divided by the factor instead, so
    # that an older passage never gains.
    def key(item: tuple[int, float]) -> tuple[int, float]:
        cid, score = item
        if score > 0:
            return 1, math.log(score) + log_factor(cid)
        if score < 0:
            return -1, -(math.log(-score) - log_factor(cid))
        return 0, 0.0

    ordered = sorted(ranked, key=key, reverse=True)
    return [(cid, _scaled(score, log_factor(cid))) for cid, score in ordered]


def _scaled(score: float, log_factor: float) -> float:
    """The score times the factor (divided, for a negative score), as one float."""
    if score >= 0:
        return score * math.exp(log_factor)
    return -math.exp(min(math.log(-score) - log_factor, 700.0))
