"""Turn search dataclasses into JSON-ready dicts and escaped, highlighted HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields as dataclass_fields
from typing import Any

from markupsafe import Markup, escape

from semsearch.index.ingest.readers import is_web_url
from semsearch.search.service import ArticleRef, Hit, Passage, SearchResult


def _marked(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """text[start:end] escaped, with the spans inside it wrapped in <mark>."""
    parts: list[str] = []
    position = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start < position or span_start >= span_end:
            continue
        parts.append(str(escape(text[position:span_start])))
        parts.append(f"<mark>{escape(text[span_start:span_end])}</mark>")
        position = span_end
    parts.append(str(escape(text[position:end])))
    return "".join(parts)


def highlight_html(
    text: str, spans: Sequence[tuple[int, int]], best: tuple[int, int] | None = None
) -> Markup:
    """The passage escaped first, then the query's words in <mark> and the best-matching
    sentence in <span class="best">."""
    if best is None:
        return Markup(_marked(text, spans, 0, len(text)))
    start, end = best
    return Markup(
        _marked(text, spans, 0, start)
        + '<span class="best">'
        + _marked(text, spans, start, end)
        + "</span>"
        + _marked(text, spans, end, len(text))
    )


def source_link(article: ArticleRef) -> str | None:
    """Where a result's title links: the article's URL, else its site; http(s) only."""
    for url in (article.url, article.site_url):
        if url and is_web_url(url):
            return url
    return None


def passage_to_dict(passage: Passage) -> dict[str, Any]:
    """A passage; best_sentence offsets are in the article's clean text, like start/end."""
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


def article_to_dict(article: ArticleRef) -> dict[str, Any]:
    """An article's credits as JSON (a shallow copy: `dataclasses.asdict` deep-copies
    every field, measured at ~1 ms of a 15 ms request)."""
    fields = {name: getattr(article, name) for name in _ARTICLE_FIELDS}
    fields["tags"] = {name: list(values) for name, values in article.tags.items()}
    return fields


_ARTICLE_FIELDS = tuple(f.name for f in dataclass_fields(ArticleRef))


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """One result in the documented JSON shape."""
    result: dict[str, Any] = {
        "score": hit.score,
        "scores": {"dense": hit.dense_score, "keyword": hit.keyword_score},
        "passage": passage_to_dict(hit.passage),
        "article": article_to_dict(hit.article),
    }
    if hit.also:
        result["also"] = [passage_to_dict(p) for p in hit.also]
    return result


def result_to_dict(result: SearchResult) -> dict[str, Any]:
    """A whole answer in the documented JSON shape."""
    return {
        "ok": True,
        "query": result.query,
        "k": result.k,
        "mode": result.mode,
        "group": result.group,
        "filters": result.filters,
        "took_ms": result.took_ms,
        "index": {"version": result.index_version, "chunks": result.chunks},
        "results": [hit_to_dict(hit) for hit in result.hits],
        "no_match_reason": result.reason,
    }
