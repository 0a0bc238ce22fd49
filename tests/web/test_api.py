"""The JSON API and the page: success and error shapes pinned, escaping, health/readiness."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import html

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

ARTICLE_KEYS = [
    "id",
    "title",
    "author",
    "publication",
    "published",
    "url",
    "site_url",
    "copyright",
    "license",
    "source_note",
    "tags",
    "language",
]
#: A hit's article: the credits, then its copies under other publications.
HIT_ARTICLE_KEYS = [*ARTICLE_KEYS, "copies"]


def test_search_success_shape(client) -> None:
    response = client.get("/api/search?q=sourdough rye starter fermentation&k=3")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [
        "ok",
        "query",
        "k",
        "mode",
        "group",
        "filters",
        "took_ms",
        "index",
        "results",
        "no_match_reason",
        "sort",
        "page",
        "has_next",
        "facets",
        "query_language",
        "spelling",
        "understood_as",
        "recency",
    ]
    assert body["mode"] == "hybrid" and body["group"] is None and body["filters"] == {}
    assert body["ok"] is True and body["k"] == 3 and len(body["results"]) == 3
    assert set(body["index"]) == {"version", "chunks"}
    first = body["results"][0]
    assert list(first) == ["score", "scores", "passage", "article", "strength"]
    assert list(first["scores"]) == ["dense", "keyword"]
    assert list(first["passage"]) == [
        "text",
        "highlight",
        "chunk_id",
        "start",
        "end",
        "best_sentence",
    ]
    assert list(first["article"]) == HIT_ARTICLE_KEYS
    assert first["article"]["copies"] == []
    assert first["article"]["id"] == "08_century_old_rye_starter"
    assert first["article"]["copyright"].startswith("Copyright ©")
    assert any("<mark>" in r["passage"]["highlight"] for r in body["results"])
    assert first["passage"]["end"] - first["passage"]["start"] == len(first["passage"]["text"])


def test_post_equals_get(client) -> None:
    get = client.get("/api/search?q=rye starter&k=2").get_json()
    post = client.post("/api/search", json={"q": "rye starter", "k": 2}).get_json()
    assert [r["passage"]["chunk_id"] for r in get["results"]] == [
        r["passage"]["chunk_id"] for r in post["results"]
    ]


def test_long_pasted_query_is_accepted(client) -> None:
    q = ("The trams stopped for nine days while drivers argued over split shifts. " * 40)[:2000]
    assert client.post("/api/search", json={"q": q}).status_code == 200


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        ({"query_string": {"q": ""}}, "empty query"),
        ({"query_string": {"q": "   "}}, "empty query"),
        ({"query_string": {}}, "missing query"),
        ({"query_string": {"q": "x" * 4001}}, "limit is 4000"),
        ({"query_string": {"q": "bridge", "k": "0"}}, "k must be an integer from 1 to 100"),
        ({"query_string": {"q": "bridge", "k": "101"}}, "k must be an integer from 1 to 100"),
        ({"query_string": {"q": "bridge", "k": "ten"}}, "k must be an integer from 1 to 100"),
        ({"query_string": {"q": "bridge", "k": "2.5"}}, "k must be an integer from 1 to 100"),
        ({"query_string": {"q": "bridge", "k": "²"}}, "k must be an integer from 1 to 100"),
        ({"query_string": {"q": "bridge", "k": "२"}}, "k must be an integer from 1 to 100"),
    ],
)
def test_bad_get_queries(client, request_args, message) -> None:
    response = client.get("/api/search", **request_args)
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 400 and message in body["error"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "request body must be a JSON object"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b'{"q": 42}', "q must be a string"),
        (b'{"q": "bridge", "k": true}', "k must be an integer"),
        (b'{"q": "bridge", "k": 1.5}', "k must be an integer"),
    ],
)
def test_bad_post_bodies(client, data, message) -> None:
    response = client.post("/api/search", data=data, content_type="application/json")
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_unknown_api_path_is_json_404(client) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404
    assert response.get_json()["ok"] is False and response.get_json()["status"] == 404


def test_unexpected_error_is_json_500_without_traceback(demo_service, caplog) -> None:
    class Broken:
        manifest = demo_service.manifest
        index_path = demo_service.index_path
        settings = None

        def search(self, query, *args, **options):
            raise RuntimeError("secret internals at /srv/app.py line 3")

    client = create_app({"TESTING": False, "SEARCH_SERVICE": Broken()}).test_client()
    response = client.get("/api/search?q=bridge")
    assert response.status_code == 500
    body = response.get_json()
    assert body == {
        "ok": False,
        "error": "internal error: the server log has the details",
        "status": 500,
    }
    assert "secret" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text


def test_health_and_readiness(client, tmp_path: Path) -> None:
    assert client.get("/healthz").get_json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["index"]["articles"] == 10
    broken = create_app({"INDEX_DIR": str(tmp_path / "missing"), "MODEL": "hashing-256"})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert "no index at" in response.get_json()["error"]
    search = broken.test_client().get("/api/search?q=x")
    assert search.status_code == 503 and search.get_json()["status"] == 503
    assert str(tmp_path) not in search.get_data(as_text=True)  # paths are for /readyz and logs


def test_page_renders_attributed_results(client) -> None:
    response = client.get("/?q=sourdough rye starter fermentation")
    assert response.status_code == 200
    page = html.fromstring(response.get_data(as_text=True))
    hits = page.cssselect("li.hit")
    assert hits
    first = hits[0]
    assert "Rye Starter" in first.cssselect("h2.title")[0].text_content()
    assert first.cssselect("h2.title a")[0].get("href") == "http://www.prairiesignal.example"
    assert first.cssselect(".publication")[0].text_content() == "Prairie Signal"
    assert first.cssselect("time")[0].get("datetime") == "2024-01-19"
    assert "Copyright © Rosa Inglehart" in first.cssselect(".copyright")[0].text_content()
    assert first.cssselect("blockquote mark")
    alternate = page.cssselect('link[rel="alternate"]')[0]
    assert alternate.get("type") == "application/json" and "/api/search" in alternate.get("href")


def test_page_errors_are_shown(client) -> None:
    response = client.get("/?q=bridge&k=500")
    assert response.status_code == 400
    assert "k must be an integer" in html.fromstring(response.data).cssselect(".error")[0].text


@pytest.fixture(scope="module")
def xss_client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xss")
    (folder / "evil.jsonl").write_text(
        '{"id": "evil", "title": "<script>alert(1)</script> Evil", '
        '"text": "Harbour news <script>alert(2)</script> <img src=x onerror=alert(3)> harbour", '
        '"url": "javascript:alert(4)", "copyright": "<b>mine</b>"}\n',
        encoding="utf-8",
    )
    embedder = HashingEmbedder()
    build_index([folder], folder / "idx", embedder)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    return create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()


def test_xss_json_is_plain_data_and_highlight_is_escaped(xss_client) -> None:
    hit = xss_client.get("/api/search?q=harbour script").get_json()["results"][0]
    assert hit["article"]["title"] == "<script>alert(1)</script> Evil"  # data, as it came
    highlight = hit["passage"]["highlight"]
    assert "<script>" not in highlight and "<img" not in highlight
    assert "&lt;<mark>script</mark>&gt;alert(2)" in highlight
    assert "<mark>harbour</mark>" in highlight.lower()


def test_xss_page_is_inert(xss_client) -> None:
    text = xss_client.get("/?q=harbour").get_data(as_text=True)
    assert "<script>" not in text and "<img src=x" not in text and "<b>mine</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'href="javascript:' not in text


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "GET", "query_string": {"q": "tram", "top_k": "3"}},
        {"method": "POST", "json": {"q": "tram", "filter": {"author": "Okafor"}}},
    ],
)
def test_unknown_parameters_are_refused(client, request_kwargs) -> None:
    """A misspelt option must not be silently ignored."""
    response = client.open("/api/search", **request_kwargs)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith("unknown parameter") and "known: q, k, mode" in error


def test_page_tolerates_extra_parameters(client) -> None:
    """Shared links pick up tracking parameters; the page ignores them."""
    assert client.get("/?q=tram&utm_source=newsletter").status_code == 200


def test_article_reads_back_whole_with_its_passages(client) -> None:
    hit = client.get("/api/search?q=tram strike split shifts&k=1").get_json()["results"][0]
    response = client.get(f"/api/articles/{hit['article']['id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["ok", "article"] and body["ok"] is True
    article = body["article"]
    assert list(article) == [
        *ARTICLE_KEYS,
        "origin",
        "extra",
        "text",
        "passages",
        "provenance",
        "copies",
    ]
    assert {key: article[key] for key in ARTICLE_KEYS} == {
        key: hit["article"][key] for key in ARTICLE_KEYS
    }
    assert article["copies"] == hit["article"]["copies"] == []
    assert article["provenance"]["file"] == article["origin"]
    assert article["origin"].endswith(".md")
    # The passages' offsets point into the text; the hit's passage is one of them.
    text, passages = article["text"], article["passages"]
    assert hit["passage"]["chunk_id"] in [p["chunk_id"] for p in passages]
    start, end = hit["passage"]["start"], hit["passage"]["end"]
    assert text[start:end] == hit["passage"]["text"]
    assert [p["start"] for p in passages] == sorted(p["start"] for p in passages)
    assert all(0 <= p["start"] < p["end"] <= len(text) for p in passages)


def test_article_ids_with_slashes_and_quoting(tmp_path: Path) -> None:
    folder = tmp_path / "pages" / "2024"
    folder.mkdir(parents=True)
    (folder / "tide mill.md").write_text("# The Tide Mill\n\nThe tide mill ground corn.\n")
    embedder = HashingEmbedder(dimension=64)
    build_index([tmp_path / "pages"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    body = client.get("/api/articles/2024/tide%20mill").get_json()
    assert body["article"]["id"] == "2024/tide mill"
    assert body["article"]["title"] == "The Tide Mill"
    assert client.get("/api/articles/2024%2Ftide%20mill").status_code == 200


def test_unknown_article_is_a_json_404(client) -> None:
    response = client.get("/api/articles/no-such-article")
    assert response.status_code == 404
    assert response.get_json() == {
        "ok": False,
        "error": "no article with id 'no-such-article' in this index",
        "status": 404,
    }
