"""The FAISS side of an index: inner-product search over unit vectors, keyed by chunk id.

Vectors are L2-normalised, so inner product is cosine similarity. The index type is chosen
by size (`exact_below`, 25,000 chunks unless the build says otherwise):

- below it, exact search (`IndexIDMap2(IndexFlatIP)`): every vector compared, no tuning;
- from it on, `IVF<nlist>,SQ8`: vectors quantised to one byte a dimension (a quarter of the
  memory) in `nlist` k-means cells, of which a query visits `nprobe`. `nprobe` is set from
  the data: the smallest that finds, on probe queries made from the collection's own
  vectors, at least `TARGET_RECALL` of the exact top 10. The measured recall goes in the
  manifest. An IVF file is memory-mapped when served, so start-up does not read it all.

A filtered query on an IVF index visits every cell (the filter, not the cells, bounds the
work), so a filter never starves the dense list. FAISS is imported inside the functions
that need it, never at module import.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

#: The exact top 10 an IVF index must find on the build's probe queries. Well above the 0.95
#: promised, because probes made from stored vectors are easier than real questions: real
#: questions score a few points under the probes at the same nprobe (docs/benchmarks.md).
TARGET_RECALL = 0.985
#: How far under the recall of visiting every cell a build may settle, when that ceiling
#: is under TARGET_RECALL.
CEILING_MARGIN = 0.002
#: Fewer vectors than this cannot train useful IVF cells: exact search, whatever is asked.
MIN_IVF_VECTORS = 1024
#: Probe queries for measuring recall at build time.
RECALL_PROBES = 500


def write_vector_index(
    ids: np.ndarray, vectors: np.ndarray, path: Path, exact_below: int = 25_000, seed: int = 0
) -> dict[str, Any]:
    """Write the index for these vectors (ids are chunk ids); returns what to record in the
    manifest: the type and, for IVF, nlist, nprobe and the recall measured."""
    import faiss

    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if len(ids) < max(exact_below, MIN_IVF_VECTORS):
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        flat.add_with_ids(vectors, ids)
        write_index_object(flat, path)
        return {"type": "flat"}
    index, info = _build_ivf(ids, vectors, seed)
    write_index_object(index, path)
    return info


def _build_ivf(
    ids: np.ndarray, vectors: np.ndarray, seed: int
) -> tuple[faiss.Index, dict[str, Any]]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)  # training and adding use every core
    count, dimension = vectors.shape
    # About 2·√n cells, a power of two: a query visits a few hundred to a few thousand
    # vectors per cell, and k-means trains on 40 points a cell.
    nlist = 2 ** round(math.log2(max(16.0, 2 * math.sqrt(count))))
    rng = np.random.default_rng(seed)
    train = vectors[rng.choice(count, size=min(count, 40 * nlist), replace=False)]
    index: Any = faiss.index_factory(dimension, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    index.train(train)
    index.add_with_ids(vectors, ids)
    # Probe queries: stored vectors moved about as far as a real question is from its
    # nearest passage (docs/benchmarks.md). Even so they are easier than real questions,
    # hence the margin in TARGET_RECALL.
    picked = vectors[rng.choice(count, size=min(count, RECALL_PROBES), replace=False)]
    noise = rng.normal(0.0, 1.3 / math.sqrt(dimension), picked.shape).astype(np.float32)
    probes = picked + noise
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(dimension)
    exact.add(vectors)
    _, truth_rows = exact.search(probes, 10)
    truth = ids[truth_rows]

    def recall_with(nprobe: int) -> float:
        index.nprobe = nprobe
        _, found = index.search(probes, 10)
        return recall_at_10(found, truth)

    # Quantisation caps recall even when every cell is visited (under TARGET_RECALL at a
    # million chunks): aim a little under that ceiling rather than fall back to a full scan.
    ceiling = recall_with(nlist)
    goal = min(TARGET_RECALL, ceiling - CEILING_MARGIN)
    nprobe, recall = nlist, ceiling
    for candidate in (2**p for p in range(int(math.log2(nlist)))):
        if (measured := recall_with(candidate)) >= goal:
            nprobe, recall = candidate, measured
            break
    index.nprobe = nprobe
    info = {
        "type": "ivf-sq8",
        "nlist": nlist,
        "nprobe": nprobe,
        "recall_at_10": round(recall, 4),
        "recall_all_cells": round(ceiling, 4),
        "recall_probes": len(probes),
    }
    return index, info


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row of `truth` (the exact top 10) that `found` has too."""
    rows = zip(found.tolist(), truth.tolist(), strict=True)
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in rows]))


