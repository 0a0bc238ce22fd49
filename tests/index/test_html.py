"""The HTML reader: main text and the page's own metadata; bad pages are skipped, never raised."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest import html as html_reader
from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.html import html_article_id, parse_html, read_html_file

BODY = " ".join(
    f"Paragraph {n} of the harbour report says the tide gauges in the north basin were read "
    f"every morning and the readings were written into the ledger by the keeper."
    for n in range(6)
)
PAGE = f"""<!doctype html>
<html lang="en_gb"><head><meta charset="utf-8">
<title>Harbour tides rise | Coast Herald</title>
<meta property="og:title" content="Harbour tides rise">
<meta property="og:site_name" content="Coast Herald">
<meta name="author" content="Mara Quill">
<meta property="article:published_time" content="2021-03-04T08:00:00Z">
<link rel="canonical" href="https://coast.example/news/tides">
<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">
<script type="application/ld+json">{{"@type": "NewsArticle",
 "copyrightHolder": {{"name": "Coast Herald Ltd"}}, "copyrightYear": 2021}}</script>
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Harbour tides rise</h1>
{"".join(f"<p>{p}.</p>" for p in BODY.split(". "))}
</article>
<footer><p>© 2021 Coast Herald. All rights reserved.</p></footer>
</body></html>"""


def read(data: bytes, **kw: str) -> Article | Skipped:
    return parse_html(data, article_id="a", origin="page.html", **kw)


def test_metadata_from_the_page() -> None:
    article = read(PAGE.encode())
    assert isinstance(article, Article), article
    assert article.title == "Harbour tides rise"
    assert article.author == "Mara Quill"
    assert article.publication == "Coast Herald"
    assert article.published == "2021-03-04"
    assert article.url == "https://coast.example/news/tides"
    assert article.license == "https://creativecommons.org/licenses/by/4.0/"
    assert article.copyright == "© 2021 Coast Herald Ltd"
    assert article.extra["language"] == "en-GB"
    assert "tide gauges in the north basin" in article.text
    assert "Home" not in article.text and "All rights reserved" not in article.text


def test_footer_copyright_when_no_markup_states_one() -> None:
    page = PAGE.replace('"copyrightHolder"', '"x"')
    article = read(page.encode())
    assert isinstance(article, Article)
    assert article.copyright == "© 2021 Coast Herald. All rights reserved."


def test_what_the_page_does_not_say_stays_empty() -> None:
    paragraphs = "".join(f"<p>{p}.</p>" for p in BODY.split(". "))
    bare = f"<html><body><article>{paragraphs}</article></body></html>"
    article = read(bare.encode())
    assert isinstance(article, Article), article
    assert (article.author, article.published, article.url, article.copyright) == (None,) * 4
    assert article.license is None and "language" not in article.extra


def test_file_ids_and_gzip(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    (pages / "sub").mkdir(parents=True)
    (pages / "a1.html.gz").write_bytes(gzip.compress(PAGE.encode()))
    (pages / "sub" / "b.htm").write_bytes(PAGE.encode())
    assert html_article_id(pages / "a1.html.gz", pages) == "a1"
    assert html_article_id(pages / "sub" / "b.htm", pages) == "sub/b"
    article = read_html_file(pages / "a1.html.gz", pages)
    assert isinstance(article, Article) and article.id == "a1"
    assert article.origin == str(pages / "a1.html.gz")


def test_broken_gzip_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.html.gz"
    path.write_bytes(gzip.compress(PAGE.encode())[:-30])
    skipped = read_html_file(path, tmp_path)
    assert isinstance(skipped, Skipped) and "gzip" in skipped.reason


def test_oversized_page_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_reader, "MAX_HTML_BYTES", 1000)
    path = tmp_path / "big.html"
    path.write_bytes(PAGE.encode() * 3)
    skipped = read_html_file(path, tmp_path)
    assert isinstance(skipped, Skipped) and "limit" in skipped.reason
    gz = tmp_path / "big.html.gz"
    gz.write_bytes(gzip.compress(PAGE.encode() * 3))
    skipped = read_html_file(gz, tmp_path)
    assert isinstance(skipped, Skipped) and "limit" in skipped.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty page"),
        (b"just some words, no markup at all", "not HTML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not HTML"),
        (
            b"<html><head><script>var a = 1;</script></head>"
            b"<body><script>go()</script></body></html>",
            "no visible text",
        ),
        (b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no main text"),
    ],
)
def test_bad_pages_are_skipped(data: bytes, reason: str) -> None:
    skipped = read(data)
    assert isinstance(skipped, Skipped) and reason in skipped.reason


def test_utf8_under_a_latin1_label_is_read_as_utf8() -> None:
    page = PAGE.replace('charset="utf-8"', 'charset="iso-8859-1"').replace(
        "harbour report", "café report"
    )
    article = read(page.encode("utf-8"))
    assert isinstance(article, Article) and "café report" in article.text


def test_a_lying_charset_is_skipped() -> None:
    page = PAGE.replace("harbour report", "élévé à côté ü ö ä").replace("keeper", "garçon çà")
    skipped = read(page.encode("cp1252"))  # the page still says utf-8
    assert isinstance(skipped, Skipped) and "charset" in skipped.reason


def test_a_declared_legacy_charset_is_honoured() -> None:
    page = PAGE.replace('charset="utf-8"', 'charset="windows-1252"').replace(
        "harbour report", "café report"
    )
    article = read(page.encode("cp1252"))
    assert isinstance(article, Article) and "café report" in article.text


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=400)
    | st.text(max_size=300).map(
        lambda s: f"<html><body>{s}</body></html>".encode("utf-8", "surrogatepass")
    )
)
def test_no_input_raises(data: bytes) -> None:
    result = read(data)
    assert isinstance(result, Article | Skipped)
    if isinstance(result, Skipped):
        assert result.origin == "page.html" and result.reason


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=len(PAGE.encode()) - 1))
def test_a_cut_page_never_raises(cut: int) -> None:
    result = read(PAGE.encode()[:cut])
    assert isinstance(result, Article | Skipped)
