"""The FAISS side of an index: exact inner-product search over unit vectors, keyed by chunk id.

Vectors are L2-normalised, so inner product is cosine similarity. FAISS is imported inside
the functions that need it, never at module import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_vector_index(ids: np.ndarray, vectors: np.ndarray, path: Path) -> None:
    """Write an exact (flat) inner-product index whose ids are the chunk ids."""
    import faiss

    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(
        np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
    )
    write_index_object(index, path)


def write_index_object(index: Any, path: Path) -> None:
    """Write a FAISS index object to `path`."""
    import faiss

    faiss.write_index(index, str(path))


def remove_vectors(index: Any, ids: list[int]) -> None:
    """Remove the vectors of these chunk ids from an index loaded in memory."""
    import faiss

    if not ids:
        return
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
    removed = index.remove_ids(selector)
    if removed != len(set(ids)):
        raise ValueError(f"removed {removed} vectors for {len(set(ids))} chunk ids")


def read_vector_index(path: Path) -> Any:
    """Load a FAISS index written by `write_vector_index`."""
    import faiss

    return faiss.read_index(str(path))


def search_vectors(
    index: Any, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The k nearest chunk ids to a unit query vector, with their cosine scores.

    `allowed` (chunk ids) restricts the search inside FAISS, so a filter never starves it."""
    import faiss

    k = min(k, index.ntotal if allowed is None else len(allowed))
    if k <= 0:
        return []
    vector = np.ascontiguousarray(query[None, :], dtype=np.float32)
    if allowed is None:
        scores, ids = index.search(vector, k)
    else:
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        scores, ids = index.search(vector, k, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
