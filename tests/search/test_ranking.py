"""Ranking: every mode, grouping, near-duplicates, best sentence, "no good match" and the
rescues under its threshold (an exact match; two lists that agree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from tests.conftest import NEWS_EMBEDDER
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_every_mode_answers(news: SearchService, mode: str) -> None:
    result = news.search("harbour dredging silt", 5, mode=mode)
    assert result.mode == mode and len(result.hits) == 5
    ids = [h.article.id for h in result.hits]
    assert all(i.startswith("n") or i == "copy" for i in ids), ids
    assert not {"n0", "copy"} <= set(ids)  # identical texts: one of them, never both
    if mode == "hybrid":
        assert all(h.dense_score is not None or h.keyword_score is not None for h in result.hits)


def test_group_by_article_lists_other_passages(news: SearchService) -> None:
    result = news.search("harbour festival fireworks boats", 3, mode="keyword", group="article")
    ids = [h.article.id for h in result.hits]
    assert len(ids) == len(set(ids)) == 3
    festival = result.hits[ids.index("long")]
    assert festival.also, "the long article has several matching passages"
    assert all(p.chunk_id != festival.passage.chunk_id for p in festival.also)


def test_near_identical_passages_do_not_fill_the_list(news: SearchService) -> None:
    result = news.search("harbour dredging report number 0 silt tides", 5, mode="keyword")
    ids = [h.article.id for h in result.hits]
    assert ("n0" in ids) != ("copy" in ids), ids  # one of the two identical texts, not both


def test_best_sentence_is_named(news: SearchService) -> None:
    hit = news.search("fireworks over the tides", 1, mode="keyword").hits[0]
    start, end = hit.passage.best_sentence
    assert hit.passage.text[start:end] == (
        "The harbour festival closed with fireworks over the tides."
    )


def test_nothing_relevant_says_so(news: SearchService) -> None:
    keyword = news.search("quantum chromodynamics", 5, mode="keyword")
    assert keyword.hits == [] and "no passage contains" in keyword.reason
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    dense = strict.search("quantum chromodynamics", 5, mode="dense")
    assert dense.hits == [] and "no passage is close enough" in dense.reason


def test_hybrid_answers_an_exact_match_below_the_similarity_threshold(
    news: SearchService,
) -> None:
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    found = strict.search("fireworks harbour", 3, mode="hybrid")
    assert found.hits and found.reason is None  # every query word is in some passage
    assert strict.search("fireworks harbour", 3, mode="dense").hits == []
    # No passage holds "quantum", and the two lists disagree: the keyword list's best is the
    # festival's fireworks, the dense list's a harbour report (the fake embedder hashes
    # "quantum" with one of its words).
    refused = strict.search("fireworks quantum", 3, mode="hybrid")
    assert refused.hits == [] and "no passage is close enough" in refused.reason


def test_hybrid_answers_below_the_threshold_when_its_two_lists_agree(
    news: SearchService,
) -> None:
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    # No passage holds "zeppelin", but the dense and keyword lists both put the gardens
    # article first, and its passage holds the query's two words found only there.
    found = strict.search("roses pruning zeppelin", 3, mode="hybrid")
    if strict.backend.kind == "engine":  # it cannot measure the share of IDF: no rescue
        assert found.hits == [] and "no passage is close enough" in found.reason
        return
    assert found.reason is None and found.hits[0].article.id == "other"
    assert found.hits[0].dense_score is not None  # both lists fused, as above the threshold
    dense = strict.search("roses pruning zeppelin", 3, mode="dense")
    assert dense.hits == [] and "no passage is close enough" in dense.reason


def test_lists_agreeing_on_a_small_share_of_the_query_still_refuse(news_index: Path) -> None:
    # Both lists' best is the gardens article again, but "roses" is one word in four and the
    # three no passage holds weigh the most.
    strict = SearchService(news_index, NEWS_EMBEDDER, {"min_score": 0.99})
    refused = strict.search("roses zeppelin airship blimp", 3, mode="hybrid")
    assert refused.hits == [] and "no passage is close enough" in refused.reason
    assert strict.search("roses pruning zeppelin airship blimp", 3, mode="hybrid").hits


def test_grouping_looks_deeper_when_long_articles_fill_the_candidates(tmp_path: Path) -> None:
    long_text = " ".join(f"The harbour tides report part {i} continues." for i in range(60))
    records = [
        {"id": f"long{i}", "title": "Long", "text": long_text + f" Copy {i}."} for i in range(3)
    ]
    records += [
        {
            "id": f"short{i}",
            "title": f"Short {i}",
            "text": f"Short note {i} about the harbour and other things.",
        }
        for i in range(9)
    ]
    write_jsonl(tmp_path / "g.jsonl", records)
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=24)
    build_index([tmp_path / "g.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0, "candidates": 1})
    for mode in ("dense", "keyword", "hybrid"):
        hits = service.search("harbour tides report", 10, mode=mode, group="article").hits
        assert len({h.article.id for h in hits}) == 10, mode


def test_exact_match_fallback_handles_possessives_and_adds_no_weak_passages(
    news: SearchService,
) -> None:
    strict = SearchService(news.index_path, news.embedder, {"min_score": 0.99})
    result = strict.search("festival's fireworks", 5, mode="hybrid")
    assert result.hits, result.reason
    assert all(h.keyword_score is not None for h in result.hits)  # none on dense alone
