"""Turn search dataclasses into JSON-ready dicts and escaped, highlighted HTML."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from index.readers import is_web_url
from search.service import ArticleRef, Hit, SearchResult


def highlight_html(text: str, spans: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> Markup:
    """The passage escaped first, then the matched words wrapped in <mark>."""
    parts: list[str] = []
    position = 0
    for start, end in spans:
        if start < position:
            continue
        parts.append(str(escape(text[position:start])))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        position = end
    parts.append(str(escape(text[position:])))
    return Markup("".join(parts))


def source_link(article: ArticleRef) -> str | None:
    """Where a result's title links: the article's URL, else its site; http(s) only."""
    for url in (article.url, article.site_url):
        if url and is_web_url(url):
            return url
    return None


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """One result in the documented JSON shape."""
    article = hit.article
    return {
        "score": hit.score,
        "passage": {
            "text": hit.passage.text,
            "highlight": str(highlight_html(hit.passage.text, hit.passage.highlights)),
            "chunk_id": hit.passage.chunk_id,
            "start": hit.passage.start,
            "end": hit.passage.end,
        },
        "article": {
            "id": article.id,
            "title": article.title,
            "author": article.author,
            "publication": article.publication,
            "published": article.published,
            "url": article.url,
            "site_url": article.site_url,
            "copyright": article.copyright,
            "license": article.license,
            "source_note": article.source_note,
            "tags": article.tags,
        },
    }


def result_to_dict(result: SearchResult) -> dict[str, Any]:
    """A whole answer in the documented JSON shape."""
    return {
        "ok": True,
        "query": result.query,
        "k": result.k,
        "took_ms": result.took_ms,
        "index": {"version": result.index_version, "chunks": result.chunks},
        "results": [hit_to_dict(hit) for hit in result.hits],
    }
