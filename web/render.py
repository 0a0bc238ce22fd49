"""Escaped, highlighted HTML for the page: passages with their query words marked, and
links to an article's source. (The JSON shapes are in `semsearch.web.models`.)"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from semsearch.index.ingest.readers import is_web_url
from semsearch.search.results import ArticleRef


def _escaped(text: str) -> str:
    """`markupsafe.escape(text)` as a plain str, character for character the same: the
    Markup object it makes, one a piece of every passage, cost more than the escaping."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _marked(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """text[start:end] escaped, with the spans inside it wrapped in <mark>."""
    parts: list[str] = []
    position = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start < position or span_start >= span_end:
            continue
        parts.append(_escaped(text[position:span_start]))
        parts.append(f"<mark>{_escaped(text[span_start:span_end])}</mark>")
        position = span_end
    parts.append(_escaped(text[position:end]))
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
