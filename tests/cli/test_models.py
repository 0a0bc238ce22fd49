"""A second model end to end: the small random-weights BERT of tests/support/local_model.py,
with its own dimension (48), window (64 word pieces) and prompts, through build, query,
calibration, the ONNX export and the manifest's refusals. Needs torch: marked slow."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from semsearch.errors import IndexMismatchError
from semsearch.index.build.builder import build_index
from semsearch.index.embed import (
    OnnxEmbedder,
    Prompts,
    SentenceTransformerEmbedder,
    load_embedder,
)
from semsearch.search.calibration import build_calibrator
from semsearch.search.service import SearchService
from semsearch.search.tuning import build_tuner
from tests.support import local_model

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo" / "articles"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_model.make_local_model(tmp_path_factory.mktemp("local-model"))


@pytest.fixture(scope="module")
def torch_model(model_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(str(model_dir))


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, torch_model: SentenceTransformerEmbedder
) -> Path:
    out = tmp_path_factory.mktemp("local-index") / "idx"
    build_index(
        [DEMO],
        out,
        torch_model,
        tune=build_tuner(torch_model),
        calibrate=build_calibrator(torch_model),
    )
    return out


def test_the_model_folder_gives_dimension_window_and_prompts(
    torch_model: SentenceTransformerEmbedder,
) -> None:
    assert torch_model.dimension == local_model.DIMENSION
    assert torch_model.max_seq_tokens == local_model.WINDOW
    assert torch_model.prompts == Prompts(local_model.QUERY_PROMPT, local_model.DOCUMENT_PROMPT)
    assert torch_model.pooling.mode == "mean"  # saved in the 6.x format


def test_queries_and_passages_are_encoded_with_their_prompts(
    torch_model: SentenceTransformerEmbedder,
) -> None:
    text = "how do trams work in winter"
    model = torch_model.model
    expected_query = model.encode([local_model.QUERY_PROMPT + text], prompt="")[0]
    expected_document = model.encode([local_model.DOCUMENT_PROMPT + text], prompt="")[0]
    bare = model.encode([text], prompt="")[0]
    query, document = torch_model.encode_query(text), torch_model.encode_documents([text])[0]

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(query, expected_query) > 0.9999
    assert cosine(document, expected_document) > 0.9999
    assert cosine(query, bare) < 0.9999  # the prompt changed the vector


def test_build_records_the_model_and_fits_passages_in_its_window(
    built: Path, torch_model: SentenceTransformerEmbedder
) -> None:
    service = SearchService(built, torch_model)
    manifest = service.manifest
    assert manifest.model["dimension"] == 48
    assert manifest.model["max_seq_tokens"] == 64
    assert manifest.model["prompts"] == {"query": "query: ", "document": "passage: "}
    prompt_pieces = len(torch_model.token_offsets(local_model.DOCUMENT_PROMPT))
    assert manifest.chunker["window_tokens"] == 64 - prompt_pieces - 2
    # Every passage with its title and prompt fits the window: nothing is cut unseen.
    db = service.backend.store.connect()
    try:
        for (text,) in db.execute("SELECT text FROM chunks").fetchall():
            assert len(torch_model.token_offsets(local_model.DOCUMENT_PROMPT + text)) <= 62
    finally:
        db.close()
    answer = service.search("tram strike", 3)
    assert answer.query == "tram strike"


def test_calibration_gives_the_random_model_its_own_threshold(built: Path, torch_model) -> None:
    service = SearchService(built, torch_model)
    no_match = service.manifest.no_match
    assert no_match is not None
    # Random weights put every cosine high: a fixed 0.25 would never refuse anything.
    assert no_match["off_topic"]["min"] > 0.25
    assert no_match["on_topic_refused"] <= 0.06  # the 5th percentile, ties included
    assert no_match["off_topic"]["min"] <= no_match["min_score"] <= no_match["on_topic"]["p5"]
    assert service.min_score() == no_match["min_score"]


def test_a_server_with_other_prompts_refuses_the_index(built: Path, model_dir: Path) -> None:
    other = SentenceTransformerEmbedder(str(model_dir), prompts=Prompts("search: ", "passage: "))
    with pytest.raises(IndexMismatchError, match=r"prompts query 'query: '.*'search: '"):
        SearchService(built, other)


def test_onnx_export_runs_on_the_second_model_and_serves_its_index(
    built: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))
    onnx = load_embedder(str(model_dir), backend="onnx-int8")
    assert isinstance(onnx, OnnxEmbedder)
    assert onnx.drift_check is not None and onnx.drift_check.min_cosine >= 0.98
    assert (onnx.dimension, onnx.max_seq_tokens, onnx.prompts) == (
        48,
        64,
        Prompts("query: ", "passage: "),
    )
    service = SearchService(built, onnx)  # same revision and prompts as the torch build
    assert service.search("tram strike", 3).query == "tram strike"


def test_a_model_onnx_cannot_export_runs_on_torch_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "cache"))
    folder = local_model.make_local_model(tmp_path / "max", pooling="max")
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder(str(folder), backend="onnx-int8")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert "pools by max" in caplog.text and "torch backend instead" in caplog.text
    assert not (tmp_path / "cache").exists()  # nothing was exported


def test_the_cli_builds_evaluates_and_serves_with_the_second_model(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's path with the second model: `semsearch build --model DIR`, `semsearch eval
    --model DIR`, and the web app answering with the query prompt the index was built with."""
    import json

    from click.testing import CliRunner

    from semsearch.cli import cli
    from semsearch.web import create_app

    monkeypatch.setenv("SEMSEARCH_BACKEND", "torch")
    runner = CliRunner()
    out = tmp_path / "idx"
    built = runner.invoke(cli, ["build", str(DEMO), "--out", str(out), "--model", str(model_dir)])
    assert built.exit_code == 0, built.output
    assert "no good match below" in built.output  # calibrated for this model
    (tmp_path / "q.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "tram drivers strike over wages"}) + "\n"
    )
    (tmp_path / "r.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ttram-strike\t1\n")
    scored = runner.invoke(
        cli,
        [
            "eval",
            "--index",
            str(out),
            "--queries",
            str(tmp_path / "q.jsonl"),
            "--qrels",
            str(tmp_path / "r.tsv"),
            "--model",
            str(model_dir),
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert "nDCG@10" in scored.output
    app = create_app({"INDEX_DIR": str(out), "MODEL": str(model_dir), "TESTING": True})
    answer = app.test_client().get("/api/search?q=tram+strike&k=3")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["query"] == "tram strike"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["prompts"] == {"query": "query: ", "document": "passage: "}


def test_prompts_given_on_the_command_line_are_recorded_and_checked(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--query-prompt / --document-prompt set the prompts for a run (here over the model's
    own); the index records them, and a query with other prompts is refused."""
    import json

    from click.testing import CliRunner

    from semsearch.cli import cli

    # The options set these for the whole process: monkeypatch puts them back afterwards.
    monkeypatch.setenv("SEMSEARCH_QUERY_PROMPT", "")
    monkeypatch.setenv("SEMSEARCH_DOCUMENT_PROMPT", "")
    monkeypatch.setenv("SEMSEARCH_BACKEND", "torch")
    runner = CliRunner()
    out = tmp_path / "idx"
    prompts = ["--query-prompt", "search: ", "--document-prompt", "text: "]
    built = runner.invoke(
        cli, ["build", str(DEMO), "--out", str(out), "--model", str(model_dir), *prompts]
    )
    assert built.exit_code == 0, built.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["prompts"] == {"query": "search: ", "document": "text: "}
    ask = ["query", "tram strike", "--index", str(out), "--model", str(model_dir)]
    answered = runner.invoke(cli, [*ask, "--query-prompt", "search: "])
    assert answered.exit_code == 0, answered.output
    monkeypatch.setenv("SEMSEARCH_QUERY_PROMPT", "")
    monkeypatch.setenv("SEMSEARCH_DOCUMENT_PROMPT", "")
    refused = runner.invoke(cli, ask)  # the model's own prompts now: not the index's
    assert refused.exit_code != 0
    assert "prompts" in refused.output
