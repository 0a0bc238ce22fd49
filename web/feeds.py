"""Any search as a feed: `/api/search?q=...&format=atom` (or `rss`) answers the newest strong
matches of the query as an Atom 1.0 or RSS 2.0 document, a saved search and an alert in one.

The search runs as asked (mode, filters, k), ordered newest first, one entry per article;
only the strong matches are kept (`semsearch.search.strength`: the weak tail shares a word
with the query and little else, and would alert on noise). Every entry credits its article
as a result does: title, author, publication, date, copyright line, the original's address,
and links to the article's page on this server, which a reader polls again and again.

Article text is hostile input: the documents are written with ElementTree (which escapes
`<`, `&` and quotes), and characters XML cannot carry at all (control characters) are
taken out first, so no article can break the document or inject markup into a reader.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from flask import Response, url_for

from semsearch.search.query import SEARCH_PARAMS, Query
from semsearch.search.results import Hit, SearchResult

#: The formats `format=` answers as a feed, and their media types.
FEED_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}
ATOM = "http://www.w3.org/2005/Atom"
#: Dublin Core: RSS 2.0 has no element for a byline without an e-mail, a publisher or rights.
DC = "http://purl.org/dc/elements/1.1/"
#: What XML 1.0 cannot carry (its `Char` production), taken out of every text.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: A publication date as the index keeps it: YYYY, YYYY-MM or YYYY-MM-DD.
_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2}))?(?:-([0-9]{2}))?$")
#: An index version's name starts with the time it was built (20261124T221400Z-...).
_VERSION_TIME = re.compile(r"^([0-9]{8}T[0-9]{6}Z)")

ET.register_namespace("", ATOM)
ET.register_namespace("dc", DC)


def feed_query(valid: Query) -> Query:
    """The search a feed runs: the request's, newest first, one entry per article, from the
    first page."""
    return valid.model_copy(update={"sort": "newest", "group": "article", "page": 1})


def feed_link(args: Mapping[str, str], kind: str) -> str:
    """The feed of the search the page shows (`kind`: atom or rss): its query and filters,
    without what a feed sets itself (order, grouping, page) or counts (facets)."""
    params: dict[str, Any] = {
        name: args[name]
        for name in SEARCH_PARAMS
        if args.get(name) and name not in ("format", "page", "sort", "group", "facets")
    }
    return url_for("search.api_search", **params, format=kind)


def feed_response(result: SearchResult, kind: str, self_url: str) -> Response:
    """The strong hits of `result` as an Atom or RSS document (`kind`)."""
    hits = [hit for hit in result.hits if hit.strength != "weak"]
    document = atom_feed(result, hits, self_url) if kind == "atom" else rss_feed(result, hits)
    body = ET.tostring(document, encoding="unicode", xml_declaration=False)
    return Response('<?xml version="1.0" encoding="utf-8"?>\n' + body, mimetype=FEED_TYPES[kind])


def atom_feed(result: SearchResult, hits: list[Hit], self_url: str) -> ET.Element:
    """An Atom 1.0 feed (RFC 4287) of the hits."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, f"{{{ATOM}}}title", _feed_title(result))
    _text(feed, f"{{{ATOM}}}id", self_url)
    _text(feed, f"{{{ATOM}}}updated", _newest(result, hits).isoformat().replace("+00:00", "Z"))
    _link(feed, f"{{{ATOM}}}link", self_url, rel="self")
    _link(feed, f"{{{ATOM}}}link", _page_url(result), rel="alternate", type="text/html")
    _text(feed, f"{{{ATOM}}}generator", "semsearch")
    for hit in hits:
        article = hit.article
        page = _article_url(hit, result.query)
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, f"{{{ATOM}}}title", article.title or article.id)
        _text(entry, f"{{{ATOM}}}id", page)
        when = _published(article.published) or _newest(result, [])
        _text(entry, f"{{{ATOM}}}updated", when.isoformat().replace("+00:00", "Z"))
        if article.published:
            _text(entry, f"{{{ATOM}}}published", when.isoformat().replace("+00:00", "Z"))
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        _text(author, f"{{{ATOM}}}name", article.author or article.publication or "unknown")
        _link(entry, f"{{{ATOM}}}link", page, rel="alternate", type="text/html")
        if article.url and article.url.startswith(("http://", "https://")):
            _link(entry, f"{{{ATOM}}}link", article.url, rel="via")
        _text(entry, f"{{{ATOM}}}summary", hit.passage.text)
        if article.copyright:
            _text(entry, f"{{{ATOM}}}rights", article.copyright)
        if article.publication:
            source = ET.SubElement(entry, f"{{{ATOM}}}source")
            _text(source, f"{{{ATOM}}}title", article.publication)
            _text(entry, f"{{{DC}}}publisher", article.publication)
    return feed


