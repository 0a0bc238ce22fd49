"""The reader's side of the web layer: the article page's addressable passages, citation
downloads, and the search results as CSV.

Article text is escaped here before any markup is added (`highlight_html` escapes first,
marks second); templates receive `Markup` only from these functions.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from flask import Response
from markupsafe import Markup, escape

from semsearch.search.citation import Citations, bibtex_key, cite, quotation, web_url
from semsearch.search.results import ArticleRef, FullArticle, Passage, SearchResult
from semsearch.web.render import highlight_html

#: Media type, file extension and whether it is a download, for each citation format.
CITATION_MEDIA = {
    "text": ("text/plain; charset=utf-8", "txt", False),
    "apa": ("text/plain; charset=utf-8", "txt", False),
    "chicago": ("text/plain; charset=utf-8", "txt", False),
    "bibtex": ("application/x-bibtex; charset=utf-8", "bib", True),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json", True),
}

#: The CSV export's columns, in order.
CSV_COLUMNS = (
    "rank",
    "score",
    "title",
    "author",
    "publication",
    "published",
    "url",
    "copyright",
    "license",
    "passage",
    "article_id",
    "chunk_id",
)
#: A cell starting with one of these is a formula to a spreadsheet ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Segment:
    """A stretch of the article's text on the page: a passage (`chunk_id`, the element's id
    is c{chunk_id}) or text between passages (None); the passage reached from a hit is
    `marked` and carries the ids of the passages it overlaps (`anchors`, empty elements
    after it, so their #c links still land nearby)."""

    chunk_id: int | None
    html: Markup
    marked: bool = False
    anchors: tuple[int, ...] = ()


def article_segments(found: FullArticle, marked: Passage | None = None) -> list[Segment]:
    """The article's clean text cut where each passage starts. Passages overlap (the
    chunker's overlap): each element runs from its passage's start to the next one's, except
    the marked passage, which is whole."""
    text = found.text
    passages = sorted(found.passages, key=lambda p: (p[1], p[0]))
    segments: list[Segment] = []
    position = 0
    index = 0
    while index < len(passages):
        chunk_id, start, end = passages[index]
        start = max(start, position)
        if start > position:
            segments.append(Segment(None, escape(text[position:start])))
        if marked is not None and chunk_id == marked.chunk_id:
            end = max(end, start)
            inside = []
            while index + 1 < len(passages) and passages[index + 1][1] < end:
                index += 1
                inside.append(passages[index][0])
            segments.append(Segment(chunk_id, _marked_html(text, marked), True, tuple(inside)))
            position = end
        else:
            following = passages[index + 1][1] if index + 1 < len(passages) else len(text)
            stop = max(following, start)
            segments.append(Segment(chunk_id, escape(text[start:stop])))
            position = stop
        index += 1
    if position < len(text):
        segments.append(Segment(None, escape(text[position:])))
    return segments


def _marked_html(text: str, marked: Passage) -> Markup:
    """The marked passage with the query's words and its best sentence, as on a hit."""
    if text[marked.start : marked.end] != marked.text:  # never expected; never mark wrongly
        return escape(text[marked.start : marked.end])
    return highlight_html(marked.text, marked.highlights, marked.best_sentence)


def best_quotation(marked: Passage | None, article: ArticleRef) -> str | None:
    """The marked passage's best sentence quoted with its attribution, when it has one."""
    if marked is None or marked.best_sentence is None:
        return None
    start, end = marked.best_sentence
    return quotation(marked.text[start:end], article)


def citations(article: ArticleRef) -> Citations:
    """Every citation format of an article (for the page)."""
    return cite(article)


def citation_response(article: ArticleRef, fmt: str, text: str) -> Response:
    """A citation as its own media type; BibTeX and CSL-JSON as downloads."""
    media_type, extension, download = CITATION_MEDIA[fmt]
    response = Response(text, mimetype=None, content_type=media_type)
    if download:
        filename = f"{bibtex_key(article)}.{extension}"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def results_csv(result: SearchResult) -> Response:
    """The result list as CSV (RFC 4180, UTF-8), one row per hit, as a download."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for rank, hit in enumerate(result.hits, start=1):
        a = hit.article
        writer.writerow(
            [
                rank,
                hit.score,
                *(
                    _cell(value)
                    for value in (
                        a.title,
                        a.author,
                        a.publication,
                        a.published,
                        web_url(a),
                        a.copyright,
                        a.license,
                        " ".join(hit.passage.text.split()),
                        a.id,
                    )
                ),
                hit.passage.chunk_id,
            ]
        )
    slug = re.sub(r"[^a-z0-9]+", "-", result.query.lower()).strip("-")[:60] or "results"
    response = Response(out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="search-{slug}.csv"'
    return response
