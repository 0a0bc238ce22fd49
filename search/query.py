"""A query and its options, validated at the edge with messages that say what was wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from semsearch.errors import BadQueryError
from semsearch.settings import get_setting

MODES = ("hybrid", "dense", "keyword")
GROUPS = ("article",)
FILTER_NAMES = ("published_from", "published_to", "publication", "author")

_INTEGER = re.compile(r"\+?([0-9]{1,9})")
# [0-9], not \d: \d also matches other scripts' digits ("٢٠١٧"), which dates never use.
_PARTIAL_DATE = re.compile(r"^[0-9]{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?$")

#: Longest publication or author filter value.
MAX_FILTER_CHARS = 200


@dataclass(frozen=True)
class Filters:
    """Conditions on the article, applied before ranking. Dates are YYYY, YYYY-MM or
    YYYY-MM-DD and inclusive; publication matches exactly, author as a part of the byline,
    both ignoring case."""

    published_from: str | None = None
    published_to: str | None = None
    publication: str | None = None
    author: str | None = None

    def active(self) -> bool:
        return any(getattr(self, name) for name in FILTER_NAMES)

    def sql(self) -> tuple[str, list[Any]]:
        """An SQL condition on the articles table `a`, and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.published_from:
            clauses.append("a.published >= ?")
            params.append(self.published_from)
        if self.published_to:
            # "2017-11" must admit "2017-11-30": compare against the prefix's last value.
            clauses.append("a.published <= ?")
            params.append(self.published_to + "\uffff")
        # fold() is Python's casefold, registered on the connection: SQLite's own NOCASE and
        # lower() fold ASCII only ("Ärzte" would not match "ärzte").
        if self.publication:
            clauses.append("fold(a.publication) = ?")
            params.append(self.publication.casefold())
        if self.author:
            clauses.append("instr(fold(a.author), ?) > 0")
            params.append(self.author.casefold())
        return " AND ".join(clauses) or "1", params

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTER_NAMES if getattr(self, name)}


@dataclass(frozen=True)
class Query:
    """A validated query."""

    text: str
    k: int
    mode: str = "hybrid"
    group: str | None = None
    filters: Filters = field(default_factory=Filters)


def _int_param(name: str, value: Any, low: int, high: int, default: int) -> int:
    message = f"{name} must be an integer from {low} to {high}, got {value!r}"
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadQueryError(message)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 7.0 is the integer 7
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (digits := _INTEGER.fullmatch(value.strip())):
        number = int(digits.group(1))
    else:
        raise BadQueryError(message)
    if not low <= number <= high:
        raise BadQueryError(message)
    return number


def _choice(name: str, value: Any, choices: tuple[str, ...], default: str | None) -> str | None:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise BadQueryError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value.strip().lower()


def _filter_value(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadQueryError(f"{name} must be a string, got {type(value).__name__}")
    if not _is_utf8_text(value):
        raise BadQueryError(f"{name} is not valid Unicode text (it holds a lone surrogate)")
    value = " ".join(value.split())
    if name.startswith("published_"):
        if not _PARTIAL_DATE.match(value):
            raise BadQueryError(
                f"{name} must be a date as YYYY, YYYY-MM or YYYY-MM-DD; got {value!r}"
            )
        return value
    if len(value) > MAX_FILTER_CHARS:
        raise BadQueryError(f"{name} is {len(value)} characters; the limit is {MAX_FILTER_CHARS}")
    return value or None


def _is_utf8_text(value: str) -> bool:
    """False for strings with lone surrogates (JSON allows "\ud800"; UTF-8 cannot hold it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_query(
    q: Any,
    k: Any = None,
    settings: dict[str, Any] | None = None,
    *,
    mode: Any = None,
    group: Any = None,
    filters: dict[str, Any] | None = None,
) -> Query:
    """Check a raw query and its options; raise BadQueryError saying exactly what is wrong."""
    max_chars = int(get_setting("max_query_chars", settings))
    if q is None:
        raise BadQueryError("missing query: pass it as q, e.g. /api/search?q=tidal+power")
    if not isinstance(q, str):
        raise BadQueryError(f"q must be a string, got {type(q).__name__}")
    text = " ".join(q.split())
    if not text:
        raise BadQueryError("empty query: q must contain some words")
    if len(text) > max_chars:
        raise BadQueryError(f"query is {len(text)} characters long; the limit is {max_chars}")
    max_k = int(get_setting("max_k", settings))
    k_value = _int_param("k", k, 1, max_k, int(get_setting("default_k", settings)))
    mode_value = _choice("mode", mode, MODES, str(get_setting("mode", settings)))
    group_value = _choice("group", group, GROUPS, None)
    raw = filters or {}
    checked = Filters(**{name: _filter_value(name, raw.get(name)) for name in FILTER_NAMES})
    if (
        checked.published_from
        and checked.published_to
        and checked.published_from > checked.published_to + "\uffff"
    ):
        raise BadQueryError(
            f"published_from {checked.published_from} is after published_to {checked.published_to}"
        )
    return Query(text, k_value, mode_value or "hybrid", group_value, checked)
