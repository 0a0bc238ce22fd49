"""The query syntax over HTTP (the news fixture, every backend): `understood_as` in the
JSON, "Understood as" on the page when it differs from what was typed, limits as 400s."""

from __future__ import annotations

import pytest
from lxml import html

from semsearch.search.service import SearchService
from semsearch.web import create_app


@pytest.fixture()
def client(news: SearchService):
    return create_app({"TESTING": True, "SEARCH_SERVICE": news}).test_client()


def test_api_answers_with_understood_as(client) -> None:
    body = client.get('/api/search?q=title:"harbour report 7" -foo&group=article').get_json()
    assert body["understood_as"] == 'title:"harbour report 7" -foo'
    assert [r["article"]["id"] for r in body["results"]] == ["n7"]


def test_page_says_how_a_malformed_query_was_read(client) -> None:
    page = html.fromstring(client.get('/?q=harbour+"festival').data)
    assert page.cssselect("p.understood")[0].text_content() == "Understood as “harbour festival”"
    page = html.fromstring(client.get("/?q=harbour+festival").data)
    assert page.cssselect("p.understood") == []  # read as typed: nothing to say


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (" ".join(f'"harbour{i}"' for i in range(17)), "17 quoted phrases; the limit is 16"),
        ("harbour " + " ".join(f"-w{i}" for i in range(33)), "33 exclusions"),
        ("-harbour -tides", "nothing to search for"),
    ],
)
def test_too_many_operators_is_a_400(client, query: str, message: str) -> None:
    response = client.get("/api/search", query_string={"q": query})
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_a_thousand_exclusions_is_refused_by_length(client) -> None:
    query = "harbour " + " ".join(f"-word{i}" for i in range(1000))  # 8,897 characters
    response = client.get("/api/search", query_string={"q": query})
    assert response.status_code == 400
    assert "characters long; the limit is 4000" in response.get_json()["error"]


def test_a_hundred_phrases_are_a_pasted_text(client) -> None:
    # 200 words: past the 64 that operators are read in, so plain words, answered.
    query = " ".join(f'"harbour {i}"' for i in range(100))
    body = client.get("/api/search", query_string={"q": query}).get_json()
    assert body["ok"] and body["results"]
    assert body["understood_as"] == query


def test_an_unknown_field_is_words(client) -> None:
    body = client.get("/api/search?q=foo:harbour").get_json()
    assert body["understood_as"] == "foo:harbour" and body["results"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0d", "recency must be a half-life longer than zero; got '0d'"),
        ("-5y", "recency must be a half-life such as 30d"),
        ("10000y", "recency is at most 100y (a century); got '10000y'"),
        ("yesterday", "recency must be a half-life such as 30d"),
    ],
)
def test_bad_recency_is_a_400(client, value: str, message: str) -> None:
    response = client.get("/api/search", query_string={"q": "harbour", "recency": value})
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    page = client.get("/", query_string={"q": "harbour", "recency": value})
    assert page.status_code == 400
    assert message in html.fromstring(page.data).cssselect("p.error")[0].text_content()


def test_recency_on_the_page_and_the_api(client) -> None:
    body = client.get('/api/search?q="silt and tides"&group=article&k=3&recency=2w').get_json()
    assert [r["article"]["id"] for r in body["results"]] == ["n11", "n10", "n9"]
    page = html.fromstring(client.get('/?q="silt and tides"&group=article&k=3&recency=2w').data)
    assert page.cssselect("input[name=recency]")[0].get("value") == "2w"
    # The blend applied is echoed, in the JSON and on the page, with a way out of it.
    assert body["recency"] == "2w"
    said = page.cssselect("p.recency")[0]
    assert said.text_content().startswith("Newer articles first: a score halves every 2w of age")
    assert "recency=off" in said.cssselect("a")[0].get("href")
    plain = client.get('/api/search?q="silt and tides"&group=article&k=3').get_json()
    assert plain["recency"] is None
    assert html.fromstring(client.get("/?q=silt").data).cssselect("p.recency") == []
