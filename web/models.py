"""The JSON shapes of the API, described once as pydantic models, and the conversions from
the search dataclasses into them.

The models are the response part of the OpenAPI description (`semsearch.web.openapi`);
their field order is the order of the keys in every answer (the app does not sort keys).
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from semsearch.search import results
from semsearch.search.query import DATE_PATTERN, MAX_FILTER_CHARS, Group, Mode, Sort
from semsearch.search.ranking import MAX_ALSO
from semsearch.search.results import ArticleRef, FullArticle, Hit, SearchResult, SimilarResult
from semsearch.web.render import highlight_html


class _Shape(BaseModel):
    """A response object: exactly these members (the schema says `additionalProperties:
    false`); every member without a default is always present."""

    model_config = ConfigDict(extra="forbid")


class BestSentence(_Shape):
    """The passage's sentence that best matches the query; offsets in the clean text."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Passage(_Shape):
    """A passage; offsets are characters in the article's clean text."""

    text: str
    highlight: str = Field(
        description="The passage HTML-escaped, query words in <mark>, the best sentence in "
        '<span class="best">.'
    )
    chunk_id: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    best_sentence: BestSentence | None


class ArticleCredits(_Shape):
    """The article a passage comes from, with everything needed to credit it."""

    id: str
    title: str
    author: str | None
    publication: str | None
    published: str | None = Field(description="ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD.")
    url: str | None
    site_url: str | None
    copyright: str | None
    license: str | None
    source_note: str | None
    tags: dict[str, list[str]]
    language: str | None = Field(
        default=None,
        description="The language the article is written in (ISO 639-1: de, zh), as the page "
        "declared it or as detected; empty when unknown, null in an index built before "
        "languages were recorded.",
    )


class HitCopy(_Shape):
    """Another publication of the story (a syndicated copy found when the index was built)."""

    publication: str | None
    url: str | None
    published: str | None = Field(description="ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD.")


class Article(ArticleCredits):
    """The article a passage comes from, with everything needed to credit it, and the other
    publications of the same story."""

    copies: list[HitCopy] = Field(
        description="The same story under other publications (found at ingest); filtering "
        "by one of their publications finds this article."
    )


class ArticleCopy(HitCopy):
    """Another publication of the article, as recorded at ingest."""

    id: str = Field(description="The copy's own id (not indexed: the article stands for it).")
    origin: str = Field(description="The input the copy was read from.")
    similarity: float = Field(
        ge=0, le=1, description="Jaccard similarity of the two texts' word 5-shingles."
    )


class Provenance(_Shape):
    """Where the article was read from."""

    file: str | None = Field(default=None, description="The input file.")
    line: int | None = Field(
        default=None, description="The line of a JSONL record, or the line a CSV row starts on."
    )
    record_id: str | None = Field(default=None, description="The WARC record's WARC-Record-ID.")
    fetched: str | None = Field(default=None, description="The WARC record's fetch date.")


class Scores(_Shape):
    """The retrievers' own scores; null where a retriever did not find the passage."""

    dense: float | None
    keyword: float | None


class Result(_Shape):
    """One result: fused score, the retrievers' scores, the passage and its article."""

    score: float = Field(
        description="Fused score (hybrid), cosine similarity (dense) or BM25 (keyword)."
    )
    scores: Scores
    passage: Passage
    article: Article
    # Left out of the answer when there is nothing under it.
    also: list[Passage] = Field(
        default_factory=list,
        max_length=MAX_ALSO,
        exclude_if=lambda also: not also,
        description="Other matching passages of the same article (only with group=article, "
        "only when there are some).",
    )
    strength: Literal["strong", "weak"] = Field(
        description="strong while the score stays close to the best result's; weak after: "
        "passages that share a word with the query and little else (docs/relevance.md)."
    )


_Date = Annotated[str, Field(pattern=DATE_PATTERN)]
_Name = Annotated[str, Field(min_length=1, max_length=MAX_FILTER_CHARS)]


class InferredFilters(TypedDict, total=False):
    """Date filters read from the query's words (infer_dates), and those words (`phrase`),
    which were left out of the searched text; the dates are in `filters` too."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    published_from: _Date
    published_to: _Date
    phrase: Annotated[str, Field(min_length=1)]


class AppliedFilters(TypedDict, total=False):
    """The filters in force, normalised; those not given are left out."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    published_from: _Date
    published_to: _Date
    publication: _Name
    author: _Name
    language: Annotated[str, Field(min_length=2, max_length=3)]
    inferred: InferredFilters


