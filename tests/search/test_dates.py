"""Date words in questions read as date filters; numbers that are not dates left alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from semsearch.search.dates import infer_dates

LABELLED = Path(__file__).resolve().parents[2] / "scripts" / "eval" / "date-queries.tsv"
TODAY = dt.date(2026, 12, 1)


def _labelled() -> list[tuple[str, str | None, str | None]]:
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            query, start, end = line.split("\t")
            rows.append((query, None if start == "-" else start, None if end == "-" else end))
    return rows


CASES = _labelled()
DATED = [case for case in CASES if case[1] or case[2]]
UNDATED = [case[0] for case in CASES if not (case[1] or case[2])]


def test_the_list_has_both_halves() -> None:
    assert len(CASES) >= 40 and len(DATED) >= 20 and len(UNDATED) >= 20


@pytest.mark.parametrize(("query", "start", "end"), DATED)
def test_date_expressions_become_filters(query: str, start, end) -> None:
    found = infer_dates(query, TODAY)
    assert found is not None
    assert (found.published_from, found.published_to) == (start, end)
    assert found.phrase.lower() in " ".join(query.lower().split())


@pytest.mark.parametrize("query", UNDATED)
def test_numbers_that_are_not_dates_are_left_alone(query: str) -> None:
    assert infer_dates(query, TODAY) is None


def test_date_words_leave_the_searched_text() -> None:
    assert infer_dates("what happened to the tram strike since 2020?", TODAY).text == (
        "what happened to the tram strike?"
    )
    # An event named by its year stays in the text: it is what is asked about.
    found = infer_dates("what did the council say before the 2020 election", TODAY)
    assert found.text == "what did the council say before the 2020 election"
    # Nothing but the date: the whole question is searched.
    assert infer_dates("since 2017", TODAY).text == "since 2017"


def test_a_paragraph_is_text_to_match_not_a_question_with_dates() -> None:
    question = "what did the senator's office say in July 2017"
    assert infer_dates(question) is not None
    paragraph = (
        "The office of the senator sent a statement in July 2017 that said the procedure had "
        "gone well, that the family was reviewing further treatment options with the doctors, "
        "and that he was in good spirits and would return to work as soon as he could."
    )
    assert len(paragraph.split()) > 32
    assert infer_dates(paragraph) is None


def test_relative_dates_count_from_the_reference_date() -> None:
    assert infer_dates("strikes last year", dt.date(2019, 3, 4)).published_from == "2018"
    assert infer_dates("strikes this month", dt.date(2019, 3, 4)).published_from == "2019-03"
    assert infer_dates("layoffs last month", dt.date(2019, 1, 9)).published_to == "2018-12"


def test_inverted_range_is_not_a_filter() -> None:
    assert infer_dates("between 2019 and 2015", TODAY) is None


def test_an_inferred_date_is_reported_and_prefers_without_filtering(client) -> None:
    answer = client.get("/api/search?q=bridge+repairs+since+2018&group=article").get_json()
    assert answer["query"] == "bridge repairs since 2018"
    # Not a filter (issue 21): reported under `inferred` only.
    assert answer["filters"] == {"inferred": {"published_from": "2018", "phrase": "since 2018"}}
    # The swing bridge story (2019-04-17) leads; the tram strike (2016) and the naming
    # rights (2017) are still answered, as without the date.
    ids = [r["article"]["id"] for r in answer["results"]]
    assert ids[0] == "01_wexley_street_swing_bridge"
    assert {"10_ashcombe_tram_strike", "07_millbrook_rovers_naming_rights"} <= set(ids)


def test_infer_dates_false_and_explicit_dates_turn_it_off(client) -> None:
    off = client.get("/api/search?q=bridge+repairs+since+2018&infer_dates=false&group=article")
    off = off.get_json()
    assert off["filters"] == {}
    assert any(r["article"]["published"] < "2018" for r in off["results"])
    explicit = client.get("/api/search?q=bridge+repairs+since+2018&published_to=2019").get_json()
    assert explicit["filters"] == {"published_to": "2019"}
    body = client.post("/api/search", json={"q": "tanks before 2020", "infer_dates": False})
    assert body.get_json()["filters"] == {}


def test_false_positives_search_unfiltered(client) -> None:
    for query in ("the 1,500 tanks", "route 66", "a 2-1 win", "3.5 million", "covid-19"):
        answer = client.get("/api/search", query_string={"q": query}).get_json()
        assert "inferred" not in answer["filters"], query


def test_page_offers_to_undo(client) -> None:
    html = client.get("/?q=bridge+repairs+since+2018").data.decode()
    assert "Articles since 2018 first" in html
    assert 'href="/?q=bridge+repairs+since+2018&amp;infer_dates=false"' in html
    undone = client.get("/?q=bridge+repairs+since+2018&infer_dates=false").data.decode()
    assert "Articles since" not in undone


def test_a_collection_without_dates_never_infers_a_date_filter(tmp_path: Path) -> None:
    """An inferred date keeps dated articles only: where none has a date it would empty
    every answer, so it is not read."""
    import json

    from semsearch.index.build.builder import build_index
    from semsearch.search.service import SearchService
    from tests.support.fake_embedder import HashingEmbedder

    records = [
        {"id": f"a{n}", "title": f"Tides {n}", "text": f"Tidal power plans number {n} for the bay."}
        for n in range(3)
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    embedder = HashingEmbedder(dimension=64)
    build_index([tmp_path / "a.jsonl"], tmp_path / "idx", embedder)
    result = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0}).search(
        "tidal power plans since 2017", 3
    )
    assert result.inferred is None and result.hits


def test_the_search_reads_absolute_dates_only() -> None:
    """An archive's "this year" is the story's, not the reader's: the service leaves
    relative phrases in the question."""
    question = "Which creator dressed up as the boast for her costume this year?"
    assert infer_dates(question, dt.date(2026, 12, 1)) is not None
    assert infer_dates(question, dt.date(2026, 12, 1), relative=False) is None
    assert infer_dates("strikes since 2017", relative=False).published_from == "2017"
