"""The WARC reader: HTML responses become articles; other records are counted, not reported."""

from __future__ import annotations

import gzip as gzip_module
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.warc import WarcCounts, read_warc, warc_article_id

PARAGRAPHS = "".join(
    f"<p>Report {n}: the river ferry crossed at dawn with twelve carts of grain and the "
    f"ferryman noted the water level on the post by the landing stage.</p>"
    for n in range(6)
)


def page(title: str) -> bytes:
    return (
        f"<html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="2020-05-06"></head>'
        f"<body><article><h1>{title}</h1>{PARAGRAPHS}</article></body></html>"
    ).encode()


def warc_record(kind: str, url: str | None, block: bytes, content_type: str, n: int) -> bytes:
    """One WARC/1.1 record, written by hand as the format describes it."""
    headers = [
        ("WARC-Type", kind),
        ("WARC-Record-ID", f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"),
        ("WARC-Date", "2024-02-03T04:05:06Z"),
        *([("WARC-Target-URI", url)] if url else []),
        ("Content-Type", content_type),
        ("Content-Length", str(len(block))),
    ]
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def http_response(status: str, ctype: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def write_warc(path: Path, gzip: bool = True) -> None:
    """A WARC as a crawler writes it: info, requests, pages, a redirect, a 404, an image."""
    http = "application/http; msgtype=response"
    records = [
        warc_record("warcinfo", None, b"software: test\r\n", "application/warc-fields", 0),
        warc_record(
            "request",
            "https://a.example/1",
            b"GET /1 HTTP/1.1\r\n\r\n",
            "application/http; msgtype=request",
            1,
        ),
        warc_record(
            "response",
            "https://a.example/1",
            http_response("200 OK", "text/html; charset=utf-8", page("First")),
            http,
            2,
        ),
        warc_record(
            "response",
            "https://a.example/old",
            http_response("301 Moved", "text/html", b"", "Location: /1\r\n"),
            http,
            3,
        ),
        warc_record(
            "response",
            "https://a.example/gone",
            http_response("404 Not Found", "text/html", page("Missing")),
            http,
            4,
        ),
        warc_record(
            "response",
            "https://a.example/logo.png",
            http_response("200 OK", "image/png", b"\x89PNG\r\n"),
            http,
            5,
        ),
        warc_record(
            "response",
            "https://a.example/2",
            http_response("200 OK", "text/html", page("Second")),
            http,
            6,
        ),
    ]
    # Gzipped WARCs hold one gzip member a record, so that a reader can seek to any record.
    data = b"".join(gzip_module.compress(r) for r in records) if gzip else b"".join(records)
    path.write_bytes(data)


def test_pages_become_articles_and_the_rest_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path)
    counts = WarcCounts()
    results = list(read_warc(path, counts))
    assert all(isinstance(r, Article) for r in results), results
    first, second = results
    assert first.title == "First" and second.title == "Second"
    assert first.url == "https://a.example/1" and first.id == warc_article_id("https://a.example/1")
    assert first.published == "2020-05-06"
    warc = first.extra["warc"]
    assert warc["file"] == str(path) and warc["record_id"].startswith("urn:uuid:")
    assert warc["fetched"] and warc["fetched"][:2] == "20"
    assert first.origin == f"{path}:{warc['record_id']}"
    assert (counts.records, counts.articles, counts.not_responses) == (7, 2, 2)
    assert (counts.redirects, counts.error_statuses, counts.not_html, counts.skipped) == (
        1,
        1,
        1,
        0,
    )
    assert "2 articles" in counts.summary()


def test_uncompressed_warc(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc"
    write_warc(path, gzip=False)
    assert [r.title for r in read_warc(path) if isinstance(r, Article)] == ["First", "Second"]


def test_a_truncated_record_is_one_skip(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc"
    write_warc(path, gzip=False)
    data = path.read_bytes()
    cut = data.rfind(b"ferryman") - 100  # inside the last page
    path.write_bytes(data[:cut])
    counts = WarcCounts()
    results = list(read_warc(path, counts))
    assert [r.title for r in results if isinstance(r, Article)] == ["First"]
    skipped = [r for r in results if isinstance(r, Skipped)]
    assert len(skipped) == 1 and "truncated" in skipped[0].reason
    assert counts.skipped == 1


def test_not_a_warc(tmp_path: Path) -> None:
    path = tmp_path / "x.warc"
    path.write_bytes(b"hello, this is no archive\n")
    results = list(read_warc(path))
    assert len(results) == 1 and isinstance(results[0], Skipped)


def test_missing_file(tmp_path: Path) -> None:
    results = list(read_warc(tmp_path / "nope.warc"))
    assert len(results) == 1 and isinstance(results[0], Skipped)


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), garbage=st.binary(max_size=200))
def test_damaged_archives_never_raise(tmp_path_factory, cut: int, garbage: bytes) -> None:
    folder = tmp_path_factory.mktemp("w")
    path = folder / "crawl.warc.gz"
    write_warc(path)
    data = path.read_bytes()
    cut = cut % len(data)
    path.write_bytes(data[:cut] + garbage + data[cut:])
    results = list(read_warc(path))
    assert all(isinstance(r, Article | Skipped) for r in results)
    assert sum(isinstance(r, Article) for r in results) <= 2
