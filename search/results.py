"""What a search answers: hits, passages, the articles they credit, whole articles, similar
articles. Frozen dataclasses; the web layer turns them into JSON (`semsearch.web.models`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Passage:
    """The matching passage: its text, where it sits in the article (character offsets in
    the article's clean text), the words to mark and its best-matching sentence (offsets in
    the passage)."""

    text: str
    chunk_id: int
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()
    best_sentence: tuple[int, int] | None = None


@dataclass(frozen=True)
class ArticleRef:
    """The article a passage comes from, with everything needed to credit it."""

    id: str
    title: str
    author: str | None
    publication: str | None
    published: str | None
    url: str | None
    site_url: str | None
    copyright: str | None
    license: str | None
    source_note: str | None
    tags: dict[str, list[str]] = field(default_factory=dict)
    copies: tuple[CopyRef, ...] = ()  # the same story under other publications
    language: str | None = None  # ISO 639-1 code; "" unknown, None: an index before format 6


@dataclass(frozen=True)
class CopyRef:
    """Another publication of an article (a syndicated copy found at ingest): a hit lists
    publication, URL and date; the article read back also its id, origin and similarity."""

    publication: str | None
    url: str | None
    published: str | None
    id: str = ""
    origin: str = ""
    similarity: float | None = None


def article_ref(fields: Mapping[str, Any]) -> ArticleRef:
    """An ArticleRef from the store's article fields, its copies (dicts there) made CopyRefs."""
    copies = tuple(CopyRef(**copy) for copy in fields.get("copies", ()))
    return ArticleRef(**{**fields, "copies": copies})


@dataclass(frozen=True)
class Hit:
    """One result: fused score, the retrievers' own scores, passage, article; with
    group=article, the article's other matching passages under it."""

    score: float
    passage: Passage
    article: ArticleRef
    dense_score: float | None = None
    keyword_score: float | None = None
    also: tuple[Passage, ...] = ()
    strength: str | None = None  # strong or weak (semsearch.search.strength)


@dataclass(frozen=True)
class FullArticle:
    """An article read back whole: its credits, where it was read from, its other stored
    fields (`extra`: site URL, bio, links, ...), the clean text exactly as indexed, and its
    passages as (chunk id, start, end) offsets into that text, in reading order."""

    article: ArticleRef
    origin: str
    extra: dict[str, Any]
    text: str
    passages: tuple[tuple[int, int, int], ...]
    #: The input file, and the line (JSONL, CSV) or WARC record id and fetch date in it.
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query."""

    query: str
    k: int
    took_ms: float
    hits: list[Hit]
    index_version: str
    chunks: int
    mode: str = "hybrid"
    group: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why the list is empty, when it is
    page: int = 1
    has_next: bool = False
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Date filters read from the query's words (also in `filters`), with the phrase.
    inferred: dict[str, str] | None = None
    sort: str = "relevance"
    past_end: bool = False  # the page is past the last result (`reason` says so)
    #: The language the query's words were analysed in (ISO 639-1; "" unknown).
    language: str | None = None
    #: Did you mean: the correction offered, and whether these hits are for it
    #: (`semsearch.search.spelling.Spelling`).
    spelling: Spelling | None = None
    #: The query as the search box read it (`semsearch.search.syntax`), in canonical form.
    understood_as: str | None = None
    #: The recency half-life blended in (`semsearch.search.recency`), from the request or
    #: the index-wide default; None when no blend applied.
    recency: str | None = None
    #: The best passage's cosine with the query in dense and hybrid mode (not in the JSON:
    #: "did you mean" compares a correction's with the query's, `search.spelling`).
    closest: float | None = None


@dataclass(frozen=True)
class Spelling:
    """What "did you mean" said about a query (`semsearch.search.spelling`): the query as
    typed, the corrected query, and whether the hits are for the correction (`applied`:
    the query as typed found nothing)."""

    original: str
    suggestion: str
    applied: bool = False


@dataclass(frozen=True)
class SimilarResult:
    """The articles most like one article: each once, with its closest passage."""

    article: ArticleRef
    k: int
    took_ms: float
    hits: list[Hit]
