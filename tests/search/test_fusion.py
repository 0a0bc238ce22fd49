"""Per-query fusion weights: the keyword list's weight scaled by its IDF coverage."""

from __future__ import annotations

import pytest

from semsearch.search.fusion import Fusion, per_query_fusion


def test_full_coverage_keeps_the_collections_fusion() -> None:
    assert per_query_fusion(Fusion("linear", 0.6), 1.0) == Fusion("linear", 0.6)


def test_partial_coverage_moves_weight_to_dense() -> None:
    # keyword 0.4 * 0.5 = 0.2; dense 0.6 / (0.6 + 0.2) = 0.75
    assert per_query_fusion(Fusion("linear", 0.6), 0.5).dense_weight == pytest.approx(0.75)
    # rrf keeps its method and constant
    assert per_query_fusion(Fusion("rrf", 0.5, 30), 0.25) == Fusion("rrf", 0.8, 30)


def test_no_coverage_is_dense_alone_and_keyword_alone_stays() -> None:
    assert per_query_fusion(Fusion("linear", 0.6), 0.0).dense_weight == 1.0
    assert per_query_fusion(Fusion("linear", 0.0), 0.3).dense_weight == 0.0
    assert per_query_fusion(Fusion("linear", 0.0), 0.0).dense_weight == 1.0
