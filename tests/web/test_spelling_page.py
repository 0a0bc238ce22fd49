"""Did you mean on the page and in the JSON: the correction offered as a link, or the
results for it said so, with a link back to the query as typed."""

from __future__ import annotations

import pytest
from lxml import html

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder

RECORDS = [
    {"id": f"h{i}", "title": f"Harbour {i}", "text": f"Barges dredging the harbour, day {i}."}
    for i in range(3)
] + [{"id": "g", "title": "Gardens", "text": "Roses need pruning in March."}]


@pytest.fixture(scope="module")
def spell_client(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("spelling")
    write_jsonl(folder / "articles.jsonl", RECORDS)
    embedder = HashingEmbedder()
    build_index([folder / "articles.jsonl"], folder / "idx", embedder)
    service = SearchService(folder / "idx", embedder, {"min_score": FAKE_MIN_SCORE})
    yield create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    service.close()


def test_json_says_what_was_answered_for(spell_client) -> None:
    answer = spell_client.get("/api/search?q=harbuor&mode=keyword").get_json()
    assert answer["spelling"] == {"original": "harbuor", "suggestion": "harbour", "applied": True}
    assert answer["query"] == "harbour"
    assert len(answer["results"]) == 3
    as_typed = spell_client.get("/api/search?q=harbuor&mode=keyword&spell=false").get_json()
    assert as_typed["results"] == [] and as_typed["query"] == "harbuor"
    assert as_typed["spelling"] == {
        "original": "harbuor",
        "suggestion": "harbour",
        "applied": False,
    }
    plain = spell_client.get("/api/search?q=harbour&mode=keyword").get_json()
    assert plain["spelling"] is None


def test_a_query_written_with_operators_is_not_corrected(spell_client) -> None:
    """An excluded word or a field scope is not a misspelt word: "-harbuor" must not become
    "-harbour" (which would exclude every match); extra spaces do not count as syntax."""
    excluded = spell_client.get("/api/search?q=harbour+-harbuor&mode=keyword").get_json()
    assert excluded["spelling"] is None
    spaced = spell_client.get("/api/search?q=%20harbuor%20&mode=keyword").get_json()
    assert spaced["spelling"] is not None and spaced["spelling"]["suggestion"] == "harbour"


def test_bad_spell_value_is_a_400(spell_client) -> None:
    response = spell_client.get("/api/search?q=harbuor&spell=maybe")
    assert response.status_code == 400
    assert "spell must be true or false" in response.get_json()["error"]


def test_page_shows_results_for_the_correction_and_the_way_back(spell_client) -> None:
    page = html.fromstring(spell_client.get("/?q=harbuor&mode=keyword").data)
    (line,) = page.cssselect("p.spelling.applied")
    assert line.text_content().startswith("Showing results for harbour; search instead for harbuor")
    (back,) = line.cssselect("a.as-typed")
    assert "q=harbuor" in back.get("href") and "spell=false" in back.get("href")
    assert len(page.cssselect("li.hit")) == 3
    typed = html.fromstring(spell_client.get(back.get("href")).data)
    (offer,) = typed.cssselect("p.spelling a.suggestion")
    assert offer.text == "harbour" and "spell=" not in offer.get("href")
    assert typed.cssselect("li.hit") == []
