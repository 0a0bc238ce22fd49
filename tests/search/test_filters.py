"""Filters applied before ranking: dates, publication, author; never starving the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.errors import BadQueryError
from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder


def test_filters_run_before_ranking_and_never_starve(news: SearchService) -> None:
    # Only three articles match, and they rank low without the filter.
    filters = {"author": "cy ode"}
    for mode in ("dense", "keyword", "hybrid"):
        result = news.search(
            "harbour dredging silt tides", 3, mode=mode, group="article", filters=filters
        )
        assert sorted(h.article.id for h in result.hits) == ["n10", "n11", "n9"], mode
    result = news.search(
        "harbour dredging report",
        4,
        group="article",
        filters={"published_from": "2013", "published_to": "2016-06", "publication": "gazette"},
    )
    assert sorted(h.article.id for h in result.hits) == ["n3", "n5"]
    assert result.filters == {
        "published_from": "2013",
        "published_to": "2016-06",
        "publication": "gazette",
    }
    empty = news.search("harbour", 3, filters={"publication": "Nobody"})
    assert empty.hits == [] and empty.reason == "no article matches the filters"


def test_bad_filters_are_rejected(news: SearchService) -> None:
    for filters, message in [
        ({"published_from": "June 2017"}, "YYYY, YYYY-MM or YYYY-MM-DD"),
        ({"published_from": "2018", "published_to": "2017"}, "is after published_to"),
        ({"author": ["x"]}, "author must be a string"),
    ]:
        with pytest.raises(BadQueryError, match=message):
            news.search("harbour", 3, filters=filters)
    with pytest.raises(BadQueryError, match="mode must be one of"):
        news.search("harbour", 3, mode="fuzzy")
    with pytest.raises(BadQueryError, match="group must be one of"):
        news.search("harbour", 3, group="author")


def test_a_filter_that_would_starve_a_post_filter_still_returns_k(tmp_path: Path) -> None:
    """40 strong decoys and 3 weak matches by one author; candidates are few (12), so
    filtering after ranking would return nothing. Filtering first returns all three."""
    records = [
        {
            "id": f"decoy{i}",
            "title": "Harbour harbour",
            "author": "Dee Coy",
            "text": f"Harbour dredging {i} harbour silt harbour tides harbour dredging.",
        }
        for i in range(40)
    ]
    records += [
        {
            "id": f"weak{i}",
            "title": f"Note {i}",
            "author": "Wes Weak",
            "text": f"A short note {i} that mentions the harbour once among other things.",
        }
        for i in range(3)
    ]
    write_jsonl(tmp_path / "a.jsonl", records)
    embedder = HashingEmbedder(dimension=256)
    build_index([tmp_path / "a.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"candidates": 1, "min_score": 0.0})
    for mode in ("dense", "keyword", "hybrid"):
        unfiltered = service.search("harbour dredging silt", 3, mode=mode)
        assert [h.article.author for h in unfiltered.hits] == ["Dee Coy"] * 3
        result = service.search(
            "harbour dredging silt", 3, mode=mode, filters={"author": "Wes Weak"}
        )
        assert sorted(h.article.id for h in result.hits) == ["weak0", "weak1", "weak2"], mode


def test_unicode_filters_ignore_case(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "u.jsonl",
        [
            {
                "id": "z",
                "title": "Germinal",
                "text": "Miners strike in the north.",
                "publication": "Ärzte Zeitung",
                "author": "Émile Zola",
            },
            {
                "id": "o",
                "title": "Other",
                "text": "Miners strike in the south.",
                "publication": "Other",
                "author": "Someone Else",
            },
        ],
    )
    embedder = HashingEmbedder(dimension=64)
    build_index([tmp_path / "u.jsonl"], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0})
    for filters in (
        {"publication": "ärzte zeitung"},
        {"publication": "ÄRZTE ZEITUNG"},
        {"author": "émile"},
        {"author": "ZOLA"},
    ):
        hits = service.search("miners strike", 5, filters=filters).hits
        assert [h.article.id for h in hits] == ["z"], filters
