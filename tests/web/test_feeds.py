"""Any search as a feed: Atom and RSS read back with a real feed parser, every entry
credited and linked to its article page, hostile article text escaped."""

from __future__ import annotations

import feedparser
import pytest
from lxml import html

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder

RECORDS = [
    {
        "id": "old",
        "title": "Harbour dredging begins",
        "text": "The harbour dredging began with two barges and a crane.",
        "author": "Ann Lee",
        "publication": "Gazette",
        "published": "2019-03-02",
        "copyright": "© 2019 Gazette",
        "url": "https://gazette.example/old",
    },
    {
        "id": "new",
        "title": "Harbour dredging ends",
        "text": "The harbour dredging ended after two barges and a crane left.",
        "author": "Bo Kim",
        "publication": "Courier",
        "published": "2021-07-09",
        "copyright": "© 2021 Courier",
    },
    {
        "id": "evil",
        "title": "<script>alert(1)</script> Harbour dredging & \x07 barges",
        "text": "The harbour dredging <img src=x onerror=alert(3)> ]]> barges \x0b crane.",
        "author": "<b>Mallory</b>",
        "publication": "Evil & Co",
        "published": "2020-01-05",
        "copyright": "<i>mine</i>",
        "url": "javascript:alert(4)",
    },
    {"id": "other", "title": "Gardens", "text": "Roses need pruning in March."},
]


@pytest.fixture(scope="module")
def feed_client(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("feeds")
    write_jsonl(folder / "articles.jsonl", RECORDS)
    embedder = HashingEmbedder()
    build_index([folder / "articles.jsonl"], folder / "idx", embedder)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    yield create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    service.close()


def test_atom_feed_reads_back_newest_first_and_credited(feed_client) -> None:
    response = feed_client.get("/api/search?q=harbour+dredging+barges&format=atom&mode=keyword")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Search: harbour dredging barges"
    ids = [entry.link.split("/articles/")[1].split("?")[0] for entry in feed.entries]
    assert ids == ["new", "evil", "old"]  # 2021-07-09, 2020-01-05, 2019-03-02
    new, evil, old = feed.entries
    assert old.title == "Harbour dredging begins"
    assert old.author == "Ann Lee"
    assert old.rights == "© 2019 Gazette"
    assert old.source.title == "Gazette"
    assert old.published.startswith("2019-03-02T00:00:00")
    assert old.link.startswith("http://localhost/articles/old?q=harbour+dredging+barges&chunk=")
    assert any(link.href == "https://gazette.example/old" for link in old.links)
    assert new.published.startswith("2021-07-09")
    # Hostile text is text: escaped, characters XML cannot carry taken out.
    assert evil.title == "<script>alert(1)</script> Harbour dredging &  barges"
    assert evil.author == "<b>Mallory</b>"
    assert all(link.href != "javascript:alert(4)" for link in evil.links)
    assert b"<script>" not in response.data and b"<img" not in response.data


def test_rss_feed_reads_back(feed_client) -> None:
    response = feed_client.get("/api/search?q=harbour+dredging+barges&format=RSS&mode=keyword")
    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    titles = [entry.title for entry in feed.entries]
    assert titles[0] == "Harbour dredging ends" and titles[2] == "Harbour dredging begins"
    old = feed.entries[2]
    assert old.author == "Ann Lee"  # dc:creator
    assert old.publisher == "Gazette"
    assert old.rights == "© 2019 Gazette"
    assert old.published_parsed[:3] == (2019, 3, 2)
    assert old.id == old.link and "/articles/old?" in old.link
    assert feed.entries[1].published_parsed[:3] == (2020, 1, 5)


def test_a_search_with_no_match_is_an_empty_valid_feed(feed_client) -> None:
    response = feed_client.get("/api/search?q=zzzqqq&format=atom&mode=keyword")
    feed = feedparser.parse(response.data)
    assert response.status_code == 200 and not feed.bozo
    assert feed.entries == []


def test_a_bad_feed_request_is_the_json_error(feed_client) -> None:
    response = feed_client.get("/api/search?q=harbour&format=atom&k=0")
    assert response.status_code == 400
    assert response.get_json()["ok"] is False


def test_the_page_offers_a_subscribe_link(feed_client) -> None:
    page = html.fromstring(feed_client.get("/?q=harbour+dredging&page=2&sort=oldest").data)
    (subscribe,) = page.cssselect("a.subscribe")
    href = subscribe.get("href")
    assert (
        href.startswith("/api/search?") and "format=atom" in href and "q=harbour+dredging" in href
    )
    assert "page=" not in href and "sort=" not in href
    (alternate,) = page.cssselect('link[type="application/atom+xml"]')
    assert alternate.get("href") == href
