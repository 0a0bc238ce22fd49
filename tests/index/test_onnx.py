"""The onnx-int8 backend: export, cache, drift guard, and agreement with the torch reference.

The cache logic is tested fast with a stand-in exporter; the tests marked `slow` export the
packaged model once (a session fixture, in a subprocess with the network blocked, into a temp
cache) and compare it with sentence-transformers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semsearch.errors import ModelLoadError
from semsearch.index.embed import (
    PROBE_TEXTS,
    OnnxEmbedder,
    check_drift,
    load_embedder,
    normalise_rows,
)
from semsearch.index.embed import onnx as onnx_model
from semsearch.index.embed.onnx import (
    CHECK_NAME,
    MIN_COSINE,
    ONNX_NAME,
    RECIPE,
    DriftCheck,
    ModelDriftError,
    ensure_onnx_model,
    file_sha256,
    onnx_model_dir,
)
from tests.conftest import DEMO_ARTICLES, ROOT
from tests.support.fake_embedder import HashingEmbedder

FINGERPRINT = "0123456789abcdef"


def write_cached(folder: Path, payload: bytes = b"onnx model", min_cosine: float = 0.99) -> None:
    """A cache folder as an export leaves it: model file, then its check."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ONNX_NAME).write_bytes(payload)
    check = DriftCheck(
        recipe=RECIPE,
        fingerprint=FINGERPRINT,
        min_cosine=min_cosine,
        mean_cosine=min_cosine,
        probes=len(PROBE_TEXTS),
        threshold=MIN_COSINE,
        onnx_sha256=file_sha256(folder / ONNX_NAME),
        onnx_bytes=len(payload),
        checked_at="2026-01-01T00:00:00Z",
        libraries={},
    )
    (folder / CHECK_NAME).write_text(check.to_json(), encoding="utf-8")