class IndexInfo(_Shape):
    """The index version that answered."""

    version: str
    chunks: int = Field(ge=0)


class Facets(_Shape):
    """Counts of matching articles by value; empty when nothing matches."""

    publication: dict[str, int]
    author: dict[str, int]
    year: dict[str, int]
    language: dict[str, int]


class SpellingInfo(_Shape):
    """Did you mean: a correction of the query's unknown or rare words towards frequent
    words of the index (docs/api.md, "Did you mean")."""

    original: str = Field(description="The query as typed.")
    suggestion: str = Field(description="The query with its words corrected.")
    applied: bool = Field(
        description="true: the query as typed found nothing, and `results` are for the "
        "suggestion (`query` is the suggestion); false: the suggestion is only offered."
    )


class SearchResponse(_Shape):
    """The answer to a search: the query as understood, the results best first (possibly
    none: see no_match_reason)."""

    # Passages are grouped under `also` only when the search groups by article.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"group": {"const": None}}},
            "then": {"properties": {"results": {"items": {"properties": {"also": False}}}}},
        }
    )

    ok: Literal[True]
    query: str = Field(min_length=1, description="The query, whitespace collapsed.")
    k: int = Field(ge=1)
    mode: Mode
    group: Group | None
    filters: AppliedFilters
    took_ms: float = Field(ge=0)
    index: IndexInfo
    results: list[Result]
    no_match_reason: str | None = Field(
        description="Why `results` is empty, when the server refuses to answer with weak passages."
    )
    sort: Sort = Field(description="The order of the results: relevance, newest or oldest.")
    page: int = Field(ge=1, description="The page of k results this answer is, from 1.")
    has_next: bool = Field(description="Whether the next page has results.")
    facets: Facets = Field(
        description="Matching articles per publication, author, year and language (most first, at "
        "most 20 each); each facet is counted without its own filter (docs/api.md)."
    )
    query_language: str | None = Field(
        default=None,
        description="The language the query's words were analysed in (ISO 639-1; empty: "
        "unknown): `lang` when given, else detected, else the collection's main language.",
    )
    spelling: SpellingInfo | None = Field(
        default=None,
        description="Did you mean: the correction offered for the query, and whether the "
        "results are for it; null when no word needed one.",
    )
    understood_as: str | None = Field(
        default=None,
        description='How the query was read, in canonical form: "exact phrases" quoted, '
        '-word and -"phrase" exclusions, (a OR b) groups, title:/author:/publication: '
        "scopes; malformed syntax (an unbalanced quote, a lone -, an unknown field) "
        "appears as the words it was read as (docs/api.md, Query syntax).",
    )
    recency: str | None = Field(
        default=None,
        description="The recency half-life blended into the scores (30d, 2y), from the "
        "request's `recency` or the index-wide `recency` setting; null when none applied.",
    )


class SimilarResponse(_Shape):
    """The articles most like one article (by its stored passage vectors), each once with
    its closest passage; the article itself and its copies are left out."""

    ok: Literal[True]
    article: Article
    k: int = Field(ge=1)
    took_ms: float = Field(ge=0)
    results: list[Result]


class IndexSummary(_Shape):
    """The served index version."""

    version: str
    chunks: int = Field(ge=0)
    articles: int = Field(ge=0)
    model: str


class Healthy(_Shape):
    """The process answers."""

    ok: Literal[True]


class Ready(_Shape):
    """Ready to search."""

    ok: Literal[True]
    index: IndexSummary
    reload_error: str | None = Field(
        description="Why the last reload failed; the version named in `index` still answers."
    )


class Reloaded(_Shape):
    """The index version now served."""

    ok: Literal[True]
    reloaded: Literal[True]
    index: IndexSummary


class ArticlePassage(_Shape):
    """Where one of the article's passages sits in its text; `chunk_id` is the id search
    results give (`passage.chunk_id`)."""

    chunk_id: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class FullArticleBody(ArticleCredits):
    """The article read back whole: its credits, where it was read from, its clean text
    exactly as indexed (passage offsets point into it) and its passages in reading order."""

    origin: str = Field(description="The input the article was read from: file, and line or row.")
    extra: dict[str, Any] = Field(
        description="Other fields the reader kept: author bio, contacts, links, site URL, ..."
    )
    text: str
    passages: list[ArticlePassage]
    provenance: Provenance = Field(
        description="Where the article was read from; members the input has no place for "
        "are null (an index built before format 5 records none)."
    )
    copies: list[ArticleCopy] = Field(
        description="The same story under other publications, found at ingest."
    )


