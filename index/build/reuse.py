"""Reusing the vectors of the version a build replaces: no passage is embedded twice.

A rebuild from mostly the same inputs (a nightly build of a growing collection, say) makes
mostly the same passages. When the version being replaced was made by the same model
weights, the same backend and the same chunker settings, a passage whose embedded text
(short title + passage) is byte-for-byte the same gets its old vector back instead of a new
trip through the model. The old index must be exact (flat): IVF-SQ8 keeps only quantised
vectors, so its passages are embedded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semsearch.errors import SemsearchError
from semsearch.index.embed import Embedder
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import (
    REUSABLE_FORMATS,
    STORE_NAME,
    VECTORS_NAME,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import read_vector_index
from semsearch.index.text.chunking import Chunker

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class VectorReuse:
    """The previous version's vectors, looked up by the exact text that was embedded."""

    def __init__(self, index: faiss.Index, keys: dict[bytes, int]) -> None:
        self.index = index
        self.keys = keys
        self.hits = 0

    @classmethod
    def from_previous(cls, out: Path, embedder: Embedder, chunker: Chunker) -> VectorReuse | None:
        """Reuse from the version `out` points to, or None when it cannot be trusted to give
        the vectors this build would compute (other weights, backend or chunking)."""
        try:
            version = resolve_index_dir(out)
            # Vectors outlive format changes elsewhere: an upgrade need not embed again.
            manifest = read_manifest(version, formats=REUSABLE_FORMATS)
            made = manifest.model
            if (
                made.get("revision") != embedder.revision
                or made.get("dimension") != embedder.dimension
                or made.get("backend") in (None, "unknown")  # which backend made them?
                or made.get("backend") != getattr(embedder, "backend", "unknown")
                or manifest.chunker != chunker.settings()
                or (manifest.vectors or {}).get("type", "flat") != "flat"
            ):
                return None
            verify_files(version, manifest, names=(VECTORS_NAME, STORE_NAME))
            index = read_vector_index(version / VECTORS_NAME)
        except SemsearchError:
            return None  # nothing there yet, or not usable: embed everything
        reader = StoreReader(version / STORE_NAME)
        keys: dict[bytes, int] = {}
        with contextlib.closing(reader.connect()) as db:
            for chunk in reader.iter_chunks(db):
                keys[_key(chunker.embedding_text(chunk.article["title"], chunk.text))] = (
                    chunk.chunk_id
                )
        log.info("reusing vectors of %d passages of %s where unchanged", len(keys), version)
        return cls(index, keys)

    def get(self, text: str) -> np.ndarray | None:
        """The old vector of exactly this embedded text, or None."""
        chunk_id = self.keys.get(_key(text))
        if chunk_id is None:
            return None
        self.hits += 1
        return np.asarray(self.index.reconstruct(chunk_id), dtype=np.float32)
