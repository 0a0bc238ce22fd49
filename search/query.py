"""The search request, described once as a pydantic model: it validates a query and its
options with messages that say exactly what was wrong, and its JSON Schema is the request
part of the OpenAPI description (`semsearch.web.openapi`).

The limits (longest query, largest k, the defaults) come from the settings when a request is
validated: `query_model` makes the model for one set of limits, so the served description
states the limits the same server enforces.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from semsearch.errors import BadQueryError
from semsearch.index.storage.store import ArticleFilter
from semsearch.index.text.languages import is_known_language, language_code
from semsearch.search.recency import canonical, half_life_days
from semsearch.search.syntax import MAX_EXCLUSIONS, MAX_FIELD_SCOPES, MAX_OR_TERMS, MAX_PHRASES
from semsearch.settings import get_setting

Mode = Literal["hybrid", "dense", "keyword"]
Group = Literal["article"]
#: What /api/search answers in: the JSON document, the result list as CSV, or the newest
#: strong matches as an Atom or RSS feed (`semsearch.web.feeds`).
OutputFormat = Literal["json", "csv", "atom", "rss"]
MODES: tuple[str, ...] = get_args(Mode)
GROUPS: tuple[str, ...] = get_args(Group)
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
FILTER_NAMES = ("published_from", "published_to", "publication", "author", "language")
#: The parameters a search takes, in the order the model checks them.
SEARCH_PARAMS = (
    "q", "k", "mode", "group", *FILTER_NAMES, "format", "page", "sort", "infer_dates", "facets",
    "lang", "spell", "recency",
)  # fmt: skip
#: The facets a search can count (`facets=publication,author,year,language`).
FACET_NAMES = ("publication", "author", "year", "language")
_FACETS_PATTERN = rf"^\s*(?:{'|'.join(FACET_NAMES)})\s*(?:,\s*(?:{'|'.join(FACET_NAMES)})\s*)*$"
#: How results may be ordered: best first, or the same matches by publication date.
Sort = Literal["relevance", "newest", "oldest"]
SORTS: tuple[str, ...] = get_args(Sort)
#: Deepest hit a page may reach (page * k): past it, a 400 says so.
MAX_DEPTH = 1000
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

#: Longest publication or author filter value.
MAX_FILTER_CHARS = 200
#: k may come as a string (query strings have no numbers): a sign and at most 9 digits.
_INTEGER = re.compile(r"\+?([0-9]{1,9})")
# [0-9], not \d: \d also matches other scripts' digits ("٢٠١٧"), which dates never use.
# The pattern is the whole check, so that the OpenAPI description states exactly what the
# server takes: a day must be in its month, 29 February in a leap year (Gregorian rules).
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
DATE_PATTERN = (
    rf"^(?:[0-9]{{4}}(?:-(?:0[1-9]|1[0-2]))?|[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)$"
)
_PARTIAL_DATE = re.compile(DATE_PATTERN)
#: The shape alone: a value of this shape that DATE_PATTERN refuses is not in the calendar.
_DATE_SHAPE = re.compile(r"^[0-9]{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?$")
#: Characters Python's str.split() treats as whitespace that a JSON Schema (ECMA-262) `\s`
#: does not: a query made only of these is empty to the server.
_PYTHON_ONLY_SPACE = r"\x1c-\x1f\x85"
#: The pydantic error type of every message written here; the text is the whole message.
_ERROR_TYPE = "bad_query"


def _bad(message: str) -> PydanticCustomError:
    # The message goes in through the context: braces in a quoted value are not a template.
    return PydanticCustomError(_ERROR_TYPE, "{message}", {"message": message})


class Limits(NamedTuple):
    """What a server allows and assumes, read from its settings when a request comes in."""

    max_chars: int
    max_k: int
    default_k: int
    mode: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None) -> Limits:
        """The limits in force for these settings (environment and defaults beneath them)."""
        values = dict(settings or {})
        return cls(
            int(get_setting("max_query_chars", values)),
            int(get_setting("max_k", values)),
            int(get_setting("default_k", values)),
            str(get_setting("mode", values)),
        )


@dataclass(frozen=True)
class Filters(ArticleFilter):
    """Conditions on the article, applied before ranking (their meaning, and the SQL that
    applies them, are the store's: `semsearch.index.storage.store.ArticleFilter`)."""

    def active(self) -> bool:
        return any(getattr(self, name) for name in FILTER_NAMES)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTER_NAMES if getattr(self, name)}


