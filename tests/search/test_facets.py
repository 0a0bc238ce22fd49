"""Facet counts over a query's matches, each facet counted without its own filter."""

from __future__ import annotations

import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.storage.store import ArticleFacts
from semsearch.search.facets import FACET_VALUES, count_facet, date_ordered
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.corpus import write_jsonl
from tests.support.synthetic import write_articles

#: Five articles about a turbine and three about other things, with hand-picked credits.
#: In keyword mode the matches of "turbine" are exactly the first five, so every count
#: below is counted by hand from this table.
TURBINE_ARTICLES = [
    ("t1", "Harbor Ledger", "Ana Ruiz", "2019-03-01", "The tidal turbine was lowered."),
    ("t2", "Harbor Ledger", "Ben Okoro", "2020-05-02", "A second turbine joined the first."),
    ("t3", "Prairie Signal", "Ana Ruiz", "2020-07-07", "Farmers asked about the turbine."),
    ("t4", "Prairie Signal", None, None, "The turbine noise study was delayed."),
    ("t5", "The Civic Lantern", "Chen Wei", "2021-01-01", "Council approved a turbine."),
    ("o1", "Harbor Ledger", "Ana Ruiz", "2019-04-04", "The bakery sold rye bread."),
    ("o2", "Northwind Review", "Dara Nolan", "2018-02-02", "Trams ran late again."),
    ("o3", "Prairie Signal", "Chen Wei", "2021-06-06", "Schools fitted air monitors."),
]


@pytest.fixture(scope="module")
def turbines(tmp_path_factory: pytest.TempPathFactory, fake_embedder) -> SearchService:
    folder = tmp_path_factory.mktemp("turbines")
    records = [
        {"id": i, "title": f"Report {i}", "text": text, "publication": publication}
        | ({"author": author} if author else {})
        | ({"published": published} if published else {})
        for i, publication, author, published, text in TURBINE_ARTICLES
    ]
    source = write_jsonl(folder / "articles.jsonl", records)
    build_index([source], folder / "index", fake_embedder)
    return SearchService(folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE})


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fake_embedder) -> SearchService:
    folder = tmp_path_factory.mktemp("facets")
    build_index([write_articles(folder / "articles.jsonl", 60)], folder / "index", fake_embedder)
    return SearchService(folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE})


ALL = "publication,author,year"


def _facets(service: SearchService, **filters: str) -> dict[str, dict[str, int]]:
    asked = {"facets": ALL, **filters}
    return service.search("turbine", 10, mode="keyword", filters=asked).facets


def test_counts_are_articles_among_the_matches(turbines: SearchService) -> None:
    facets = _facets(turbines)
    # Most first, ties by value; t4 has no author and no date, so it counts in neither.
    assert list(facets["publication"].items()) == [
        ("Harbor Ledger", 2),
        ("Prairie Signal", 2),
        ("The Civic Lantern", 1),
    ]
    assert list(facets["author"].items()) == [("Ana Ruiz", 2), ("Ben Okoro", 1), ("Chen Wei", 1)]
    assert list(facets["year"].items()) == [("2020", 2), ("2019", 1), ("2021", 1)]


def test_a_filtered_facet_keeps_its_other_values(turbines: SearchService) -> None:
    unfiltered = _facets(turbines)
    by_publication = _facets(turbines, publication="Prairie Signal")
    # The publication facet is counted without the publication filter; the others with it
    # (t3 and t4: one author, one dated).
    assert by_publication["publication"] == unfiltered["publication"]
    assert by_publication["author"] == {"Ana Ruiz": 1}
    assert by_publication["year"] == {"2020": 1}
    by_year = _facets(turbines, published_from="2020", published_to="2020")
    assert by_year["year"] == unfiltered["year"]
    assert by_year["publication"] == {"Harbor Ledger": 1, "Prairie Signal": 1}
    assert by_year["author"] == {"Ana Ruiz": 1, "Ben Okoro": 1}


def test_facets_in_json_and_as_links(service: SearchService) -> None:
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    url = "/api/search?q=tidal+turbines+harbour&publication=Harbor+Ledger"
    answer = client.get(f"{url}&facets={ALL}").get_json()
    assert list(answer["facets"]) == ["publication", "author", "year", "language"]
    assert "Prairie Signal" in answer["facets"]["publication"]
    assert all(r["article"]["publication"] == "Harbor Ledger" for r in answer["results"])
    html = client.get("/?q=tidal+turbines+harbour&publication=Harbor+Ledger").data.decode()
    assert 'href="/?q=tidal+turbines+harbour&amp;publication=Prairie+Signal"' in html
    assert 'class="selected"' in html and 'aria-label="remove the publication filter"' in html
    year = next(iter(answer["facets"]["year"]))
    assert f"published_from={year}&amp;published_to={year}" in html


def test_facets_are_counted_only_when_asked(turbines: SearchService) -> None:
    client = create_app({"TESTING": True, "SEARCH_SERVICE": turbines}).test_client()
    unasked = client.get("/api/search?q=turbine&mode=keyword").get_json()
    assert unasked["facets"] == {"publication": {}, "author": {}, "year": {}, "language": {}}
    asked = client.get("/api/search?q=turbine&mode=keyword&facets=year").get_json()
    assert asked["facets"] == {
        "publication": {},
        "author": {},
        "year": {"2020": 2, "2019": 1, "2021": 1},
        "language": {},
    }
    body = {"q": "turbine", "mode": "keyword", "facets": ["author", "publication"]}
    both = client.post("/api/search", json=body).get_json()["facets"]
    assert both["author"] == {"Ana Ruiz": 2, "Ben Okoro": 1, "Chen Wei": 1}
    assert both["year"] == {} and len(both["publication"]) == 3
    bad = client.get("/api/search?q=turbine&facets=yeer").get_json()
    assert bad["status"] == 400 and "facets must be names from" in bad["error"]


def test_no_match_has_empty_facets(service: SearchService) -> None:
    result = service.search("tidal", 5, filters={"publication": "Nobody"})
    assert result.hits == [] and result.facets == {
        "publication": {},
        "author": {},
        "year": {},
        "language": {},
    }


def test_count_facet_ranks_and_caps() -> None:
    facts = [ArticleFacts(f"a{i}", f"P{i % 30}", None, f"{2000 + i % 3}-01") for i in range(90)]
    facts.append(facts[0])  # the same article twice counts once
    publications = count_facet("publication", facts)
    assert len(publications) == FACET_VALUES and set(publications.values()) == {3}
    assert list(publications)[:2] == ["P0", "P1"]
    assert count_facet("author", facts) == {}
    assert count_facet("year", facts) == {"2000": 30, "2001": 30, "2002": 30}


def test_date_order_keeps_relevance_among_equal_dates() -> None:
    facts = {
        1: ArticleFacts("a", None, None, "2019-05"),
        2: ArticleFacts("b", None, None, None),
        3: ArticleFacts("c", None, None, "2021"),
        4: ArticleFacts("d", None, None, "2019-05"),
    }
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    assert [c for c, _ in date_ordered(ranked, facts, newest=True)] == [3, 1, 4, 2]
    assert [c for c, _ in date_ordered(ranked, facts, newest=False)] == [1, 4, 3, 2]
