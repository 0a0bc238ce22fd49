"""recency=HALF_LIFE: scores decayed by age before the newest candidate, undated at one
half-life; validation of the half-life; the index-wide default. The news fixture's twelve
reports are dated 2010-06-15 (n0) to 2021-06-15 (n11), a year apart; expectations by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.errors import BadQueryError
from semsearch.search.query import validate_query
from semsearch.search.recency import decayed, half_life_days
from semsearch.search.service import SearchService
from tests.conftest import NEWS_EMBEDDER


def test_decay_halves_per_half_life_and_undated_take_one() -> None:
    dates = {1: "2020-01-01", 2: "2021-01-01", 3: None, 4: "2020"}

    def published_of(ids):
        return {i: dates[i] for i in ids}

    # 2020-01-01 to 2021-01-01 is 366 days: one half-life. 2020 is read as 2020-07-02,
    # 183 days before the origin: a factor of 0.5 ** 0.5.
    ranked = [(1, 1.0), (2, 0.9), (3, 0.8), (4, 0.1)]
    out = decayed(ranked, published_of, 366.0)
    assert [cid for cid, _ in out] == [2, 1, 3, 4]
    assert [round(score, 4) for _, score in out] == [0.9, 0.5, 0.4, round(0.1 * 0.5**0.5, 4)]


def test_negative_scores_never_gain_with_age() -> None:
    dates = {1: "2020-01-01", 2: "2021-01-01"}
    out = decayed([(2, -0.1), (1, -0.1)], lambda ids: {i: dates[i] for i in ids}, 366.0)
    assert [(cid, round(score, 6)) for cid, score in out] == [(2, -0.1), (1, -0.2)]


@pytest.mark.parametrize(
    ("value", "days"),
    [("30d", 30.0), ("2w", 14.0), ("2y", 730.485), (" 6M ", 182.62125), ("off", None)],
)
def test_half_lives(value: str, days: float | None) -> None:
    assert half_life_days(value) == days


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0d", "longer than zero"),
        ("-5y", "a half-life such as 30d"),
        ("10000y", "at most 100y"),
        ("soon", "a half-life such as 30d"),
        ("30", "a half-life such as 30d"),
        ("1.5y", "a half-life such as 30d"),
        ("9" * 40 + "d", "a half-life such as 30d"),
    ],
)
def test_bad_half_lives_are_bad_queries(value: str, message: str) -> None:
    with pytest.raises(BadQueryError, match=message):
        validate_query({"q": "harbour", "recency": value})


def _order(service: SearchService, **params: str) -> list[str]:
    query = validate_query(
        {"q": '"silt and tides"', "k": 12, "group": "article", **params}, service.settings
    )
    return [hit.article.id for hit in service.search(query).hits]


def test_a_short_half_life_puts_the_newest_first(news: SearchService) -> None:
    # A day's half-life: a year older costs a factor of 2 ** -365, more than any
    # difference in relevance among twelve near-identical reports.
    assert _order(news, recency="1d") == [f"n{i}" for i in range(11, -1, -1)]
    # sort=newest stays an order by date, recency or not.
    assert _order(news, sort="newest") == [f"n{i}" for i in range(11, -1, -1)]


def test_the_index_wide_default_and_off(news_index: Path) -> None:
    service = SearchService(news_index, NEWS_EMBEDDER, {"min_score": 0.05, "recency": "1d"})
    try:
        assert _order(service) == [f"n{i}" for i in range(11, -1, -1)]
        # The default applied is echoed; "off" echoes none.
        assert service.search("silt", 3).recency == "1d"
        assert service.search(validate_query({"q": "silt", "recency": "off"})).recency is None
        plain = SearchService(news_index, NEWS_EMBEDDER, {"min_score": 0.05})
        try:
            assert _order(service, recency="off") == _order(plain)
        finally:
            plain.close()
    finally:
        service.close()


def test_a_bad_default_fails_at_load(news_index: Path) -> None:
    with pytest.raises(ValueError, match="at most 100y"):
        SearchService(news_index, NEWS_EMBEDDER, {"recency": "200y"})


def test_cli_takes_recency_and_says_how_it_read_the_query(runner, news_index: Path) -> None:
    from semsearch.cli import cli

    base = ["query", "--index", str(news_index), "--model", "hashing-256", "-k", "2"]
    found = runner.invoke(cli, [*base, "--group", "article", "--recency", "1d", '"silt and tides'])
    assert found.exit_code == 0, found.output
    assert "Understood as: silt and tides" in found.output
    bad = runner.invoke(cli, [*base, "--recency", "0d", "harbour"])
    assert bad.exit_code != 0 and "longer than zero" in bad.output