def rss_feed(result: SearchResult, hits: list[Hit]) -> ET.Element:
    """An RSS 2.0 feed of the hits (bylines, publications and rights in Dublin Core)."""
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", _feed_title(result))
    _text(channel, "link", _page_url(result))
    _text(channel, "description", f"The newest strong matches of “{result.query}”.")
    _text(channel, "lastBuildDate", format_datetime(_newest(result, hits)))
    _text(channel, "generator", "semsearch")
    for hit in hits:
        article = hit.article
        page = _article_url(hit, result.query)
        item = ET.SubElement(channel, "item")
        _text(item, "title", article.title or article.id)
        _text(item, "link", page)
        _text(item, "guid", page).set("isPermaLink", "true")
        when = _published(article.published)
        if when is not None:
            _text(item, "pubDate", format_datetime(when))
        _text(item, "description", hit.passage.text)
        if article.author:
            _text(item, f"{{{DC}}}creator", article.author)
        if article.publication:
            _text(item, f"{{{DC}}}publisher", article.publication)
        if article.copyright:
            _text(item, f"{{{DC}}}rights", article.copyright)
        if article.url and article.url.startswith(("http://", "https://")):
            source = _text(item, "source", article.publication or article.url)
            source.set("url", _clean(article.url))
    return rss


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _clean(text)
    return element


def _link(parent: ET.Element, tag: str, href: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, tag, {"href": _clean(href), **attributes})


def _clean(text: str) -> str:
    """`text` without the characters XML cannot carry (escaping is ElementTree's)."""
    return _NOT_XML.sub("", text)


def _feed_title(result: SearchResult) -> str:
    return f"Search: {result.query}"


def _page_url(result: SearchResult) -> str:
    """The results page of the same search."""
    args: dict[str, Any] = {"q": result.query, **result.filters, "sort": "newest"}
    if result.mode != "hybrid":
        args["mode"] = result.mode
    return url_for("search.index_page", _external=True, **args)


def _article_url(hit: Hit, query: str) -> str:
    """The article's page on this server, its matching passage marked."""
    return url_for(
        "search.article_page",
        article_id=hit.article.id,
        q=query,
        chunk=hit.passage.chunk_id,
        _external=True,
        _anchor=f"c{hit.passage.chunk_id}",
    )


def _published(published: str | None) -> datetime | None:
    """The article's date as a time (its first day where only a year or month is known)."""
    found = _DATE.match(published or "")
    if found is None:
        return None
    year, month, day = (int(part) if part else 1 for part in found.groups())
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _newest(result: SearchResult, hits: list[Hit]) -> datetime:
    """When the feed last changed: its newest entry's date, else when the index version
    was built (a feed reader compares it between polls; the time of the request would say
    the feed changes on every poll)."""
    dates = [d for d in (_published(h.article.published) for h in hits) if d is not None]
    if dates:
        return max(dates)
    built = _VERSION_TIME.match(result.index_version)
    if built:
        return datetime.strptime(built.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC)
