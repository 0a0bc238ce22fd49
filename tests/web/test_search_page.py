"""The search page and API over the news fixture: modes and filters, parameters that once
gave 500s, the form's defaults."""

from __future__ import annotations

from semsearch.search.service import SearchService


def test_api_and_page_take_modes_and_filters(news: SearchService) -> None:
    from lxml import html

    from semsearch.web import create_app

    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    body = client.post(
        "/api/search",
        json={
            "q": "harbour silt",
            "k": 3,
            "mode": "keyword",
            "group": "article",
            "author": "Cy Ode",
        },
    ).get_json()
    assert body["mode"] == "keyword" and body["group"] == "article"
    assert body["filters"] == {"author": "Cy Ode"}
    assert {r["article"]["id"] for r in body["results"]} == {"n9", "n10", "n11"}
    assert body["results"][0]["passage"]["best_sentence"]["text"].startswith("The harbour")
    bad = client.get("/api/search?q=harbour&published_to=last+week")
    assert bad.status_code == 400 and "published_to" in bad.get_json()["error"]
    page = client.get("/?q=quantum+chromodynamics&mode=keyword")
    assert page.status_code == 200
    text = html.fromstring(page.data).cssselect("p.empty")[0].text_content()
    assert text.startswith("No good match: no passage contains")
    page = html.fromstring(client.get("/?q=festival+fireworks&mode=keyword").data)
    assert page.cssselect("blockquote .best mark")
    assert page.cssselect("select[name=mode] option[selected]")[0].get("value") == "keyword"


def test_parameters_that_once_gave_500s(news: SearchService) -> None:
    from lxml import html

    from semsearch.web import create_app

    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    for k in ("++5", "9" * 4301, "-1", " 5 5"):
        response = client.get("/api/search", query_string={"q": "harbour", "k": k})
        assert response.status_code == 400, k
    assert client.post("/api/search", json={"q": "harbour", "k": "++5"}).status_code == 400
    assert client.get("/api/search", query_string={"q": "harbour", "k": "+5"}).status_code == 200
    for extra in (
        {"endpoint": "x"},
        {"_method": "DELETE"},
        {"_external": "1"},
        {"_scheme": "https", "_external": ""},
        {"_anchor": "x"},
    ):
        response = client.get(
            "/", query_string={"q": "harbour", **extra}, headers={"Host": "evil.example"}
        )
        assert response.status_code == 200, extra
        link = html.fromstring(response.data).cssselect('link[rel="alternate"]')[0].get("href")
        assert link.startswith("/api/search?") and "evil" not in link and "#" not in link


def test_page_form_shows_the_configured_defaults(news: SearchService, monkeypatch) -> None:
    from lxml import html

    from semsearch.web import create_app

    monkeypatch.setenv("SEMSEARCH_MODE", "dense")
    monkeypatch.setenv("SEMSEARCH_DEFAULT_K", "5")
    client = create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()
    page = html.fromstring(client.get("/").data)
    assert page.cssselect("select[name=mode] option[selected]")[0].get("value") == "dense"
    assert page.cssselect("input[name=k]")[0].get("value") == "5"
