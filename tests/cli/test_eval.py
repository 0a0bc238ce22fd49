"""Evaluation: the metrics by hand, `semsearch eval` on a tiny BEIR set, bad files, copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.cli import cli
from semsearch.index.build.builder import build_index
from semsearch.search.evaluate import evaluate, mrr_at, ndcg_at, read_qrels, read_queries, recall_at
from semsearch.search.service import SearchService
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder


def run_eval(runner, index: Path, queries: Path, qrels: Path, *extra: str):
    """`semsearch eval` through click's runner, with the fake model."""
    return runner.invoke(
        cli,
        [
            "eval",
            "--index",
            str(index),
            "--model",
            "hashing-256",
            "--queries",
            str(queries),
            "--qrels",
            str(qrels),
            *extra,
        ],
    )


def test_metrics_by_hand() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], relevant, 10) == pytest.approx(
        (1 / 1.584962500721156) / (1 + 1 / 1.584962500721156)
    )
    assert recall_at(["c", "a"], relevant, 10) == 0.5
    assert mrr_at(["c", "x", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["c"], relevant, 10) == 0.0


def test_eval_on_a_tiny_beir_fixture(tmp_path: Path, runner) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Tides", "text": "Tidal turbines make power from the sea."},
            {"_id": "d2", "title": "Bread", "text": "Rye sourdough needs a long ferment."},
            {"_id": "d3", "title": "Trains", "text": "The tram strike lasted nine days."},
        ],
    )
    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "tidal turbines sea power"},
            {"_id": "q2", "text": "rye sourdough ferment"},
            {"_id": "q3", "text": "unjudged query"},
        ],
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td3\t1\n", encoding="utf-8"
    )
    embedder = HashingEmbedder(dimension=256)
    build_index([corpus], tmp_path / "idx", embedder)
    service = SearchService(tmp_path / "idx", embedder, {"min_score": 0.0})
    report = evaluate(service, read_queries(queries), read_qrels(qrels), "keyword")
    # q1: d1 first (nDCG 1); q2: d2 first, d3 not retrieved (no shared word).
    q2_ndcg = 1.0 / (1.0 + 1.0 / 1.584962500721156)
    assert report.queries == 2
    assert report.ndcg_10 == pytest.approx((1.0 + q2_ndcg) / 2)
    assert report.recall_10 == pytest.approx((1.0 + 0.5) / 2)
    assert report.mrr_10 == pytest.approx(1.0)
    result = run_eval(runner, tmp_path / "idx", queries, qrels, "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert "keyword" in result.output and f"{report.ndcg_10:.4f}" in result.output


def test_eval_reports_bad_files_in_one_line(tmp_path: Path, runner) -> None:
    (tmp_path / "q.jsonl").write_text("{broken\n", encoding="utf-8")
    (tmp_path / "r.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    write_jsonl(tmp_path / "c.jsonl", [{"_id": "d", "text": "some text"}])
    build_index([tmp_path / "c.jsonl"], tmp_path / "idx", HashingEmbedder(dimension=256))
    result = run_eval(runner, tmp_path / "idx", tmp_path / "q.jsonl", tmp_path / "r.tsv")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot read the queries or qrels" in result.output


def test_a_judged_copy_is_credited_to_the_article_indexed_for_it() -> None:
    from semsearch.search.evaluate import credited_to_kept

    owners = {"copy": "kept", "copy2": "kept"}
    assert credited_to_kept({"copy": 1, "other": 2}, owners) == {"kept": 1, "other": 2}
    assert credited_to_kept({"copy": 1, "kept": 2, "copy2": 3}, owners) == {"kept": 3}
    assert credited_to_kept({"a": 1}, {}) == {"a": 1}
