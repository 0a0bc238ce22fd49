"""An inferred date re-orders the strong matches; it never removes a hit."""

from __future__ import annotations

from collections.abc import Sequence

from semsearch.search.date_preference import in_range, prefer_in_range
from semsearch.search.dates import may_hold_date

DATES = {1: "2017-05-02", 2: "2019-03", 3: None, 4: "2019-11-30", 5: "2019", 6: "2020-01-01"}


def published_of(chunk_ids: Sequence[int]) -> dict[int, str | None]:
    return {cid: DATES[cid] for cid in chunk_ids}


def test_in_range_reads_prefixes_inclusively() -> None:
    assert in_range("2019-11-30", "2019", "2019")
    # As the SQL filter compares: a bare "2019" sorts before "2019-01".
    assert not in_range("2019", "2019-01", None)
    assert not in_range("2020-01-01", None, "2019")
    assert not in_range(None, "2019", None)
    assert in_range("2017-05-02", None, "2017-05")


def test_ties_at_the_top_put_the_range_first() -> None:
    # Chunks 1, 2 and 3 share the best score; 4 (0.95) is close but not tied.
    ranked = [(1, 1.0), (2, 1.0), (3, 1.0), (4, 0.95), (5, 0.5), (6, 0.4)]
    got = prefer_in_range(ranked, published_of, "2019", "2019", "hybrid")
    assert [cid for cid, _ in got] == [2, 1, 3, 4, 5, 6]
    assert sorted(got) == sorted(ranked)  # nothing lost, scores as they were


def test_a_date_never_lifts_a_weaker_hit() -> None:
    # 2 and 4 are in 2019 but score below the best: the order stays the search's.
    ranked = [(1, 1.0), (2, 0.99), (4, 0.8), (6, 0.4)]
    assert prefer_in_range(ranked, published_of, "2019", None, "hybrid") == ranked
    assert prefer_in_range(ranked, published_of, "2021", None, "hybrid") == ranked
    assert prefer_in_range([], published_of, "2021", None, "hybrid") == []


def test_dense_ties_by_cosine() -> None:
    ranked = [(1, 0.70), (2, 0.70), (4, 0.69)]
    got = prefer_in_range(ranked, published_of, "2019", None, "dense")
    assert [cid for cid, _ in got] == [2, 1, 4]


def test_most_questions_skip_the_date_reader() -> None:
    assert not may_hold_date("what do tidal barrages cost?")
    assert may_hold_date("strikes since 2017")
    assert may_hold_date("last year's strikes")
    assert not may_hold_date("last year's strikes", relative=False)
    assert not may_hold_date("in March of that year", relative=False)
