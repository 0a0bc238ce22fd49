"""The requests of the article endpoints, described as pydantic models beside the search's
`Query` (`semsearch.search.query`): more like this (`k`), a citation (`format`) and the
article page (`q`, `chunk`). Views validate every parameter through one of these, and the
OpenAPI description (`semsearch.web.openapi`) takes the parameters' schemas from them.

Like `Query`, a model refuses unknown parameters, and `validate_request` turns the first
problem into a BadQueryError (400) saying what was wrong. The article page is the lenient
one: it is reached from a hit's link, so a `chunk` that is not one of its passages' ids
marks nothing rather than failing the page, and a long `q` is cut to the query limit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar, get_args

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
from semsearch.search.query import Limits
from semsearch.search.suggest import MAX_SUGGESTIONS

#: Longest suggestion prefix accepted (a search box's text, not a pasted paragraph).
MAX_SUGGEST_CHARS = 200

#: Every citation format, in the order the API documents them (`citation.format_citation`).
CitationFormat = Literal["text", "apa", "chicago", "bibtex", "csl-json"]
CITATION_FORMATS: tuple[str, ...] = get_args(CitationFormat)
#: A chunk id on the article page: ASCII digits, short enough for a 64-bit integer.
_CHUNK_ID = re.compile(r"[0-9]{1,18}")
#: A count in a query string: a sign and at most 9 digits (int() of 4,301 digits raises).
_COUNT = re.compile(r"\+?([0-9]{1,9})")
_ERROR_TYPE = "bad_request"

Model = TypeVar("Model", bound=BaseModel)


def _bad(message: str) -> PydanticCustomError:
    # The message goes in through the context: braces in a quoted value are not a template.
    return PydanticCustomError(_ERROR_TYPE, "{message}", {"message": message})


def _known_only(data: Any, known: tuple[str, ...]) -> dict[str, Any]:
    """The parameters as a dict, unknown ones refused, empty values left out."""
    if not isinstance(data, Mapping):
        raise _bad(f"a request is a mapping of parameters, got {type(data).__name__}")
    unknown = sorted(str(name) for name in set(data) - set(known))
    if unknown:
        raise _bad(f"unknown parameter {unknown[0][:40]!r}; known: {', '.join(known)}")
    return {name: value for name, value in data.items() if value not in (None, "")}


def _k_from(value: Any, high: int) -> int:
    """`k` as an integer from 1 to `high` (an int, or digits in a string); else a 400."""
    message = f"k must be an integer from 1 to {high}, got {str(value)[:40]!r}"
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (digits := _COUNT.fullmatch(value.strip())):
        number = int(digits.group(1))
    else:
        raise _bad(message)
    if not 1 <= number <= high:
        raise _bad(message)
    return number


class SimilarRequest(BaseModel):
    """The parameters of more like this: how many articles. Any other parameter is refused
    with 400; `similar_model` gives the class for a server's limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: ClassVar[Limits] = Limits.from_settings({})

    k: int = 10

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        return _known_only(data, ("k",))

    @field_validator("k", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int:
        return _k_from(value, cls.limits.max_k)


@functools.cache
def similar_request_model(limits: Limits) -> type[SimilarRequest]:
    """The more-like-this request model for a server with these limits."""
    k = Field(
        limits.default_k,
        ge=1,
        le=limits.max_k,
        description=f"How many articles, 1 to {limits.max_k} (default: the server's "
        f"default_k, {limits.default_k}).",
    )
    model = create_model(
        "SimilarRequest",
        __base__=SimilarRequest,
        __doc__="The parameters of more like this; any other parameter is refused with 400.",
        k=(int, k),
    )
    model.limits = limits
    return model


class CiteRequest(BaseModel):
    """The parameters of a citation: its format. Any other parameter is refused with 400."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: CitationFormat = Field(
        "text",
        description="text (the plain credit line: author, title, publication, date, URL, "
        "copyright), apa (7th edition), chicago (notes and bibliography), bibtex or "
        "csl-json. Case and surrounding spaces are ignored.",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        return _known_only(data, ("format",))

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in CITATION_FORMATS:
            raise _bad(
                f"format must be one of {', '.join(CITATION_FORMATS)}; got {str(value)[:40]!r}"
            )
        return value.strip().lower()


class ArticlePageRequest(BaseModel):
    """The article page's parameters, from a hit's link: the query (`q`, its words marked;
    whitespace collapsed, cut to the server's query limit) and the passage reached
    (`chunk`: a chunk id; anything else, or another article's chunk, marks nothing).
    Other parameters (tracking ones on shared links) are ignored, as on the search page."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limits: ClassVar[Limits] = Limits.from_settings({})

    q: str = ""
    chunk: int | None = None

    @field_validator("q", mode="before")
    @classmethod
    def _query(cls, value: Any) -> str:
        if not isinstance(value, str):
            return ""
        return " ".join(value[: cls.limits.max_chars].split())

    @field_validator("chunk", mode="before")
    @classmethod
    def _chunk(cls, value: Any) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value if value >= 0 else None
        if isinstance(value, str) and _CHUNK_ID.fullmatch(value.strip()):
            return int(value.strip())
        return None


@functools.cache
def article_page_model(limits: Limits) -> type[ArticlePageRequest]:
    """The article page's request model for a server with these limits."""
    model = create_model("ArticlePageRequest", __base__=ArticlePageRequest)
    model.limits = limits
    return model


def validate_request(model: type[Model], params: Mapping[str, Any]) -> Model:
    """`params` (a query string as a dict) checked by `model`; BadQueryError saying what is
    wrong with the first bad parameter."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == _ERROR_TYPE:
            raise BadQueryError(error["msg"]) from None
        where = ".".join(str(part) for part in error["loc"])
        raise BadQueryError(f"{where}: {error['msg']}") from None


class SuggestRequest(BaseModel):
    """The parameters of search suggestions (`semsearch.search.suggest`): what has been
    typed so far and how many suggestions. Any other parameter is refused with 400."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(
        description=f"What has been typed so far: 1 to {MAX_SUGGEST_CHARS} characters "
        "(spaces at either end ignored; case and accents too).",
        examples=["harbour dr"],
    )
    k: int = Field(
        8, ge=1, le=MAX_SUGGESTIONS, description=f"How many suggestions, 1 to {MAX_SUGGESTIONS}."
    )

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        known = _known_only(data, ("q", "k"))
        if "q" not in known:
            raise _bad("missing prefix: pass what has been typed as q, e.g. /api/suggest?q=harb")
        return known

    @field_validator("q", mode="before")
    @classmethod
    def _prefix(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _bad(f"q must be a string, got {type(value).__name__}")
        text = " ".join(value.split())
        if not text:
            raise _bad("empty prefix: q must contain some characters")
        if len(text) > MAX_SUGGEST_CHARS:
            raise _bad(
                f"q is {len(text)} characters long; a suggestion prefix is at most "
                f"{MAX_SUGGEST_CHARS}"
            )
        return text

    @field_validator("k", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int:
        return _k_from(value, MAX_SUGGESTIONS)
