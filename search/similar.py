"""More like this: the articles nearest to one article, from the vectors already stored.

The article is represented by the mean of its passages' stored vectors, normalised: the
whole article, not just its opening (a first passage is often a dateline and a lede that
shares more with other ledes than with the story). The vectors are read back from FAISS
(`reconstruct`, exact for the flat index, the SQ8 codes decoded for IVF); an index that
cannot give them back (an IVF map without a direct map) re-embeds the passages instead.
The article itself and its syndicated copies are left out, and each other article is
listed once, with its closest passage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from semsearch.index.storage.vectors import pooled_vector, search_vectors, stored_vectors

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)


def article_vector(
    index: faiss.Index,
    chunk_ids: Sequence[int],
    encode: Callable[[], np.ndarray],
) -> np.ndarray:
    """The article's vector: its passages' vectors averaged and L2-normalised; `encode`
    embeds the passages when the index cannot give their vectors back."""
    vectors = stored_vectors(index, chunk_ids)
    return pooled_vector(encode() if vectors is None or not len(vectors) else vectors)


def nearest_chunks(
    index: faiss.Index, vector: np.ndarray, depth: int, exclude_chunks: Iterable[int]
) -> list[tuple[int, float]]:
    """The chunks nearest to `vector`, best first, without those of `exclude_chunks`."""
    excluded = set(exclude_chunks)
    found = search_vectors(index, vector, depth + len(excluded))
    return [(cid, score) for cid, score in found if cid not in excluded]


def copy_ids(extra: dict[str, object], copies: Iterable[object] = ()) -> set[str]:
    """The ids of an article's syndicated copies, wherever the store keeps them: the
    `copies` of its reference or `extra["copies"]`, as dicts or objects with an `id`."""
    found: set[str] = set()
    listed = extra.get("copies")
    for copy in [*(listed if isinstance(listed, list) else []), *copies]:
        copy_id = copy.get("id") if isinstance(copy, dict) else getattr(copy, "id", None)
        if copy_id:
            found.add(str(copy_id))
    return found