_DATE_HELP = "YYYY, YYYY-MM or YYYY-MM-DD"


class Query(BaseModel):
    """A search request, validated: the query text (`q` on the wire) with whitespace
    collapsed, how many results, the retrieval mode, grouping and the filters.

    Build one with `validate_query`; `query_model` gives the class for a server's limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The limits this class checks; `query_model` makes a subclass for each set.
    limits: ClassVar[Limits] = Limits.from_settings({})

    # q, k and mode carry the limits: `query_model` declares them again with these in.
    text: str = Field(alias="q")
    k: int = 10
    mode: Mode = "hybrid"
    group: Group | None = Field(
        None,
        description="article: the best passage of each article, with its other matching "
        "passages under `also`.",
    )
    published_from: str | None = Field(
        None,
        pattern=DATE_PATTERN,
        description=f"Earliest publication date, inclusive: {_DATE_HELP}. "
        "Must not be after published_to.",
        examples=["2017-01"],
    )
    published_to: str | None = Field(
        None,
        pattern=DATE_PATTERN,
        description=f"Latest publication date, inclusive: {_DATE_HELP}.",
        examples=["2017-12-31"],
    )
    publication: str | None = Field(
        None,
        max_length=MAX_FILTER_CHARS,
        description="The publication, matched exactly ignoring case.",
    )
    author: str | None = Field(
        None, max_length=MAX_FILTER_CHARS, description="A part of the byline, ignoring case."
    )
    language: str | None = Field(
        None,
        max_length=MAX_FILTER_CHARS,
        description="Only articles in this language: a language tag (de, de-AT, zh-Hans), "
        "matched by its primary subtag.",
        examples=["de"],
    )
    format: OutputFormat = Field(
        "json",
        description="json (the default); csv: the result list as CSV with the attribution "
        "columns, as a download; atom or rss: the newest strong matches as a feed "
        "(docs/api.md, 'Feeds'). Case and surrounding spaces are ignored.",
    )

    page: int = Field(
        1,
        ge=1,
        le=MAX_DEPTH,
        description=f"Which page of k results, from 1. page * k may not exceed {MAX_DEPTH}: "
        "past that a 400 says so; a page past the last result is empty, with has_next false.",
    )
    sort: Sort = Field(
        "relevance",
        description="relevance (best first), newest or oldest: the same matches ordered by "
        "publication date, undated articles last.",
    )
    infer_dates: bool = Field(
        True,
        description='Read date words in q ("since 2017", "in March 2019", "last year") as '
        "date filters and leave them out of the searched text; false turns it off. Explicit "
        "published_from/published_to turn it off too.",
    )

    facets: str | None = Field(
        None,
        pattern=_FACETS_PATTERN,
        description="Which facets to count over the matches, comma-separated: any of "
        f"{', '.join(FACET_NAMES)}. Not given: none are counted (each costs a retrieval "
        "round when its own filter is set) and the answer's `facets` holds empty counts.",
        examples=["publication,author,year"],
    )

    lang: str | None = Field(
        None,
        description="The language the query is written in (a language tag: de, zh-Hans): its "
        "words are analysed in it. Without it the query's language is detected, and a query "
        "too short to tell takes the collection's main language. An unknown tag is refused "
        "with 400.",
        examples=["de"],
    )

    spell: bool = Field(
        True,
        description="Did you mean: with true (the default), a query that finds nothing is "
        "answered for its spelling correction, when one finds something (`spelling.applied`); "
        "false answers the query as typed (a correction is still suggested).",
    )

    recency: str | None = Field(
        None,
        description="Blend relevance with recency: a half-life (30d, 2w, 6m, 2y: days, weeks, "
        "months, years; at most 100y), each score multiplied by 0.5 per half-life its "
        "article is older than the newest candidate (Elasticsearch's exp decay); undated "
        "articles count as one half-life old. off turns off the server's default "
        "(the `recency` setting, off unless set). sort=newest orders by date instead.",
        examples=["30d", "2y"],
    )

    @property
    def half_life_days(self) -> float | None:
        """The recency half-life in days; None without a recency blend."""
        return None if self.recency is None else half_life_days(self.recency)

    @property
    def filters(self) -> Filters:
        return Filters(
            self.published_from, self.published_to, self.publication, self.author, self.language
        )

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise _bad(f"a search request is a mapping of parameters, got {type(data).__name__}")
        # A misspelt parameter ("filter", "top_k") would otherwise be ignored without a word.
        unknown = sorted(str(name) for name in set(data) - set(SEARCH_PARAMS))
        if unknown:
            raise _bad(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(name[:40]) for name in unknown[:5])}; "
                f"known: {', '.join(SEARCH_PARAMS)}"
            )
        if data.get("q") is None:
            raise _bad("missing query: pass it as q, e.g. /api/search?q=tidal+power")
        # An empty value is the same as leaving the parameter out (q excepted).
        return {
            name: value
            for name, value in data.items()
            if name == "q" or not (value is None or value == "")
        }

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _bad(f"q must be a string, got {type(value).__name__}")
        text = " ".join(value.split())
        if not text:
            raise _bad("empty query: q must contain some words")
        if len(text) > cls.limits.max_chars:
            raise _bad(f"query is {len(text)} characters long; the limit is {cls.limits.max_chars}")
        return text

    @field_validator("k", "page", mode="before")
    @classmethod
    def _count(cls, value: Any, info: Any) -> int:
        high = cls.limits.max_k if info.field_name == "k" else MAX_DEPTH
        message = f"{info.field_name} must be an integer from 1 to {high}, got {value!r}"
        if isinstance(value, bool):
            raise _bad(message)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 7.0 is the integer 7
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and (digits := _INTEGER.fullmatch(value.strip())):
            number = int(digits.group(1))
        else:
            raise _bad(message)
        if not 1 <= number <= high:
            raise _bad(message)
        return number

    @field_validator("mode", "group", "format", "sort", mode="before")
    @classmethod
    def _choice(cls, value: Any, info: Any) -> str:
        choices = {"mode": MODES, "group": GROUPS, "format": OUTPUT_FORMATS, "sort": SORTS}[
            info.field_name
        ]
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise _bad(f"{info.field_name} must be one of {', '.join(choices)}; got {value!r}")
        return value.strip().lower()

    @field_validator("infer_dates", "spell", mode="before")
    @classmethod
    def _infer_dates(cls, value: Any, info: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise _bad(f"{info.field_name} must be true or false; got {value!r}")

    @property
    def facet_names(self) -> tuple[str, ...]:
        """The facets asked for, in FACET_NAMES order; () when none."""
        asked = {name.strip() for name in (self.facets or "").split(",")}
        return tuple(name for name in FACET_NAMES if name in asked)

    @field_validator("facets", mode="before")
    @classmethod
    def _facets(cls, value: Any) -> str:
        # A JSON body may give a list; the query string gives "publication,year".
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str):
            raise _bad(f"facets must be a comma-separated string, got {type(value).__name__}")
        names = [name.strip().lower() for name in value.split(",")]
        unknown = [name for name in names if name not in FACET_NAMES]
        if unknown:
            raise _bad(
                f"facets must be names from {', '.join(FACET_NAMES)}, comma-separated; "
                f"got {unknown[0][:40]!r}"
            )
        return ",".join(name for name in FACET_NAMES if name in names)

    @field_validator(*FILTER_NAMES, mode="before")
    @classmethod
    def _filter_value(cls, value: Any, info: Any) -> str | None:
        name = info.field_name
        if not isinstance(value, str):
            raise _bad(f"{name} must be a string, got {type(value).__name__}")
        if not _is_utf8_text(value):
            raise _bad(f"{name} is not valid Unicode text (it holds a lone surrogate)")
        value = " ".join(value.split())
        if name.startswith("published_"):
            if _PARTIAL_DATE.match(value):
                return str(value)
            if _DATE_SHAPE.match(value):
                raise _bad(f"{name} {value} is not a day of the calendar: check the day")
            raise _bad(f"{name} must be a date as {_DATE_HELP}; got {value!r}")
        if name == "language":
            return _language_value(name, value)
        if len(value) > MAX_FILTER_CHARS:
            raise _bad(f"{name} is {len(value)} characters; the limit is {MAX_FILTER_CHARS}")
        return value or None

    @field_validator("recency", mode="before")
    @classmethod
    def _recency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _bad(f"recency must be a string such as 30d, got {type(value).__name__}")
        try:
            return canonical(value)
        except ValueError as exc:
            raise _bad(str(exc)) from None

    @field_validator("lang", mode="before")
    @classmethod
    def _lang(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _bad(f"lang must be a string, got {type(value).__name__}")
        return _language_value("lang", " ".join(value.split()))

    @model_validator(mode="after")
    def _dates_in_order(self) -> Query:
        start, end = self.published_from, self.published_to
        if start and end and start > end + "\uffff":
            raise _bad(f"published_from {start} is after published_to {end}")
        if self.page * self.k > MAX_DEPTH:
            raise _bad(
                f"page {self.page} with k={self.k} reaches result {self.page * self.k}; "
                f"results go {MAX_DEPTH} deep at most (page * k <= {MAX_DEPTH})"
            )
        return self


def _language_value(name: str, value: str) -> str:
    """A language tag as its two-letter code, or a 400 that says what a tag looks like."""
    code = language_code(value)
    if not code or not is_known_language(code):
        raise _bad(
            f"{name} must be a language tag such as en, de, zh-Hans or pt-BR; got {value[:40]!r}"
        )
    return code


def _is_utf8_text(value: str) -> bool:
    """False for strings with lone surrogates (JSON allows "\ud800"; UTF-8 cannot hold it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def query_model(limits: Limits) -> type[Query]:
    """The request model for a server with these limits: validation and JSON Schema alike."""
    max_chars, max_k = limits.max_chars, limits.max_k
    text = Field(
        alias="q",
        min_length=1,
        max_length=max_chars,
        description="What to search for, in plain language. Whitespace is collapsed before "
        f"the length is checked (at most {max_chars} characters). It may hold "
        '"exact phrases", -word and -"phrase" (exclusions), OR between two terms and '
        "title:, author: or publication: scopes (a word or a quoted phrase after them); "
        "malformed syntax is read as words, and `understood_as` in the answer says how the "
        f"query was read. At most {MAX_PHRASES} phrases, {MAX_EXCLUSIONS} exclusions, "
        f"{MAX_OR_TERMS} terms joined by OR and {MAX_FIELD_SCOPES} scopes.",
        examples=["how long did the tram strike last?", '"tram strike" -bus title:Ashcombe'],
        # Runs of whitespace count as one space; a query of whitespace alone is refused.
        json_schema_extra={"pattern": rf"[^\s{_PYTHON_ONLY_SPACE}]"},
    )
    k = Field(
        limits.default_k,
        ge=1,
        le=max_k,
        description=f"How many results, 1 to {max_k}. A string of digits is read as the number.",
    )
    mode = Field(
        limits.mode,
        description="dense (embeddings), keyword (BM25) or hybrid (both, fused). Case and "
        "surrounding spaces are ignored.",
    )
    model = create_model(
        "SearchRequest",
        __base__=Query,
        __doc__="The parameters of a search; any other parameter is refused with 400.",
        text=(str, text),
        k=(int, k),
        mode=(Mode, mode),
    )
    model.limits = limits
    return model


def validate_query(params: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> Query:
    """Check a search's raw parameters (q, k, mode, group and the filters, as a query string
    or a JSON body gives them) against the settings' limits; raise BadQueryError saying
    exactly what is wrong."""
    model = query_model(Limits.from_settings(settings))
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        # The first problem, in the order the parameters are listed: as precise as one
        # message can be, and the same one each time.
        error = exc.errors(include_url=False)[0]
        if error["type"] == _ERROR_TYPE:
            raise BadQueryError(error["msg"]) from None
        where = ".".join(str(part) for part in error["loc"])
        raise BadQueryError(f"{where}: {error['msg']}") from None