def write_index_object(index: faiss.Index, path: Path) -> None:
    """Write a FAISS index object to `path`."""
    import faiss

    faiss.write_index(index, str(path))


def read_vector_index(path: Path, mmap: bool = False) -> faiss.Index:
    """Load a FAISS index written by `write_vector_index`. With `mmap`, an IVF index is
    memory-mapped read-only (pages are read as queries touch them); a flat one is read."""
    import faiss

    if mmap:
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass  # this index type cannot be mapped: read it whole
        else:
            _no_prefetch_threads(index)
            return index
    return faiss.read_index(str(path))


def _no_prefetch_threads(index: faiss.Index) -> None:
    """A mapped IVF index reads its cells through `OnDiskInvertedLists`, which by default
    starts 32 threads to prefetch the cells of every search. The pages are already mapped
    (and cached by the kernel once read), so the threads only cost time: without them a
    mapped search is as fast as one over the index read whole into memory
    (docs/benchmarks.md)."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None or ivf.invlists is None:
        return
    lists = faiss.downcast_InvertedLists(ivf.invlists)
    if hasattr(lists, "prefetch_nthread"):
        lists.prefetch_nthread = 0


def stored_vectors(index: faiss.Index, chunk_ids: Sequence[int]) -> np.ndarray | None:
    """The stored vectors of these chunk ids (one row each), or None when the index
    cannot give them back."""
    import faiss

    try:
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None and not ivf.direct_map.type:
            # reconstruct needs it; mapped read-only lists may refuse. Chunk ids start at 1,
            # so the array map (ids 0..ntotal-1 only) fails: a hash table takes any ids.
            ivf.set_direct_map_type(ivf.direct_map.Hashtable)
        rows = [index.reconstruct(int(cid)) for cid in chunk_ids]
    except RuntimeError as exc:
        log.info("stored vectors cannot be read back (%s): re-embedding the passages", exc)
        return None
    return np.asarray(rows, dtype=np.float32)


def pooled_vector(vectors: np.ndarray) -> np.ndarray:
    """One vector for several (an article's passages): their mean, L2-normalised."""
    mean: np.ndarray = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def remove_vectors(index: faiss.Index, ids: list[int]) -> None:
    """Remove the vectors of these chunk ids from an index loaded in memory."""
    import faiss

    if not ids:
        return
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
    removed = index.remove_ids(selector)
    if removed != len(set(ids)):
        raise ValueError(f"removed {removed} vectors for {len(set(ids))} chunk ids")


def one_thread_searches() -> None:
    """One OpenMP thread for the FAISS searches of the calling thread. OpenMP's thread count
    is a setting of each thread (a thread made by Python starts from the process default,
    one per core), so each search sets its own: a server runs one search per request
    thread, and a second OpenMP thread spinning beside each costs more CPU than it saves on
    one query (docs/benchmarks.md, "Where a query's CPU goes"). A build sets every core
    again before it trains or adds (`_build_ivf`)."""
    import faiss

    faiss.omp_set_num_threads(1)


#: The most a float16 copy can move the inner product of two unit vectors (of any
#: dimension): each stored component is rounded to 11 significant bits, a relative error of
#: at most 2**-11, so the product moves by at most 2**-11 * sum |q_i x_i| <= 2**-11 ~ 4.9e-4
#: (Cauchy-Schwarz), plus float32 summation, well under the margin given here. Vectors that
#: are not unit length scale it by their norms (`HalfScan.search`).
HALF_ERROR = 6e-4
#: Candidates a float16 scan takes past the k asked for, to re-score exactly.
HALF_SLACK = 32
#: Fewer vectors than this are scanned in float32: they stay in the CPU's caches, where
#: converting float16 costs more than the memory it saves (2,863 news passages: 0.23 ms
#: float32, 0.26 ms float16).
HALF_FROM = 4096


class HalfScan:
    """Exact top-k search of a flat index (`IndexIDMap2(IndexFlatIP)`) that scans a float16
    copy of its vectors: a flat search reads every vector for every query, and at this size
    reading the memory is the cost (half the bytes: about a third less CPU a SciFact
    query, docs/benchmarks.md). The float16 scan returns k + HALF_SLACK candidates, which
    are re-scored from the float32 vectors; the answer is the float32 search's whenever the
    k-th re-scored candidate beats, by HALF_ERROR, the last candidate's float16 score (no
    vector left out can then outrank it), and the float32 search is run otherwise.
    Equal scores are ordered by position in the index."""

    def __init__(self, index: faiss.Index) -> None:
        import faiss

        self.full = index
        mapped: Any = index  # an IndexIDMap2 (`of`), whose attributes FAISS's stubs lack
        flat: Any = faiss.downcast_index(mapped.index)
        self.ntotal = int(flat.ntotal)
        shape = (self.ntotal, int(flat.d))
        # A view of the float32 vectors inside `index` (kept alive by self.full).
        self.vectors = faiss.rev_swig_ptr(flat.get_xb(), shape[0] * shape[1]).reshape(shape)
        self.ids = faiss.vector_to_array(mapped.id_map).astype(np.int64)
        # The float16 error bound grows with the longest stored vector (1 when normalised).
        longest = float(np.sqrt(np.max(np.einsum("ij,ij->i", self.vectors, self.vectors))))
        self.error = HALF_ERROR * max(1.0, longest)
        self._rows_by_id = np.argsort(self.ids, kind="stable")
        self.half = faiss.IndexScalarQuantizer(
            shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        self.half.add(self.vectors)
        self.fallbacks = 0  # searches the float32 index answered (tests and benchmarks read it)

    @classmethod
    def of(cls, index: faiss.Index, smallest: int = HALF_FROM) -> HalfScan | None:
        """The scan of a flat index of at least `smallest` vectors; None for any other
        (an IVF index quantises already)."""
        import faiss

        if not isinstance(index, faiss.IndexIDMap2) or index.ntotal < max(1, smallest):
            return None
        mapped: Any = index
        inner = faiss.downcast_index(mapped.index)
        return cls(index) if type(inner) is faiss.IndexFlatIP else None

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """What `search_vectors(self.full, query, k, allowed)` answers, up to equal scores'
        order and float32 summation order."""
        import faiss

        one_thread_searches()
        rows_allowed = None if allowed is None else self._rows_of(allowed)
        available = self.ntotal if rows_allowed is None else len(rows_allowed)
        k = min(k, available)
        if k <= 0:
            return []
        wanted = min(available, k + HALF_SLACK)
        vector = np.ascontiguousarray(query[None, :], dtype=np.float32)
        if rows_allowed is None:
            approximate, rows = self.half.search(vector, wanted)
        else:
            selector = faiss.IDSelectorBatch(rows_allowed)  # kept alive while FAISS uses it
            params = faiss.SearchParameters()
            params.sel = selector
            approximate, rows = self.half.search(vector, wanted, params=params)
        found = rows[0] >= 0
        rows, approximate = rows[0][found], approximate[0][found]
        exact = self.vectors[rows] @ vector[0]
        order = np.lexsort((rows, -exact))[:k]
        complete = wanted >= available  # every allowed vector was a candidate
        error = self.error * max(1.0, float(np.linalg.norm(vector)))
        if not complete and exact[order[-1]] < approximate[-1] + error:
            self.fallbacks += 1
            return search_vectors(self.full, query, k, allowed)
        ids, scores = self.ids[rows[order]], exact[order]
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The rows of these chunk ids (those the index holds)."""
        ids = np.asarray(ids, dtype=np.int64)
        place = np.searchsorted(self.ids, ids, sorter=self._rows_by_id)
        place = np.minimum(place, len(self.ids) - 1)
        rows = self._rows_by_id[place]
        return np.ascontiguousarray(rows[self.ids[rows] == ids], dtype=np.int64)


def search_vectors(
    index: faiss.Index, query: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The k nearest chunk ids to a unit query vector, with their cosine scores, searched
    on one thread (`one_thread_searches`).

    `allowed` (chunk ids) restricts the search inside FAISS, so a filter never starves it."""
    import faiss

    one_thread_searches()
    k = min(k, index.ntotal if allowed is None else len(allowed))
    if k <= 0:
        return []
    vector = np.ascontiguousarray(query[None, :], dtype=np.float32)
    ivf = faiss.try_extract_index_ivf(index)
    if allowed is None:
        scores, ids = index.search(vector, k)
    else:
        # A local name keeps the selector alive while FAISS holds a bare pointer to it.
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        params: Any = faiss.SearchParametersIVF() if ivf is not None else faiss.SearchParameters()
        params.sel = selector
        if ivf is not None:
            params.nprobe = ivf.nlist  # every cell: the filter bounds the work, not nprobe
        scores, ids = index.search(vector, k, params=params)
    found = ids[0] != -1
    return list(zip(ids[0][found].tolist(), scores[0][found].tolist(), strict=True))
