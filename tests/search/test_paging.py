"""Pages of results (page, has_next, the depth limit), date order and strong/weak marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.errors import BadQueryError
from semsearch.index.build.builder import build_index
from semsearch.search.query import MAX_DEPTH, validate_query
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.synthetic import write_articles


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fake_embedder) -> SearchService:
    folder = tmp_path_factory.mktemp("paging")
    build_index([write_articles(folder / "articles.jsonl", 80)], folder / "index", fake_embedder)
    return SearchService(folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE})


@pytest.fixture()
def client(service: SearchService):
    return create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()


def _ids(result) -> list[tuple[str, int]]:
    return [(hit.article.id, hit.passage.chunk_id) for hit in result.hits]


@pytest.mark.parametrize("group", [None, "article"])
@pytest.mark.parametrize("sort", ["relevance", "newest"])
def test_pages_together_are_the_deep_list(service: SearchService, group, sort) -> None:
    params = {"q": "tram strike drivers wages", "group": group, "sort": sort}
    deep = service.search(validate_query({**params, "k": 24}))
    assert len(deep.hits) == 24
    pages = [service.search(validate_query({**params, "k": 6, "page": n})) for n in range(1, 5)]
    together = [key for page in pages for key in _ids(page)]
    assert together == _ids(deep)
    assert len(set(together)) == len(together)  # no hit twice
    assert all(page.has_next for page in pages)
    assert [page.page for page in pages] == [1, 2, 3, 4]


def test_last_page_and_past_the_end(service: SearchService) -> None:
    everything = service.search(validate_query({"q": "tram strike", "k": 100, "group": "article"}))
    total = len(everything.hits)
    assert 10 < total < 100 and not everything.has_next
    last = (total + 9) // 10
    page = service.search(validate_query({"q": "tram strike", "group": "article", "page": last}))
    assert len(page.hits) == total - (last - 1) * 10 and not page.has_next
    assert not page.past_end and page.reason is None
    past = service.search(
        validate_query({"q": "tram strike", "group": "article", "page": last + 1})
    )
    assert past.hits == [] and not past.has_next and past.past_end
    assert f"this query has {total} results" in (past.reason or "")


def test_past_the_end_in_json_and_on_the_page(client) -> None:
    answer = client.get("/api/search?q=tram+strike&group=article&page=90").get_json()
    assert answer["results"] == [] and answer["has_next"] is False and answer["page"] == 90
    assert "past the last result" in answer["no_match_reason"]
    page = client.get("/?q=tram+strike&group=article&page=90")
    assert page.status_code == 200
    assert b"past the last result" in page.data and b"Back to the first page" in page.data


def test_next_and_previous_links(client) -> None:
    html = client.get("/?q=tram+strike&k=5&page=2").data.decode()
    assert 'class="previous"' in html and "k=5&amp;page=3" in html
    assert 'href="/?q=tram+strike&amp;k=5"' in html  # page 1 has no page parameter
    first = client.get("/?q=tram+strike&k=5").data.decode()
    assert 'class="previous"' not in first and 'class="next"' in first


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, f"page must be an integer from 1 to {MAX_DEPTH}"),
        ({"page": "two"}, "page must be an integer"),
        ({"page": "11", "k": "100"}, f"results go {MAX_DEPTH} deep at most"),
        ({"sort": "date"}, "sort must be one of relevance, newest, oldest"),
        ({"infer_dates": "maybe"}, "infer_dates must be true or false"),
    ],
)
def test_bad_page_and_sort_are_400(client, params, message) -> None:
    with pytest.raises(BadQueryError, match=message):
        validate_query({"q": "tram", **params})
    answer = client.get("/api/search", query_string={"q": "tram", **params})
    assert answer.status_code == 400 and message in answer.get_json()["error"]


def test_deepest_page_is_allowed(client) -> None:
    answer = client.get(f"/api/search?q=tram&k=10&page={MAX_DEPTH // 10}").get_json()
    assert answer["ok"] and answer["has_next"] is False


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_date_sort_orders_the_matches_with_undated_last(service: SearchService, order) -> None:
    query = {"q": "bridge repair cables", "k": 60, "group": "article"}
    by_relevance = service.search(validate_query(query))
    by_date = service.search(validate_query({**query, "sort": order}))
    dates = [hit.article.published for hit in by_date.hits]
    dated = [d for d in dates if d]
    assert dated == sorted(dated, reverse=order == "newest")
    assert None in dates and dates[dates.index(None) :] == [None] * dates.count(None)
    # The same matches, reordered: nothing from outside the relevant set.
    relevant = {hit.article.id for hit in by_relevance.hits}
    assert {hit.article.id for hit in by_date.hits} <= relevant | set()
    assert all(hit.article.title.startswith("Bridge") for hit in by_date.hits[:10])


def test_strength_marks_strong_then_weak(service: SearchService, client) -> None:
    result = service.search("tram strike drivers union wages depot", 40, group="article")
    marks = [hit.strength for hit in result.hits]
    assert marks[0] == "strong" and "weak" in marks
    # In relevance order the strong ones come first: one boundary.
    assert marks == sorted(marks, key=lambda m: m != "strong")
    answer = client.get("/api/search?q=tram+strike+drivers+union+wages+depot&k=40").get_json()
    assert list(answer["results"][0])[-1] == "strength"
    assert {r["strength"] for r in answer["results"]} == {"strong", "weak"}
    html = client.get("/?q=tram+strike+drivers+union+wages+depot&k=40").data.decode()
    assert "Weaker matches" in html and 'class="results weak"' in html


def test_json_keys_are_added_at_the_end(client) -> None:
    answer = client.get("/api/search?q=tram").get_json()
    assert list(answer)[-8:] == [
        "sort", "page", "has_next", "facets", "query_language", "spelling",
        "understood_as", "recency",
    ]  # fmt: skip
    assert list(answer)[:10] == [
        "ok", "query", "k", "mode", "group", "filters", "took_ms", "index", "results",
        "no_match_reason",
    ]  # fmt: skip


def test_cli_pages_sorts_and_marks(runner, demo_index: Path) -> None:
    from semsearch.cli import cli

    base = ["query", "--index", str(demo_index), "--model", "hashing-256", "-k", "3"]
    first = runner.invoke(cli, [*base, "the harbour and the city council"])
    assert first.exit_code == 0, first.output
    assert "page 1)" in first.output and "More: --page 2" in first.output
    second = runner.invoke(cli, [*base, "--page", "2", "the harbour and the city council"])
    assert second.exit_code == 0 and "page 2)" in second.output
    assert "\n4. [" in second.output  # ranks go on from the first page
    weak = runner.invoke(cli, [*base[:-1], "30", "sourdough rye starter fermentation"])
    assert "-- weaker matches --" in weak.output
    # The date words stay in the searched text (issue 21): with the fake embedder "bridge
    # repairs since 2018" alone falls under the no-match threshold.
    dated = runner.invoke(cli, [*base, "--sort", "newest", "swing bridge repairs since 2018"])
    assert "Dates read from the query: since 2018 first" in dated.output
    assert "newest" in dated.output
    off = runner.invoke(cli, [*base, "--no-infer-dates", "bridge repairs since 2018"])
    assert "Dates read" not in off.output
    bad = runner.invoke(cli, [*base, "--page", "0", "tram"])
    assert bad.exit_code == 1 and "page must be an integer" in bad.output


class SlowClock:
    """perf_counter for the budget module: each reading one second after the last,
    so that every check of a deadline finds it passed (no test waits on a real clock)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_search_past_its_time_budget_is_a_503_saying_so(
    tmp_path_factory: pytest.TempPathFactory, fake_embedder, monkeypatch
) -> None:
    from semsearch.errors import SearchTimeoutError
    from semsearch.search import budget

    folder = tmp_path_factory.mktemp("budget")
    build_index([write_articles(folder / "articles.jsonl", 20)], folder / "index", fake_embedder)
    limited = SearchService(
        folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE, "search_timeout_ms": 500}
    )
    unlimited = SearchService(
        folder / "index", fake_embedder, {"min_score": FAKE_MIN_SCORE, "search_timeout_ms": 0}
    )
    monkeypatch.setattr(budget, "perf_counter", SlowClock())
    with pytest.raises(SearchTimeoutError, match=r"time budget \(500 ms\)"):
        limited.search("tram strike drivers", 5)
    assert len(unlimited.search("tram strike drivers", 5).hits) == 5
    client = create_app({"TESTING": True, "SEARCH_SERVICE": limited}).test_client()
    response = client.get("/api/search?q=tram+strike&k=5")
    assert response.status_code == 503
    assert response.get_json()["error"].startswith(
        "this search took longer than its time budget (500 ms) and was given up"
    )


def test_bounded_scores_are_strong_nearer_the_best() -> None:
    """Bounded fusion's scores start at "no evidence", not at the worst candidate's score,
    so they lie closer to the best: strong from 0.85 of it, against 0.8 for min-max scores
    (each share the best F2 on the judged sets; docs/relevance.md, "Weak matches")."""
    from semsearch.search.strength import is_strong

    assert is_strong(0.82, 1.0, "hybrid")
    assert not is_strong(0.82, 1.0, "hybrid", bounded=True)
    assert is_strong(0.86, 1.0, "hybrid", bounded=True)
    assert is_strong(0.97, 1.0, "dense", bounded=True)  # dense mode keeps its cosine gap
    assert not is_strong(0.95, 1.0, "dense")
    # An answer under the no-match threshold (a question across scripts) may score below 0:
    # its best hit is still the strong one.
    assert is_strong(-0.1, -0.1, "hybrid", bounded=True)
    assert not is_strong(-0.2, -0.1, "hybrid", bounded=True)