@pytest.fixture()
def exports(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the real exporter by one that writes a good cache entry; lists its calls."""
    calls: list[Path] = []

    def fake_export(model_dir: Path, fingerprint: str, folder: Path) -> None:
        calls.append(folder)
        time.sleep(0.2)  # long enough for a second caller to queue on the lock
        write_cached(folder)

    monkeypatch.setattr(onnx_model, "export_checked_model", fake_export)
    return calls


def test_missing_cache_is_exported_once_then_reused(tmp_path: Path, exports: list[Path]) -> None:
    path, check = ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert path == onnx_model_dir(FINGERPRINT, tmp_path) / ONNX_NAME
    assert check.min_cosine >= MIN_COSINE
    ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert len(exports) == 1


def test_two_callers_at_once_export_once(tmp_path: Path, exports: list[Path]) -> None:
    results: list[Any] = []

    def load() -> None:
        results.append(ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)[0])

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(exports) == 1
    assert len(results) == 2 and results[0] == results[1]


def test_no_export_allowed_and_nothing_cached_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no exported ONNX model.*SEMSEARCH_BACKEND=torch"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)


def test_unfinished_export_is_refused_or_exported_again(
    tmp_path: Path, exports: list[Path]
) -> None:
    folder = onnx_model_dir(FINGERPRINT, tmp_path)
    write_cached(folder)
    (folder / CHECK_NAME).unlink()  # killed between the model and its check
    with pytest.raises(ModelLoadError, match=r"no drift check.*did not finish"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)
    ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert exports == [folder]


def test_truncated_model_file_is_refused_or_exported_again(
    tmp_path: Path, exports: list[Path]
) -> None:
    folder = onnx_model_dir(FINGERPRINT, tmp_path)
    write_cached(folder)
    (folder / ONNX_NAME).write_bytes(b"onnx")
    with pytest.raises(ModelLoadError, match="does not match the checksum"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)
    path, _ = ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert path.read_bytes() == b"onnx model" and exports == [folder]


def test_same_size_corruption_is_caught_by_the_checksum(tmp_path: Path) -> None:
    folder = onnx_model_dir(FINGERPRINT, tmp_path)
    write_cached(folder)
    (folder / ONNX_NAME).write_bytes(b"onnx MODEL")
    with pytest.raises(ModelLoadError, match="checksum"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)


def test_unreadable_check_or_other_recipe_is_not_trusted(
    tmp_path: Path, exports: list[Path]
) -> None:
    folder = onnx_model_dir(FINGERPRINT, tmp_path)
    write_cached(folder)
    (folder / CHECK_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unreadable drift check"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)
    write_cached(folder)
    raw = json.loads((folder / CHECK_NAME).read_text(encoding="utf-8"))
    (folder / CHECK_NAME).write_text(json.dumps({**raw, "recipe": "old"}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="another recipe"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path, export=False)
    ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert exports == [folder]


def test_failed_drift_check_is_refused_without_exporting_again(
    tmp_path: Path, exports: list[Path]
) -> None:
    folder = onnx_model_dir(FINGERPRINT, tmp_path)
    write_cached(folder, min_cosine=0.95)
    with pytest.raises(ModelDriftError, match=r"0\.9500, below 0\.98.*SEMSEARCH_BACKEND=torch"):
        ensure_onnx_model(tmp_path / "model", FINGERPRINT, tmp_path)
    assert exports == []


def test_cache_folder_comes_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path / "c"))
    assert onnx_model_dir("abc") == tmp_path / "c" / "onnx" / "abc"
    monkeypatch.delenv("SEMSEARCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_model_dir("abc") == tmp_path / "xdg" / "semsearch" / "onnx" / "abc"


class RandomEmbedder(HashingEmbedder):
    """A model that has lost its mind: random unit vectors."""

    def __init__(self) -> None:
        super().__init__(dimension=64)
        self.backend = "random"
        self._rng = np.random.default_rng(0)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return normalise_rows(self._rng.normal(size=(len(texts), self.dimension)))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_documents([text])[0]


def test_drift_guard_passes_the_same_model_and_refuses_random_vectors() -> None:
    reference = HashingEmbedder(dimension=64)
    assert check_drift(HashingEmbedder(dimension=64), reference, PROBE_TEXTS) == pytest.approx(1)
    with pytest.raises(ModelDriftError, match="random backend drifts from the hashing"):
        check_drift(RandomEmbedder(), reference, PROBE_TEXTS)


def test_backend_setting_is_checked_and_leaves_the_fake_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEMSEARCH_BACKEND", "onnx-int8")
    fake = load_embedder("hashing-32")
    assert isinstance(fake, HashingEmbedder) and fake.backend == "hashing"
    with pytest.raises(ModelLoadError, match=r"unknown backend 'tensorflow'.*torch, onnx-int8"):
        load_embedder(backend="tensorflow")
    monkeypatch.setenv("SEMSEARCH_BACKEND", "onnx")
    with pytest.raises(ModelLoadError, match="unknown backend 'onnx'"):
        load_embedder()


def test_probe_set_is_varied() -> None:
    lengths = [len(t) for t in PROBE_TEXTS]
    assert min(lengths) > 0 and max(lengths) > 2000  # short queries and past the window
    assert any(not t.isascii() for t in PROBE_TEXTS)
    assert sum(any(c.isdigit() for c in t) for t in PROBE_TEXTS) >= 4


# --- the real model -------------------------------------------------------------------------

BLOCK_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network is blocked in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""


def run_python(script: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env={**inherited, "SEMSEARCH_CACHE": str(cache), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged model exported once, offline, into a temp cache shared by these tests."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    script = BLOCK_NETWORK + textwrap.dedent(
        """
        from semsearch.index.embed import OnnxEmbedder
        embedder = OnnxEmbedder()
        print("CHECK", embedder.drift_check.min_cosine, embedder.drift_check.mean_cosine)
        """
    )
    done = run_python(script, cache, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CHECK" in done.stdout
    return cache


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cache=onnx_cache, export=False)


@pytest.mark.slow
def test_export_records_a_passing_check_beside_the_model(onnx_embedder: OnnxEmbedder) -> None:
    check = onnx_embedder.drift_check
    assert check is not None and check.recipe == RECIPE
    assert check.min_cosine >= MIN_COSINE and check.probes == len(PROBE_TEXTS)
    assert check.fingerprint == onnx_embedder.revision
    assert onnx_embedder.onnx_file.parent.name == onnx_embedder.revision
    assert not list(onnx_embedder.onnx_file.parent.glob(".export-*"))  # no leftovers


@pytest.mark.slow
def test_onnx_agrees_with_torch_on_the_probe_set(
    onnx_embedder: OnnxEmbedder, real_embedder: Any
) -> None:
    lowest = check_drift(onnx_embedder, real_embedder, PROBE_TEXTS)
    assert lowest >= MIN_COSINE
    assert onnx_embedder.drift_check is not None
    assert lowest == pytest.approx(onnx_embedder.drift_check.min_cosine, abs=1e-3)


@pytest.mark.slow
def test_onnx_is_the_same_model_to_the_index(
    onnx_embedder: OnnxEmbedder, real_embedder: Any
) -> None:
    """Same name, revision, dimension, window and word pieces: check_model accepts either."""
    for attribute in ("name", "revision", "dimension", "max_seq_tokens"):
        assert getattr(onnx_embedder, attribute) == getattr(real_embedder, attribute)
    assert (onnx_embedder.backend, real_embedder.backend) == ("onnx-int8", "torch")
    assert onnx_embedder.max_seq_tokens == 256
    text = PROBE_TEXTS[-2]
    assert onnx_embedder.token_offsets(text) == real_embedder.token_offsets(text)


def long_text_with_word_at(embedder: OnnxEmbedder, piece: int, word: str) -> str:
    """About 300 word pieces of plain English with `word` replacing the word at `piece`."""
    base = (
        "the council met on tuesday to discuss the new bridge over the river and the cost "
        "of repairs to the old road near the school "
    ) * 14
    start, end = embedder.token_offsets(base)[piece]
    return base[:start] + word + base[end:]


@pytest.mark.slow
def test_long_inputs_are_cut_at_256_word_pieces_not_128(onnx_embedder: OnnxEmbedder) -> None:
    original = long_text_with_word_at(onnx_embedder, 0, "the")
    assert len(onnx_embedder.token_offsets(original)) > 300
    base = onnx_embedder.encode_query(original)
    # Piece 200 is inside the window ([CLS] + 254 + [SEP]): it must count.
    inside = onnx_embedder.encode_query(long_text_with_word_at(onnx_embedder, 200, "volcano"))
    assert float(base @ inside) < 0.9999
    # Piece 280 is past it: the text is cut before it.
    past = onnx_embedder.encode_query(long_text_with_word_at(onnx_embedder, 280, "volcano"))
    np.testing.assert_array_equal(base, past)


@pytest.mark.slow
def test_a_texts_vector_does_not_depend_on_its_batch(onnx_embedder: OnnxEmbedder) -> None:
    texts = [PROBE_TEXTS[1], PROBE_TEXTS[-1], PROBE_TEXTS[0], PROBE_TEXTS[-4], "rye"]
    batched = onnx_embedder.encode_documents(texts)
    alone = np.stack([onnx_embedder.encode_query(t) for t in texts])
    cosines = np.sum(batched * alone, axis=1)
    assert cosines.min() > 0.999, cosines
    assert np.allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    assert batched.dtype == np.float32 and batched.shape == (5, onnx_embedder.dimension)


@pytest.mark.slow
def test_threads_change_neither_passage_nor_query_vectors(
    onnx_embedder: OnnxEmbedder, onnx_cache: Path
) -> None:
    """Passages run two at a time and queries from many request threads at once: each
    text's vector is what one call alone gives."""
    texts = [*PROBE_TEXTS[:8], "rye"]
    alone = OnnxEmbedder(cache=onnx_cache, export=False, workers=1)
    expected = alone.encode_documents(texts)
    assert onnx_embedder.workers >= 1
    parallel = OnnxEmbedder(cache=onnx_cache, export=False, workers=3).encode_documents(texts)
    np.testing.assert_allclose(parallel, expected, atol=1e-6)
    queries = [alone.encode_query(t) for t in texts]
    results: dict[int, np.ndarray] = {}

    def ask(n: int) -> None:
        for _ in range(5):
            results[n] = onnx_embedder.encode_query(texts[n])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, vector in results.items():
        np.testing.assert_allclose(vector, queries[n], atol=1e-6)
    assert len(results) == len(texts)


@pytest.mark.slow
def test_cached_model_loads_and_answers_without_torch(onnx_cache: Path) -> None:
    script = BLOCK_NETWORK + textwrap.dedent(
        """
        import os, sys, time
        started = time.perf_counter()
        from semsearch.index.embed import load_embedder
        embedder = load_embedder()
        vector = embedder.encode_query("how long did the tram strike last?")
        heavy = sorted(
            m for m in ("torch", "sentence_transformers", "transformers", "onnx")
            if m in sys.modules
        )
        print("BACKEND", embedder.backend, vector.shape, "HEAVY", heavy)
        print("TELEMETRY OFF", os.environ.get("ORT_DISABLE_TELEMETRY") == "1")
        print("SECONDS", round(time.perf_counter() - started, 2))
        """
    )
    done = run_python(script, onnx_cache, SEMSEARCH_BACKEND="onnx-int8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BACKEND onnx-int8 (384,) HEAVY []" in done.stdout, done.stdout
    assert "TELEMETRY OFF True" in done.stdout  # onnxruntime would report usage to Microsoft


@pytest.mark.slow
def test_corrupt_cached_model_is_refused_without_torch(onnx_cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cache"
    shutil.copytree(onnx_cache, copy)
    model = next(copy.glob(f"onnx/*/{ONNX_NAME}"))
    with model.open("r+b") as handle:
        handle.truncate(model.stat().st_size // 2)
    with pytest.raises(ModelLoadError, match="checksum"):
        OnnxEmbedder(cache=copy, export=False)


@pytest.mark.slow
def test_guard_catches_the_128_truncation_trap(
    onnx_embedder: OnnxEmbedder, real_embedder: Any
) -> None:
    """The packaged tokenizer.json cuts at 128: a backend that kept that would drift."""
    trapped = OnnxEmbedder(onnx_file=onnx_embedder.onnx_file)
    trapped._window.enable_truncation(max_length=128)
    with pytest.raises(ModelDriftError, match="onnx-int8 backend drifts from the torch"):
        check_drift(trapped, real_embedder, PROBE_TEXTS)


@pytest.mark.slow
def test_export_refuses_and_remembers_a_broken_quantisation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scale per tensor instead of per channel: the guard must stop it at export, and a
    later load must refuse it from the stored check, without torch and without re-exporting."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def per_tensor(fp32: Path, out: Path) -> None:
        quantize_dynamic(fp32, out, per_channel=False, weight_type=QuantType.QInt8)

    monkeypatch.setattr(onnx_model, "quantise_int8", per_tensor)
    with pytest.raises(ModelDriftError, match="drifts from the reference"):
        OnnxEmbedder(cache=tmp_path)
    checks = list(tmp_path.glob(f"onnx/*/{CHECK_NAME}"))
    assert len(checks) == 1
    assert json.loads(checks[0].read_text(encoding="utf-8"))["min_cosine"] < MIN_COSINE
    monkeypatch.setattr(onnx_model, "export_fp32", None)  # a second export would fail loudly
    with pytest.raises(ModelDriftError, match="SEMSEARCH_BACKEND=torch"):
        OnnxEmbedder(cache=tmp_path)


@pytest.mark.slow
def test_index_built_with_onnx_is_served_by_torch(
    tmp_path: Path, onnx_embedder: OnnxEmbedder, real_embedder: Any
) -> None:
    from semsearch.index.build.builder import build_index
    from semsearch.search.service import SearchService

    build_index([DEMO_ARTICLES], tmp_path / "idx", onnx_embedder)
    question = "how long did the tram strike last?"
    by_onnx = SearchService(tmp_path / "idx", onnx_embedder).search(question, 3, mode="dense")
    by_torch = SearchService(tmp_path / "idx", real_embedder).search(question, 3, mode="dense")
    assert by_onnx.hits[0].article.id == by_torch.hits[0].article.id == "10_ashcombe_tram_strike"
