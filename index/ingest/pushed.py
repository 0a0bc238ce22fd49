"""Articles written over HTTP: request bodies read into articles, item by item, with limits.

A write request is an NDJSON body (one JSON object a line), a JSON array of objects, or one
page's raw HTML. An object takes the JSONL reader's fields (`readers.FIELD_ALIASES`: a
field means the same on both paths, through the same `record_to_article`), or is a page
pushed as `{"url": ..., "html": ...}` (optionally with an `id`), read by the HTML reader as
a saved page is. Every item comes back as an `Item` with its line (NDJSON) or its place in
the array (from 1): the article, or why it was refused. One bad item never costs the
others; only a body that cannot be read at all (an array that is not JSON) is refused whole.

The limits are the web's edge: the reader's own ones (text length, page bytes) apply too.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from semsearch.index.ingest import html, limits
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.readers import (
    is_web_url,
    json_type,
    parse_json_record,
    record_article,
)
from semsearch.index.ingest.warc import warc_article_id

#: Longest article id, in characters: ids travel in URLs (`/api/articles/{id}`) and logs.
MAX_ID_CHARS = limits.MAX_ID_CHARS
#: Longest URL of a pushed page, in characters (each field's limit: `limits.FIELD_LIMITS`).
MAX_META_CHARS = limits.FIELD_LIMITS["url"]
#: Where a pushed article says it came from (`origin`, with its line or place after a colon).
ORIGIN = "api"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_META_FIELDS = ("title", "author", "publication", "url", "copyright", "license", "source_note")


class BodyError(ValueError):
    """The body cannot be read as items at all (the message says why)."""


class TooManyItems(BodyError):
    """The body holds more items than allowed; counted before any item is read."""

    def __init__(self, count: int, most: int) -> None:
        super().__init__(f"{count:,} items in one request, over the limit of {most:,}: split it up")
        self.count = count


@dataclass(frozen=True)
class Item:
    """One item of a write request: where it was (NDJSON line, or place in the array, from
    1), and the article or why it was refused; `id` is the item's id when one could be read."""

    line: int
    article: Article | None = None
    problem: str | None = None
    id: str | None = None


def id_problem(article_id: str) -> str | None:
    """Why an article id cannot be written, or None: the ingest rule every reader keeps
    (`semsearch.index.ingest.limits`: every valid id is reachable at its links)."""
    if not article_id.strip():
        return "empty id"
    return limits.id_problem(article_id)


def article_problem(article: Article) -> str | None:
    """Why an article cannot be written (its id, no text, a field over its limit), or None."""
    problem = id_problem(article.id)
    if problem:
        return problem
    if not article.text.strip():
        return "no text"
    return limits.article_problem(article)


def read_ndjson(body: bytes, most: int | None = None) -> list[Item]:
    """Every non-blank line of an NDJSON body as an item, numbered from 1 (CRLF, CR and LF
    each end a line, as in the JSONL reader); TooManyItems past `most`."""
    text = body.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    lines = _LINE_BREAK.split(text)
    count = sum(1 for line in lines if line.strip())
    if most is not None and count > most:
        raise TooManyItems(count, most)
    items = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            record = parse_json_record(line, f"{ORIGIN}:{number}")
            items.append(_item(record, number))
    return items


def read_json_array(body: bytes, most: int | None = None) -> list[Item]:
    """A JSON array of objects (one object is an array of one) as items, numbered from 1.
    BodyError when the body is not JSON at all, TooManyItems past `most`."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"the body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); "
            "send NDJSON (application/x-ndjson) to have each line answered on its own"
        ) from None
    except RecursionError:
        raise BodyError("the body is nested too deeply to read") from None
    except ValueError:
        digits = sys.get_int_max_str_digits()
        raise BodyError(f"the body is not JSON: a number has over {digits:,} digits") from None
    records = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(records, list):
        raise BodyError(f"expected a JSON array of articles, got {json_type(parsed)}")
    if most is not None and len(records) > most:
        raise TooManyItems(len(records), most)
    items = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problem = f"expected a JSON object, got {json_type(record)}"
            items.append(Item(number, problem=problem))
        else:
            items.append(_item(record, number))
    return items


def read_html_page(
    data: bytes, url: str | None, article_id: str | None = None, charset: str | None = None
) -> Item:
    """One page's raw HTML pushed with the URL it was fetched from, as an item (line 1)."""
    return _page(data, url, article_id, charset, 1)


def _item(record: dict[str, Any] | Skipped, number: int) -> Item:
    if isinstance(record, Skipped):
        return Item(number, problem=record.reason)
    raw_id = record.get("id")
    given_id = raw_id if isinstance(raw_id, str) else None
    if "html" in record:
        page = record["html"]
        url = record.get("url")
        if not isinstance(page, str):
            return Item(number, problem=f"field 'html' is {json_type(page)}, expected a string")
        if raw_id is not None and given_id is None:
            return Item(number, problem=f"field 'id' is {json_type(raw_id)}, expected a string")
        if url is not None and not isinstance(url, str):
            return Item(number, problem=f"field 'url' is {json_type(url)}, expected a string")
        try:
            data = page.encode("utf-8")
        except UnicodeEncodeError:
            return Item(number, problem="field 'html' has an unpaired surrogate escape")
        return _page(data, url, given_id, "utf-8", number)
    read = record_article(record, f"{ORIGIN}:{number}")
    if isinstance(read, Skipped):
        return Item(number, problem=read.reason, id=given_id)
    return Item(number, article=read, id=read.id)


def _page(
    data: bytes, url: str | None, article_id: str | None, charset: str | None, number: int
) -> Item:
    if not url or not is_web_url(url):
        return Item(number, problem="a page needs its http(s) URL ('url')", id=article_id)
    if len(url) > MAX_META_CHARS:
        return Item(number, problem=f"url is over {MAX_META_CHARS:,} characters", id=article_id)
    article_id = article_id or warc_article_id(url)
    read = html.parse_html(
        data, article_id=article_id, origin=f"{ORIGIN}:{number}", url=url, charset=charset
    )
    if isinstance(read, Skipped):
        return Item(number, problem=read.reason, id=article_id)
    return Item(number, article=read, id=article_id)
