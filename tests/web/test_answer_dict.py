"""`result_to_dict` writes the answer out by hand for speed: it must be exactly what the
response models dump (`result_model(...).model_dump(mode="json")`), key order included, for
answers of every kind: grouped passages, copies, spelling, dates read from the query,
filters, facets, pages past the end and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.search.query import validate_query
from semsearch.search.service import SearchService
from semsearch.web.models import SearchResponse, result_model, result_to_dict
from tests.conftest import NEWS_EMBEDDER
from tests.support.corpus import write_jsonl

STORY = "The harbour dredging report covers the silt and the tides of the old port. " * 3

NEWS_QUERIES = [
    {"q": "harbour dredging report"},
    {"q": "harbour dredging report", "group": "article", "k": "3"},
    {"q": "harbour festival fireworks", "group": "article"},
    {"q": "harbour report since 2015", "facets": "publication,author,year,language"},
    {"q": "harbour report", "publication": "Gazette", "author": "Ann Lee", "sort": "newest"},
    {"q": "harbour report", "published_from": "2014", "published_to": "2019-12-31"},
    {"q": "harbuor dredgign"},
    {"q": '"dredging report" -festival title:Harbour'},
    {"q": "harbour", "k": "5", "page": "9"},
    {"q": "roses pruning march", "mode": "keyword"},
    {"q": "zzzz qqqq", "mode": "keyword"},
    {"q": "silt and tides", "mode": "dense"},
]


def _same(service: SearchService, params: dict[str, str]) -> dict[str, object]:
    result = service.search(validate_query(params, service.settings))
    by_hand = result_to_dict(result)
    dumped = result_model(result).model_dump(mode="json")
    assert json.dumps(by_hand) == json.dumps(dumped), params
    SearchResponse.model_validate(by_hand)
    return by_hand


@pytest.mark.parametrize("params", NEWS_QUERIES, ids=[json.dumps(p) for p in NEWS_QUERIES])
def test_the_hand_written_answer_is_the_models_dump(news: SearchService, params) -> None:
    _same(news, params)


def test_a_hit_with_copies(tmp_path: Path) -> None:
    records = [
        {"id": "a", "title": "Harbour", "text": STORY, "publication": "Gazette",
         "published": "2015-01-02"},
        {"id": "b", "title": "Harbour", "text": STORY, "publication": "Courier",
         "published": "2015-01-03", "url": "https://courier.example/b"},
    ]  # fmt: skip
    build_index([write_jsonl(tmp_path / "a.jsonl", records)], tmp_path / "idx", NEWS_EMBEDDER)
    service = SearchService(tmp_path / "idx", NEWS_EMBEDDER, {"min_score": 0.05})
    answer = _same(service, {"q": "harbour dredging silt"})
    article = answer["results"][0]["article"]  # type: ignore[index]
    assert article["copies"] == [
        {"publication": "Courier", "url": "https://courier.example/b", "published": "2015-01-03"}
    ]


def test_the_queries_cover_every_part_of_an_answer(news: SearchService) -> None:
    """The cases above reach what could differ: grouped passages, spelling, dates read from
    the query, facets, filters, a page past the end and a refusal (copies: the test before)."""
    answers = [_same(news, p) for p in NEWS_QUERIES]
    hits = [h for a in answers for h in a["results"]]  # type: ignore[attr-defined]
    assert any(h.get("also") for h in hits)
    assert any(a["spelling"] for a in answers)
    assert any(a["filters"].get("inferred") for a in answers)  # type: ignore[attr-defined]
    assert any(any(a["facets"].values()) for a in answers)  # type: ignore[attr-defined]
    assert any(not a["results"] and a["no_match_reason"] for a in answers)
