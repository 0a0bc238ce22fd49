"""Date words in a question ("since 2017", "in March 2019", "between 2015 and 2018", "last
year") turned into publication-date filters.

A date is only read where a frame word says it is one: a preposition before it (since,
after, before, until, in, during, from, between ... and) or a relative phrase (last year,
this month, the past 3 years). The phrase after the frame word is parsed by dateparser
(`DateDataParser.get_date_data`, which also says whether it named a day, a month or a year).
Bare numbers are never dates: dateparser's own `search_dates` finds "2-1" in "a 2-1 win" and
"2017" in "the 2017 songs", and on the labelled list in `scripts/eval/date-queries.tsv`
its precision is far below the framed reading (docs/relevance.md, "Date-aware questions").

Only questions are read: a query of more than `MAX_QUESTION_WORDS` words is text to match (a
paragraph pasted in to find the articles like it), and a date in it is part of that text,
not a filter. Reading dates from paragraph-long queries filtered out the answer of 24 of 150
such queries over the hyperpartisan articles (hybrid nDCG@10 0.696 against 0.812 unread;
docs/relevance.md, "Across collections"); the longest labelled date question has 9 words.

Relative phrases count from a reference date, today unless the caller passes one. The search
service reads absolute dates only: over an archive, "her costume this year" means the year of
the story, not today's (a news question of the judged set lost its answer that way).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dateparser.date import DateDataParser

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORDINAL = r"[0-9]{1,2}(?:st|nd|rd|th)?"
# Years a news collection holds; "in 1500 words" or "the 3000 runners" are not dates.
_YEAR = r"(?:1[89][0-9]{2}|20[0-9]{2})"
#: One date: a year, a month and year, a day month year (either order), or ISO.
_DATE = (
    rf"(?:{_YEAR}-[0-9]{{2}}(?:-[0-9]{{2}})?"
    rf"|(?:{_ORDINAL}\s+(?:of\s+)?)?{_MONTH}\s+(?:{_ORDINAL},?\s+)?{_YEAR}"
    rf"|{_YEAR})"
)
# A number continues ("2017,5", "2019.5", "2018-19 season") or is a count ("2000 words").
_NOT_AFTER = re.compile(r"^(?:[,.][0-9]|[-–/][0-9]|\s*%|\s*(?:percent|per\s+cent)\b)")
#: Words after a number that make it a count or a measure, not a year.
UNIT_WORDS = frozenset(
    """
    words pages people persons troops tanks soldiers votes voters dollars euros pounds
    yen metres meters miles kilometres kilometers km feet tonnes tons cars homes houses jobs
    workers calories points characters times copies units residents students patients cases
    deaths seats acres hectares barrels users members runners passengers visitors
    """.split()  # noqa: SIM905  (a word list reads better as words)
)

_BETWEEN = (
    rf"(?:between|from)\s+(?P<a>{_DATE})\s+(?:and|to|until|till|through|-|–)\s+(?P<b>{_DATE})"
)
_SINGLE = (
    rf"(?P<frame>since|after|before|until|till|through|prior\s+to|up\s+to|in|during|from|of|on)"
    rf"\s+(?P<the>the\s+)?(?P<d>{_DATE})"
)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
_RELATIVE = (
    r"(?:(?:in|over|during)\s+)?(?:the\s+)?(?P<rel>last|past|this)\s+"
    r"(?:(?P<n>[0-9]{1,2}|one|two|three|four|five|six|ten)\s+)?(?P<unit>years?|months?)"
)
_PATTERN = re.compile(
    rf"(?<![\w$£€#-])(?:{_BETWEEN}|{_SINGLE}|{_RELATIVE})(?![\w-])", re.IGNORECASE
)


@dataclass(frozen=True)
class InferredDates:
    """Date filters read from a question: the words that said so (`phrase`), the filters,
    and the question without those words (`text`, what is embedded and keyword-searched)."""

    phrase: str
    published_from: str | None
    published_to: str | None
    text: str

    def as_dict(self) -> dict[str, str]:
        """The inferred filters and the phrase, for the answer's `filters.inferred`."""
        found = {"published_from": self.published_from, "published_to": self.published_to}
        return {**{k: v for k, v in found.items() if v}, "phrase": self.phrase}


@dataclass(frozen=True)
class _Period:
    """A year, a month or a day: the granularity the words named."""

    year: int
    month: int | None = None
    day: int | None = None

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def next(self) -> _Period:
        """The period right after this one, at the same granularity."""
        if self.month is None:
            return _Period(self.year + 1)
        if self.day is None:
            return _Period(self.year + self.month // 12, self.month % 12 + 1)
        later = dt.date(self.year, self.month, self.day) + dt.timedelta(days=1)
        return _Period(later.year, later.month, later.day)

    def previous(self) -> _Period:
        """The period right before this one, at the same granularity."""
        if self.month is None:
            return _Period(self.year - 1)
        if self.day is None:
            return _Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)
        earlier = dt.date(self.year, self.month, self.day) - dt.timedelta(days=1)
        return _Period(earlier.year, earlier.month, earlier.day)


