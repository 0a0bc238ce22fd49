"""Facet counts over a query's matches, each facet counted without its own filter."""

from __future__ import annotations

import pytest

from semsearch.index.build.builder import build_index
from semsearch.search.facets import (
    FACET_VALUES,
    ArticleFacts,
    article_facts,
    count_facet,
    date_ordered,
)
from semsearch.search.query import validate_query
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.synthetic import write_articles


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fake_embedder) -> SearchService:
    folder = tmp_path_factory.mktemp("facets")
    build_index([write_articles(folder / "articles.jsonl", 60)], folder / "index", fake_embedder)
    return SearchService(folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE})


def _matched_articles(service: SearchService, **filters: str) -> list:
    """The search's result and its matched articles' facts, read back one by one."""
    query = validate_query({"q": "tidal turbines harbour", **filters})
    result = service.search(query)
    ranking = service._ranked_hits(query)
    with service._db_lock:
        facts = article_facts(service._db, ranking.matched)
    return [result, list({f.article_id: f for f in facts.values()}.values())]


def test_counts_are_articles_among_the_matches(service: SearchService) -> None:
    result, articles = _matched_articles(service)
    facets = result.facets
    assert set(facets) == {"publication", "author", "year", "language"}
    assert sum(facets["publication"].values()) == len([a for a in articles if a.publication])
    assert sum(facets["year"].values()) == len([a for a in articles if a.published])
    counts = list(facets["author"].values())
    assert counts == sorted(counts, reverse=True)
    # Matches, not the collection: the 60 articles are not all counted.
    assert sum(facets["publication"].values()) < 60


def test_a_filtered_facet_keeps_its_other_values(service: SearchService) -> None:
    unfiltered, _ = _matched_articles(service)
    filtered, articles = _matched_articles(service, publication="Prairie Signal")
    # The publication facet is counted without the publication filter...
    assert filtered.facets["publication"] == unfiltered.facets["publication"]
    assert len(filtered.facets["publication"]) > 1
    # ...the others with it: only Prairie Signal's articles.
    assert {a.publication for a in articles} == {"Prairie Signal"}
    assert sum(filtered.facets["author"].values()) == len(articles)
    assert sum(filtered.facets["author"].values()) < sum(unfiltered.facets["author"].values())
    year = next(iter(unfiltered.facets["year"]))
    years = _matched_articles(service, published_from=year, published_to=year)[0]
    assert years.facets["year"] == unfiltered.facets["year"]
    assert sum(years.facets["publication"].values()) == unfiltered.facets["year"][year]


def test_facets_in_json_and_as_links(service: SearchService) -> None:
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    answer = client.get("/api/search?q=tidal+turbines+harbour&publication=Harbor+Ledger").get_json()
    assert list(answer["facets"]) == ["publication", "author", "year", "language"]
    assert "Prairie Signal" in answer["facets"]["publication"]
    assert all(r["article"]["publication"] == "Harbor Ledger" for r in answer["results"])
    html = client.get("/?q=tidal+turbines+harbour&publication=Harbor+Ledger").data.decode()
    assert 'href="/?q=tidal+turbines+harbour&amp;publication=Prairie+Signal"' in html
    assert 'class="selected"' in html and 'aria-label="remove the publication filter"' in html
    year = next(iter(answer["facets"]["year"]))
    assert f"published_from={year}&amp;published_to={year}" in html


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