class ArticleResponse(_Shape):
    """One article."""

    ok: Literal[True]
    article: FullArticleBody


class Error(_Shape):
    """The one error shape; `status` repeats the HTTP status."""

    ok: Literal[False]
    error: str = Field(description="What was wrong and how to fix it.")
    status: int = Field(ge=400, le=599)


class WriteItem(_Shape):
    """What became of one item of a write request."""

    id: str | None = Field(description="The article's id; null when none could be read.")
    status: Literal["created", "updated", "unchanged", "deleted", "refused"]
    reason: str | None = Field(description="Why it was refused; null otherwise.")
    line: int | None = Field(
        ge=1,
        description="Where the item was in the request: its line in an NDJSON body, its "
        "place (from 1) in a JSON array or a list of ids; null for a single article.",
    )


class WriteCounts(_Shape):
    """How many items ended each way."""

    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    deleted: int = Field(ge=0)
    refused: int = Field(ge=0)


class WriteResponse(_Shape):
    """Every item of a write, in the order sent; one refused item never refuses the others."""

    ok: Literal[True]
    generation: int = Field(
        ge=0, description="The index generation at which these writes are visible."
    )
    counts: WriteCounts
    items: list[WriteItem]


class SuggestionItem(_Shape):
    """One suggestion: a title of the index, or a phrase that recurs across its titles."""

    text: str = Field(min_length=1)
    kind: Literal["title", "phrase"]
    weight: int = Field(ge=1, description="How many titles it is (a title) or is in (a phrase).")


class SuggestResponse(_Shape):
    """What a reader may be typing: titles and recurring phrases that start with `q`, the
    most frequent first (docs/api.md, "Suggestions")."""

    ok: Literal[True]
    q: str = Field(description="The prefix, whitespace collapsed.")
    suggestions: list[SuggestionItem]


#: Every response model, for the OpenAPI description.
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    SearchResponse,
    IndexSummary,
    Healthy,
    Ready,
    Reloaded,
    ArticleResponse,
    SimilarResponse,
    Error,
    WriteResponse,
    SuggestResponse,
)


def passage_model(passage: results.Passage) -> Passage:
    """A passage; best_sentence offsets are in the article's clean text, like start/end."""
    best = None
    if passage.best_sentence is not None:
        start, end = passage.best_sentence
        best = BestSentence(
            text=passage.text[start:end], start=passage.start + start, end=passage.start + end
        )
    return Passage(
        text=passage.text,
        highlight=str(highlight_html(passage.text, passage.highlights, passage.best_sentence)),
        chunk_id=passage.chunk_id,
        start=passage.start,
        end=passage.end,
        best_sentence=best,
    )


def article_model(article: ArticleRef) -> Article:
    """An article's credits, read field by field: `dataclasses.asdict` deep-copies every
    field, a noticeable share of a request (docs/benchmarks.md)."""
    fields = {name: getattr(article, name) for name in _ARTICLE_FIELDS}
    fields["copies"] = [
        HitCopy(publication=c.publication, url=c.url, published=c.published) for c in article.copies
    ]
    return Article(**fields)


_ARTICLE_FIELDS = tuple(f.name for f in dataclass_fields(ArticleRef))


def full_article_model(found: FullArticle) -> ArticleResponse:
    """An article read back whole."""
    return ArticleResponse(
        ok=True,
        article=FullArticleBody(
            **article_model(found.article).model_dump(exclude={"copies"}),
            origin=found.origin,
            extra=found.extra,
            text=found.text,
            passages=[ArticlePassage(chunk_id=c, start=s, end=e) for c, s, e in found.passages],
            provenance=Provenance(**{k: found.provenance.get(k) for k in Provenance.model_fields}),
            copies=[
                ArticleCopy(
                    publication=c.publication,
                    url=c.url,
                    published=c.published,
                    id=c.id,
                    origin=c.origin,
                    similarity=c.similarity or 0.0,
                )
                for c in found.article.copies
            ],
        ),
    )


def hit_model(hit: Hit) -> Result:
    """One result."""
    return Result(
        score=hit.score,
        scores=Scores(dense=hit.dense_score, keyword=hit.keyword_score),
        passage=passage_model(hit.passage),
        article=article_model(hit.article),
        also=[passage_model(p) for p in hit.also],
        strength="weak" if hit.strength == "weak" else "strong",
    )


