"""Requests a hostile client might send (issue 23): every parameter of every endpoint goes
through a validating model, so none of them ends in a 500."""

from __future__ import annotations

import json

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.errors import BuildError
from semsearch.index.build.builder import build_index
from semsearch.index.ingest.limits import id_problem
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

RYE = "08_century_old_rye_starter"
#: One digit more than Python converts from a string (sys.get_int_max_str_digits()).
HUGE = "9" * 4301


#: An article whose byline and title are long (within the ingest limits).
LONG = {
    "id": "long",
    "title": "Harbour " + "t" * 1990,
    "author": "Byline" + "s" * 900,
    "text": "The harbour levy was cut. Tidal power rose again.",
}


#: Right-to-left overrides that would reverse the text after them on the page.
RTL = {
    "id": "rtl",
    "title": "Harbour \u202etidal levy",
    "author": "Mallory \u202e",
    "publication": "The \u202eGazette",
    "copyright": "\u202eCopyright",
    "text": "The harbour \u202elevy was cut. Tidal power rose again.",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    """A client over an index of articles a hostile source might send."""
    folder = tmp_path_factory.mktemp("hostile")
    records = [LONG, RTL]
    (folder / "hostile.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    embedder = HashingEmbedder(dimension=64)
    build_index([folder], folder / "idx", embedder)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    return create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()


@pytest.mark.parametrize("fmt", ["bibtex", "csl-json"])
def test_the_citation_download_name_is_bounded(hostile, fmt: str) -> None:
    response = hostile.get(f"/api/articles/long/cite?format={fmt}")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    name = disposition.removeprefix('attachment; filename="').removesuffix('"')
    assert name.startswith("byline") and len(name.split(".")[0]) == 64
    assert len(disposition) < 100


def test_a_huge_chunk_on_the_article_page_marks_nothing(client) -> None:
    response = client.get(f"/articles/{RYE}?q=rye&chunk={HUGE}")
    assert response.status_code == 200
    assert b"passage marked" not in response.get_data()


@pytest.mark.parametrize("path", [f"/api/articles/{RYE}/similar", f"/articles/{RYE}/similar"])
def test_a_huge_k_for_similar_articles_is_a_400(client, path: str) -> None:
    response = client.get(f"{path}?k={HUGE}")
    assert response.status_code == 400
    assert "k must be an integer from 1 to 100" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("k=0", "k must be an integer from 1 to 100, got '0'"),
        ("k=abc", "k must be an integer from 1 to 100, got 'abc'"),
        ("top=3", "unknown parameter 'top'; known: k"),
    ],
)
def test_similar_parameters_are_checked(client, query: str, message: str) -> None:
    response = client.get(f"/api/articles/{RYE}/similar?{query}")
    assert response.status_code == 400
    assert response.get_json() == {"ok": False, "error": message, "status": 400}


def test_similar_k_as_a_string_of_digits(client) -> None:
    response = client.get(f"/api/articles/{RYE}/similar?k=+2")
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=" + HUGE, "format must be one of text, apa, chicago, bibtex, csl-json; got '"),
        ("style=apa", "unknown parameter 'style'; known: format"),
    ],
)
def test_cite_parameters_are_checked(client, query: str, message: str) -> None:
    response = client.get(f"/api/articles/{RYE}/cite?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)


def test_the_openapi_description_has_the_models_parameters(client) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    similar = {
        p["name"]: p for p in paths["/api/articles/{article_id}/similar"]["get"]["parameters"]
    }
    assert similar["k"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    cite = {p["name"]: p for p in paths["/api/articles/{article_id}/cite"]["get"]["parameters"]}
    assert cite["format"]["schema"]["enum"] == ["text", "apa", "chicago", "bibtex", "csl-json"]


# --- ids: every valid id is reachable at its links ---------------------------------------

ID_PARTS = st.one_of(
    st.sampled_from(["news", "similar", "cite", "a b", "..", ".", "", "é", "?", "#", "%2F"]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=6),
)
IDS = st.lists(ID_PARTS, min_size=1, max_size=4).map("/".join)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(IDS, min_size=1, max_size=12, unique=True))
def test_every_valid_id_is_readable_at_its_links(tmp_path_factory, ids: list[str]) -> None:
    folder = tmp_path_factory.mktemp("ids")
    records = [{"id": i, "title": f"Article {n}", "text": TEXT} for n, i in enumerate(ids)]
    (folder / "ids.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    embedder = HashingEmbedder(dimension=32)
    try:
        report = build_index([folder], folder / "idx", embedder)
    except BuildError:
        assert all(i.strip() and id_problem(i.strip()) for i in ids)  # no valid id at all
        return
    # Readers strip a field's spaces: the id is the stripped one; a blank id is derived
    # from the title and text (each title differs).
    valid = {i.strip() for i in ids if i.strip() and id_problem(i.strip()) is None}
    blank = [i for i in ids if not i.strip()]
    assert report.articles == len(valid) + len(blank)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    app = create_app({"TESTING": True, "SEARCH_SERVICE": service})
    client = app.test_client()
    for article_id in valid:
        with app.test_request_context():
            links = {
                name: url_for(f"search.{name}", article_id=article_id)
                for name in ("api_article", "article_page", "api_cite", "api_similar")
            }
        body = client.get(links["api_article"]).get_json()
        assert body["article"]["id"] == article_id, links
        page = client.get(links["article_page"])
        assert page.status_code == 200 and b"Article " in page.get_data()
        assert client.get(links["api_cite"]).status_code == 200, links
        similar = client.get(links["api_similar"]).get_json()
        assert similar["ok"] is True, links


TEXT = "The harbour levy was cut. Tidal power rose again."


def test_right_to_left_overrides_are_isolated_on_the_pages(hostile) -> None:
    from lxml import html

    article = html.fromstring(hostile.get("/articles/rtl?q=harbour").get_data(as_text=True))
    search = html.fromstring(hostile.get("/?q=harbour+levy&k=5").get_data(as_text=True))
    similar = html.fromstring(hostile.get("/articles/long/similar").get_data(as_text=True))
    for tree, selectors in [
        (
            article,
            [
                "h1.title",
                ".meta .author",
                ".meta .publication",
                ".article-text",
                ".article-text .passage",
                "p.copyright",
            ],
        ),
        (
            search,
            [
                "h2.title",
                ".meta .author",
                ".meta .publication",
                "blockquote.passage",
                "span.copyright",
            ],
        ),
        (similar, ["h2.title", ".meta .author", "blockquote.passage"]),
    ]:
        for selector in selectors:
            elements = tree.cssselect(selector)
            assert elements, selector
            assert all(e.get("dir") == "auto" for e in elements), selector


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("published_from=2017-02-30", "published_from 2017-02-30 is not a day of the calendar"),
        ("published_to=2019-02-29", "published_to 2019-02-29 is not a day of the calendar"),
    ],
)
def test_a_date_that_is_not_in_the_calendar_is_a_400(client, query: str, message: str) -> None:
    response = client.get(f"/api/search?q=tram&{query}")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
    assert client.get("/api/search?q=tram&published_to=2020-02-29").status_code == 200
