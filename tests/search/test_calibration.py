"""The "no good match" threshold calibrated at build time, and what the model folder says
(pooling in both config formats, prompts, window), with the hashing fake: no torch."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from semsearch.errors import IndexMismatchError
from semsearch.index.build.builder import build_index
from semsearch.index.embed import (
    Prompts,
    max_seq_tokens_of,
    model_prompts,
    read_pooling,
    resolve_prompts,
)
from semsearch.index.storage.manifest import check_model, read_manifest
from semsearch.search.calibration import OFF_TOPIC, build_calibrator, choose_threshold
from semsearch.search.service import SearchService
from tests.support.fake_embedder import HashingEmbedder


def _folder(tmp_path: Path, pooling: dict[str, object], **files: dict[str, object]) -> Path:
    (tmp_path / "1_Pooling").mkdir(parents=True)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    return tmp_path


def test_pooling_is_read_in_both_config_formats(tmp_path: Path) -> None:
    new = _folder(tmp_path / "new", {"embedding_dimension": 48, "pooling_mode": "mean"})
    old = _folder(
        tmp_path / "old", {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    )
    cls = _folder(tmp_path / "cls", {"pooling_mode": "cls", "include_prompt": False})
    assert read_pooling(new).mode == "mean"
    assert read_pooling(old).mode == "mean"
    assert read_pooling(cls).mode == "cls" and not read_pooling(cls).include_prompt


def test_onnx_export_refuses_what_it_cannot_reproduce(tmp_path: Path) -> None:
    from semsearch.index.embed import OnnxUnsupportedError
    from semsearch.index.embed.onnx import check_exportable

    assert check_exportable(_folder(tmp_path / "a", {"pooling_mode": "mean"})).mode == "mean"
    with pytest.raises(OnnxUnsupportedError, match="pools by max"):
        check_exportable(_folder(tmp_path / "b", {"pooling_mode": "max"}))
    with pytest.raises(OnnxUnsupportedError, match="prompt out of the pooling"):
        check_exportable(_folder(tmp_path / "c", {"pooling_mode": "mean", "include_prompt": False}))


def test_prompts_come_from_the_folder_or_the_settings(tmp_path: Path) -> None:
    e5 = _folder(
        tmp_path / "e5",
        {"pooling_mode": "mean"},
        config_sentence_transformers={"prompts": {"query": "query: ", "passage": "passage: "}},
    )
    assert model_prompts(e5) == Prompts("query: ", "passage: ")
    bge = _folder(
        tmp_path / "bge",
        {"pooling_mode": "cls"},
        config_sentence_transformers={
            "prompts": {"retrieval": "Represent this: "},
            "default_prompt_name": "retrieval",
        },
    )
    assert model_prompts(bge) == Prompts("Represent this: ", "Represent this: ")
    plain = _folder(tmp_path / "plain", {"pooling_mode": "mean"})
    assert model_prompts(plain) == Prompts()
    given = resolve_prompts(plain, {"query_prompt": "q: ", "document_prompt": "d: "})
    assert given == Prompts("q: ", "d: ")
    assert resolve_prompts(e5, {}) == Prompts("query: ", "passage: ")


def test_window_is_read_where_sentence_transformers_6_saves_it(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path / "m", {"pooling_mode": "mean"}, tokenizer_config={"model_max_length": 64}
    )
    assert max_seq_tokens_of(folder) == 64
    unlimited = _folder(
        tmp_path / "u", {"pooling_mode": "mean"}, tokenizer_config={"model_max_length": 10**30}
    )
    assert max_seq_tokens_of(unlimited) == 512


def test_an_index_is_refused_by_a_server_with_other_prompts(demo_index: Path) -> None:
    manifest = read_manifest(_version(demo_index))
    model = manifest.model
    assert "prompts" not in model  # none recorded: the index was embedded without any
    check_model(manifest, model["name"], model["revision"], model["dimension"], Prompts().as_dict())
    with pytest.raises(IndexMismatchError, match=r"prompts query '', document ''.*'query: '"):
        check_model(
            manifest,
            model["name"],
            model["revision"],
            model["dimension"],
            Prompts("query: ", "").as_dict(),
        )


def _version(index: Path) -> Path:
    from semsearch.index.storage.directory import resolve_index_dir

    return resolve_index_dir(index)


def test_threshold_stays_under_the_on_topic_tail() -> None:
    on_topic = np.linspace(0.3, 0.9, 100)
    off_topic = np.linspace(0.0, 0.5, 40)
    threshold, bound = choose_threshold(on_topic, off_topic)
    assert threshold == pytest.approx(np.percentile(on_topic, 5))
    assert bound.startswith("on-topic")
    threshold, bound = choose_threshold(on_topic, off_topic * 0.4)
    assert threshold == pytest.approx(np.percentile(off_topic * 0.4, 75))
    assert bound.startswith("off-topic")


def _collection(path: Path, articles: int = 60) -> None:
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(600)]
    with path.open("w") as handle:
        for i in range(articles):
            topic = rng.sample(vocabulary, 25)
            text = " ".join(" ".join(rng.choices(topic, k=12)).capitalize() + "." for _ in range(6))
            handle.write(json.dumps({"id": f"a{i}", "title": f"Article {i}", "text": text}) + "\n")


def test_build_calibrates_min_score_and_search_uses_it(tmp_path: Path) -> None:
    _collection(tmp_path / "a.jsonl")
    embedder = HashingEmbedder(dimension=256, max_seq_tokens=64)
    report = build_index(
        [tmp_path / "a.jsonl"], tmp_path / "idx", embedder, calibrate=build_calibrator(embedder)
    )
    no_match = report.no_match
    assert no_match is not None
    # Off-topic probes share no word with the collection (the fake's hashed buckets still
    # collide a little), and the collection's own reworded, held-out sentences score above.
    assert no_match["off_topic"]["n"] == len(OFF_TOPIC)
    assert no_match["off_topic"]["median"] < no_match["on_topic"]["median"]
    assert no_match["on_topic_refused"] <= 0.05
    assert no_match["off_topic_refused"] >= 0.5
    service = SearchService(tmp_path / "idx", embedder)
    assert service.manifest.no_match == no_match
    assert service.min_score() == no_match["min_score"]
    assert SearchService(tmp_path / "idx", embedder, {"min_score": 0.9}).min_score() == 0.9
    answers = [service.search(text, 5, mode="dense") for text in OFF_TOPIC]
    refused = [a for a in answers if not a.hits]
    assert len(refused) / len(answers) == pytest.approx(no_match["off_topic_refused"])
    assert all(f"threshold {no_match['min_score']:.2f}" in (a.reason or "") for a in refused)


def test_index_without_calibration_keeps_the_setting(
    demo_index: Path, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEMSEARCH_MIN_SCORE", raising=False)
    service = SearchService(demo_index, fake_embedder)
    assert service.manifest.no_match is None
    assert service.min_score() == 0.25
