"""Read web archives (`.warc`, `.warc.gz`) as a stream: each HTML page fetched is an article.

FastWARC (from resiliparse) iterates the records: on a 115 MB WARC of 605 pages it reads
about three times faster than warcio gzipped and faster uncompressed (see
docs/benchmarks; the figures are in the helper's note too), and it never holds more than one
record. Every `response` record with HTTP status 200 and an HTML body goes through the HTML
reader (`semsearch.index.ingest.html.parse_html`) with the record's target URL and charset;
its id is derived from that URL, its origin is `file:record-id` and the record's id and fetch
date are kept in `extra["warc"]`.

Records that are not pages (requests, metadata, warcinfo, revisits), bodies that are not
HTML, redirects and error statuses are skipped and counted in a `WarcCounts`, not reported
one by one. A record that is damaged (cut short, over the page size limit, no main text) is
one `Skipped`; a stream that cannot be read on is one `Skipped` and the reading of that file
stops there, with the articles before it kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from semsearch.index.ingest.articles import Article, Skipped, stable_id
from semsearch.index.ingest.html import MAX_HTML_BYTES, parse_html

log = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class WarcCounts:
    """What a WARC file held, by what became of each record."""

    records: int = 0
    articles: int = 0
    not_responses: int = 0  # request, metadata, warcinfo, revisit, resource ...
    not_html: int = 0
    redirects: int = 0
    error_statuses: int = 0  # every status but 200 and the redirects
    skipped: int = 0  # damaged records and pages without main text, each one a Skipped

    def summary(self) -> str:
        """One line for the build summary."""
        return (
            f"{self.records:,} records: {self.articles:,} articles, "
            f"{self.not_responses:,} not responses, {self.not_html:,} not HTML, "
            f"{self.redirects:,} redirects, {self.error_statuses:,} error statuses, "
            f"{self.skipped:,} skipped"
        )

    def add(self, other: WarcCounts) -> None:
        """Add another file's counts to these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def is_warc_file(path: Path) -> bool:
    """True for the file names the WARC reader takes."""
    return path.name.lower().endswith(WARC_SUFFIXES)


def warc_article_id(url: str) -> str:
    """The id of a page from a WARC: derived from its URL, as the JSONL/CSV readers do."""
    return "u-" + stable_id(url)


def read_warc(path: Path, counts: WarcCounts | None = None) -> Iterator[Article | Skipped]:
    """Each HTML page fetched with status 200 in one WARC file, in the file's order.

    `counts` (when given) is filled in as the records are read; the skipped kinds of record
    are only counted there, never yielded."""
    from fastwarc.warc import ArchiveIterator

    counts = counts if counts is not None else WarcCounts()
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Skipped(str(path), f"cannot read file: {exc.strerror or exc}")
        return
    with handle:
        position = 0
        try:
            # auto_decode: payloads stored with their HTTP chunking or gzip are read as served.
            records = ArchiveIterator(handle, parse_http=True, fsspec_args=False, auto_decode="all")
            for record in records:
                counts.records += 1
                position = record.stream_pos
                result = _read_record(path, record, counts)
                if result is not None:
                    if isinstance(result, Article):
                        counts.articles += 1
                    else:
                        counts.skipped += 1
                    yield result
        except (OSError, ValueError) as exc:
            counts.skipped += 1
            yield Skipped(
                f"{path}@{position}",
                f"cannot read on in the WARC after byte {position:,}: {exc}",
            )
            return
    if counts.records == 0:
        yield Skipped(str(path), "no WARC records: empty, or not a WARC file")
    log.info("%s: %s", path, counts.summary())


def _read_record(path: Path, record: object, counts: WarcCounts) -> Article | Skipped | None:
    """One record as an Article, a Skipped, or None when it is only counted."""
    from fastwarc.warc import WarcRecordType

    rec = record  # typed loosely: FastWARC ships no type stubs
    if rec.record_type != WarcRecordType.response:  # type: ignore[attr-defined]
        counts.not_responses += 1
        return None
    headers = rec.headers  # type: ignore[attr-defined]
    record_id = (headers.get("WARC-Record-ID") or "").strip("<>") or f"@{rec.stream_pos}"  # type: ignore[attr-defined]
    origin = f"{path}:{record_id}"
    url = (headers.get("WARC-Target-URI") or "").strip().strip("<>")
    fetched = headers.get("WARC-Date") or None
    http = rec.http_headers if rec.is_http else None  # type: ignore[attr-defined]
    if http is None:
        counts.not_html += 1  # a dns: or ftp: response, no HTTP page
        return None
    status = http.status_code
    if status in _REDIRECTS:
        counts.redirects += 1
        return None
    if status != 200:
        counts.error_statuses += 1
        return None
    content_type = (rec.http_content_type or "").split(";")[0].strip().lower()  # type: ignore[attr-defined]
    if content_type and content_type not in HTML_TYPES:
        counts.not_html += 1
        return None
    if not url.lower().startswith(("http://", "https://")):
        return Skipped(origin, f"record has no http(s) WARC-Target-URI ({url or 'none'!r})")
    length = rec.content_length  # type: ignore[attr-defined]
    if length > MAX_HTML_BYTES:
        return Skipped(origin, f"page is {length:,} bytes, over the {MAX_HTML_BYTES:,} limit")
    payload = rec.reader.read(MAX_HTML_BYTES + 1)  # type: ignore[attr-defined]
    encoded = http.get("Content-Encoding") or http.get("Transfer-Encoding")
    if not encoded and len(payload) < length:
        return Skipped(
            origin, f"truncated record: {len(payload):,} of {length:,} bytes of the page present"
        )
    if not content_type and payload.lstrip()[:1] != b"<":
        counts.not_html += 1  # no type stated and it does not start like markup
        return None
    result = parse_html(
        payload,
        article_id=warc_article_id(url),
        origin=origin,
        url=url,
        charset=rec.http_charset,  # type: ignore[attr-defined]
    )
    if isinstance(result, Skipped):
        return result
    warc = {"file": str(path), "record_id": record_id, "fetched": fetched}
    return replace(result, extra={**result.extra, "warc": warc})