def result_model(result: SearchResult) -> SearchResponse:
    """A whole answer."""
    return SearchResponse(
        ok=True,
        query=result.query,
        k=result.k,
        mode=result.mode,  # type: ignore[arg-type]  # validated: one of MODES
        group=result.group,  # type: ignore[arg-type]
        filters=applied_filters(result),
        took_ms=result.took_ms,
        index=IndexInfo(version=result.index_version, chunks=result.chunks),
        results=[hit_model(hit) for hit in result.hits],
        no_match_reason=result.reason,
        sort=result.sort,  # type: ignore[arg-type]  # validated: one of SORTS
        page=result.page,
        has_next=result.has_next,
        query_language=result.language,
        spelling=spelling_model(result),
        understood_as=result.understood_as,
        recency=result.recency,
        facets=Facets(**{name: result.facets.get(name, {}) for name in Facets.model_fields}),
    )


def spelling_model(result: SearchResult) -> SpellingInfo | None:
    """What did you mean said about the query."""
    found = result.spelling
    if found is None:
        return None
    return SpellingInfo(original=found.original, suggestion=found.suggestion, applied=found.applied)


def applied_filters(result: SearchResult) -> AppliedFilters:
    """The filters in force, with those read from the query's words under `inferred`."""
    applied: dict[str, Any] = dict(result.filters)
    if result.inferred:
        applied["inferred"] = dict(result.inferred)
    return applied  # type: ignore[return-value]  # the names are FILTER_NAMES


def similar_model(result: SimilarResult) -> SimilarResponse:
    """The articles like one article."""
    return SimilarResponse(
        ok=True,
        article=article_model(result.article),
        k=result.k,
        took_ms=result.took_ms,
        results=[hit_model(hit) for hit in result.hits],
    )


def result_to_dict(result: SearchResult) -> dict[str, Any]:
    """A whole answer in the documented JSON shape: `result_model(result).model_dump(mode=
    "json")`, written out by hand. Validating and dumping the models took about 1 ms of a
    request's 20 (docs/benchmarks.md, "Where a query's CPU goes"); the search dataclasses are
    already valid, and a test compares the two, key order included, on answers of every
    kind."""
    facets = result.facets
    return {
        "ok": True,
        "query": result.query,
        "k": result.k,
        "mode": result.mode,
        "group": result.group,
        "filters": _filters_dict(result),
        "took_ms": result.took_ms,
        "index": {"version": result.index_version, "chunks": result.chunks},
        "results": [_hit_dict(hit) for hit in result.hits],
        "no_match_reason": result.reason,
        "sort": result.sort,
        "page": result.page,
        "has_next": result.has_next,
        "facets": {name: dict(facets.get(name, {})) for name in _FACET_NAMES},
        "query_language": result.language,
        "spelling": _spelling_dict(result),
        "understood_as": result.understood_as,
        "recency": result.recency,
    }


_FACET_NAMES = tuple(Facets.model_fields)
_CREDIT_NAMES = tuple(name for name in Article.model_fields if name != "copies")


def _filters_dict(result: SearchResult) -> dict[str, Any]:
    applied: dict[str, Any] = dict(result.filters)
    if result.inferred:
        applied["inferred"] = dict(result.inferred)
    return applied


def _spelling_dict(result: SearchResult) -> dict[str, Any] | None:
    found = result.spelling
    if found is None:
        return None
    return {"original": found.original, "suggestion": found.suggestion, "applied": found.applied}


def _hit_dict(hit: Hit) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "score": hit.score,
        "scores": {"dense": hit.dense_score, "keyword": hit.keyword_score},
        "passage": _passage_dict(hit.passage),
        "article": _article_dict(hit.article),
    }
    if hit.also:  # left out when empty, as the model's exclude_if does
        answer["also"] = [_passage_dict(p) for p in hit.also]
    answer["strength"] = "weak" if hit.strength == "weak" else "strong"
    return answer


def _passage_dict(passage: results.Passage) -> dict[str, Any]:
    best = None
    if passage.best_sentence is not None:
        start, end = passage.best_sentence
        best = {
            "text": passage.text[start:end],
            "start": passage.start + start,
            "end": passage.start + end,
        }
    return {
        "text": passage.text,
        "highlight": str(highlight_html(passage.text, passage.highlights, passage.best_sentence)),
        "chunk_id": passage.chunk_id,
        "start": passage.start,
        "end": passage.end,
        "best_sentence": best,
    }


def _article_dict(article: ArticleRef) -> dict[str, Any]:
    answer: dict[str, Any] = {name: getattr(article, name) for name in _CREDIT_NAMES}
    answer["tags"] = {name: list(values) for name, values in article.tags.items()}
    answer["copies"] = [
        {"publication": c.publication, "url": c.url, "published": c.published}
        for c in article.copies
    ]
    return answer
