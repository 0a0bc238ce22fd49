"""The benchmark: its synthesised scale-up and, with the real model, one small full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch.bench.runner import (
    SYNTHETIC_MARK,
    SynthesisingEmbedder,
    percentiles,
    read_bench_queries,
    synthetic_articles,
)
from semsearch.index.ingest.articles import Article
from tests.conftest import DEMO_ARTICLES
from tests.support.fake_embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]


def articles() -> list[Article]:
    return [
        Article(
            id=f"a{n}",
            title=f"Title {n}",
            text=" ".join(f"Sentence {n}.{s} about topic {n}." for s in range(9)),
            author=f"Author {n}",
            publication="The Gazette",
            copyright=f"(c) {n}",
        )
        for n in range(5)
    ]


def test_synthetic_articles_mix_real_sentences_and_keep_credits() -> None:
    made = list(synthetic_articles(articles(), 50, seed=1))
    assert len({a.id for a in made}) == 50
    assert all(a.title.startswith(SYNTHETIC_MARK) for a in made)
    assert len({a.text for a in made}) > 40  # new texts, hardly ever the same twice
    source = {a.title: a for a in articles()}
    for article in made:
        original = source[article.title.split("] ", 1)[1]]
        assert article.author == original.author and article.copyright == original.copyright
        assert len(article.text) > len(original.text)  # sentences of another article added
    assert list(synthetic_articles(articles(), 5, seed=1)) == made[:5]  # seeded


def test_only_synthesised_passages_get_synthesised_vectors() -> None:
    real = HashingEmbedder()
    base = real.encode_documents(["rivers and floods", "school budgets", "city council"])
    embedder = SynthesisingEmbedder(real, base, seed=0)
    texts = ["rivers in spate", f"{SYNTHETIC_MARK}1] made up", "council votes"]
    vectors = embedder.encode_documents(texts)
    np.testing.assert_allclose(vectors[[0, 2]], real.encode_documents([texts[0], texts[2]]))
    assert (embedder.embedded, embedder.synthesised) == (2, 1)
    assert np.isclose(np.linalg.norm(vectors[1]), 1.0)
    assert float((base @ vectors[1]).max()) > 0.5  # near the real ones, not random
    assert (embedder.name, embedder.revision, embedder.backend) == (
        real.name,
        real.revision,
        real.backend,
    )


def test_queries_from_beir_text_or_titles(tmp_path: Path) -> None:
    beir = tmp_path / "q.jsonl"
    beir.write_text('{"_id": "1", "text": "first?"}\n{"_id": "2", "text": "second?"}\n')
    lines = tmp_path / "q.txt"
    lines.write_text("one\n\ntwo\n")
    assert read_bench_queries(beir, [], 10) == ["first?", "second?"]
    assert read_bench_queries(lines, [], 1) == ["one"]
    assert sorted(read_bench_queries(None, articles(), 3))[0].startswith("Title")


def test_percentiles() -> None:
    figures = percentiles([float(n) for n in range(1, 101)])
    assert figures["p50_ms"] == pytest.approx(50.5) and figures["p99_ms"] == pytest.approx(99.01)


@pytest.mark.slow
def test_a_small_bench_run_measures_everything(tmp_path: Path) -> None:
    """The whole benchmark, bounded small: real model on both backends, the baseline, a
    scaled index, a real server with 1 and 2 workers under 1 and 4 clients; every figure
    present, no failure."""
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "semsearch", "bench", str(DEMO_ARTICLES)]
    command += ["--work", str(tmp_path / "work"), "--articles", "10", "--scale-to", "1500"]
    command += ["--sample", "8", "--clients", "1,4", "--workers", "1,2", "--http-seconds", "1"]
    command += ["--http-requests", "40", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in (
        "build throughput ratio",
        "in-process hybrid",
        "HTTP hybrid k=10, 1 worker, 4 clients",
        "HTTP hybrid k=10, 2 workers, 4 clients",
    ):
        assert line in done.stdout
    figures = json.loads(out.read_text())
    assert figures["build"]["ratio_to_baseline"] > 0
    assert set(figures["backends"]) == {"onnx-int8", "torch"}
    assert all(b["passages_per_s"] > 0 for b in figures["backends"].values())
    assert figures["scaled"]["synthesised"] > 1000 and figures["scaled"]["reused"] > 0
    assert figures["in_process"]["size"]["chunks"] >= 1200
    assert {"hybrid", "dense", "keyword", "baseline"} <= set(figures["in_process"])
    assert set(figures["server"]) == {"1", "2"}
    for server in figures["server"].values():
        assert server["start_to_ready_s"] > 0
        assert server["memory_mb"]["VmRSS"] > 50 and server["memory_mb"]["Pss"] > 50
        for clients in ("1", "4"):
            http = server["http"][clients]
            assert http["failed"] == 0 and http["requests"] > 0, http
    # Two workers: the gunicorn master's and both workers' memory, shared pages counted once.
    two = figures["server"]["2"]["memory_mb"]
    assert two["Pss"] < two["VmRSS"]