@functools.cache
def _parser() -> DateDataParser:
    # Imported on first use: dateparser takes ~0.15 s to import and most queries have no dates.
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=["en"], settings={"REQUIRE_PARTS": ["year"], "PREFER_DAY_OF_MONTH": "first"}
    )


def _period(words: str) -> _Period | None:
    """The period one date phrase names, or None when dateparser cannot read it."""
    if re.fullmatch(_YEAR, words):
        return _Period(int(words))  # dateparser reads a bare year as its December
    data = _parser().get_date_data(words)
    when = data.date_obj
    if when is None:
        return None
    if data.period == "year":
        return _Period(when.year)
    if data.period == "month":
        return _Period(when.year, when.month)
    return _Period(when.year, when.month, when.day)


def _relative(rel: str, count: str | None, unit: str, today: dt.date) -> tuple[str, str | None]:
    """(from, to) for "last year", "this month", "the past 3 years" counted from today."""
    years = unit.lower().startswith("year")
    n = int(count) if count and count.isdigit() else _NUMBER_WORDS.get((count or "").lower(), 0)
    if rel.lower() == "past" and not n:
        n = 1  # "the past year" is the twelve months to today; "last year" the calendar one
    this = _Period(today.year) if years else _Period(today.year, today.month)
    if rel.lower() == "this":
        return str(this), None
    if n:  # the past N years: a window ending today
        months = n * 12 if years else n
        total = today.year * 12 + today.month - 1 - months
        start = _Period(total // 12, total % 12 + 1, min(today.day, 28))
        return str(start), None
    last = this.previous()
    return str(last), str(last)


def _is_count(query: str, end: int) -> bool:
    """Whether the number ending at `end` continues as a number or is a count of things."""
    rest = query[end:]
    if _NOT_AFTER.match(rest):
        return True
    following = re.match(r"\s+([A-Za-z]+)", rest)
    return bool(following and following.group(1).lower() in UNIT_WORDS)


#: The longest query read for dates, in words (see the module's docstring).
MAX_QUESTION_WORDS = 32
#: Every date the pattern reads has a year in digits, and every relative one names a year or
#: a month: a query with neither cannot match, and most questions have neither. This test
#: is a fraction of the cost of the pattern's search (docs/benchmarks.md, "Where a query's
#: CPU goes").
_ANY_DIGIT = re.compile(r"[0-9]")
_RELATIVE_UNIT = re.compile(r"(?:year|month)", re.IGNORECASE)


def may_hold_date(query: str, relative: bool = True) -> bool:
    """False when `query` surely names no date `infer_dates` reads: no digit, and (with
    `relative`) no "year" or "month"."""
    if _ANY_DIGIT.search(query):
        return True
    return relative and _RELATIVE_UNIT.search(query) is not None


def infer_dates(
    query: str, today: dt.date | None = None, relative: bool = True
) -> InferredDates | None:
    """The date filters the question's words ask for, or None when it names no date or is
    longer than a question (`MAX_QUESTION_WORDS`); with `relative` off, only absolute dates
    ("since 2017", "in March 2019") are read."""
    if not may_hold_date(query, relative) or len(query.split()) > MAX_QUESTION_WORDS:
        return None
    today = today or dt.date.today()
    for match in _PATTERN.finditer(query):
        if _is_count(query, match.end()):
            continue
        if not relative and match.group("rel"):
            continue
        found = _filters(match, today)
        if found is None:
            continue
        start, end = found
        if start and end and start > end + "\uffff":
            continue
        phrase = match.group(0)
        # "before the 2020 election": the event is what is asked about; keep its words.
        text = query if match.group("the") else _without(query, match.start(), match.end())
        return InferredDates(" ".join(phrase.split()), start, end, text)
    return None


def _filters(match: re.Match[str], today: dt.date) -> tuple[str | None, str | None] | None:
    if match.group("a"):
        first, last = _period(match.group("a")), _period(match.group("b"))
        if first is None or last is None:
            return None
        return str(first), str(last)
    if match.group("d"):
        period = _period(match.group("d"))
        if period is None:
            return None
        frame = " ".join(match.group("frame").lower().split())
        if frame == "on" and period.day is None:
            return None  # "a report on 2019 spending": on names a day, never a bare year
        if frame == "since":
            return str(period), None
        if frame == "after":
            return str(period.next()), None
        if frame in ("before", "prior to"):
            return None, str(period.previous())
        if frame in ("until", "till", "through", "up to"):
            return None, str(period)
        return str(period), str(period)  # in, during, from, of
    return _relative(match.group("rel"), match.group("n"), match.group("unit"), today)


def _without(query: str, start: int, end: int) -> str:
    """The query with query[start:end] cut out; the question's other words stay as typed."""
    text = query[:start] + " " + query[end:]
    text = re.sub(r"\s+([,.;:?!])", r"\1", text)
    text = " ".join(text.split()).strip(" ,;:")
    # Only the date was asked ("since 2017"): search with the whole question.
    return text if re.search(r"\w", text) else query
