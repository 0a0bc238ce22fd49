"""A deterministic fake embedder for fast tests: hashed bag of words, no model at all.

`register()` makes model names `hashing-N` (N dimensions, 64 by default) load it, in this
process; `python -m tests.support.cli` is the `semsearch` command with it registered, for
tests that run the CLI in a child process.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from semsearch.index.embed import normalise_rows, register_embedder

_WORD = re.compile(r"\w+|[^\w\s]")


class HashingEmbedder:
    """Hashed bag of lower-cased words.

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


def load_hashing_embedder(name: str) -> HashingEmbedder:
    """The fake for a model name `hashing` or `hashing-N`."""
    _, _, size = name.partition("-")
    return HashingEmbedder(dimension=int(size) if size else 64)


def register() -> None:
    """Let `load_embedder("hashing-N")` return the fake in this process."""
    register_embedder("hashing", load_hashing_embedder)
