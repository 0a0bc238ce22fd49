"""The FAISS index chosen by size: exact below the threshold, IVF-SQ8 with measured recall
above it, memory-mapped when served, filters that never starve, removals for updates."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from semsearch.index.storage.vectors import (
    TARGET_RECALL,
    HalfScan,
    read_vector_index,
    recall_at_10,
    remove_vectors,
    search_vectors,
    write_vector_index,
)


def clustered(count: int, seed: int, dimension: int = 64) -> np.ndarray:
    """Unit vectors around the same 40 centres (topics of a collection); `seed` draws
    different points around them."""
    centres = np.random.default_rng(0).normal(size=(40, dimension)).astype(np.float32)
    rng = np.random.default_rng(seed)
    points = centres[rng.integers(0, 40, count)] + rng.normal(size=(count, dimension)).astype(
        np.float32
    )
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = clustered(6000, seed=1)
    ids = np.arange(1000, 1000 + len(vectors), dtype=np.int64)  # chunk ids, not positions
    return ids, vectors


@pytest.fixture(scope="module")
def ivf_path(tmp_path_factory: pytest.TempPathFactory, data) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("ivf") / "vectors.faiss"
    info = write_vector_index(*data, path, exact_below=5000)
    return path, info


def test_small_collections_get_exact_search(tmp_path: Path, data) -> None:
    ids, vectors = data
    info = write_vector_index(ids[:500], vectors[:500], tmp_path / "v.faiss", exact_below=5000)
    assert info == {"type": "flat"}
    index = read_vector_index(tmp_path / "v.faiss", mmap=True)
    assert search_vectors(index, vectors[7], 1)[0] == (int(ids[7]), pytest.approx(1.0))


def test_large_collections_get_ivf_with_measured_recall(ivf_path, data) -> None:
    path, info = ivf_path
    assert info["type"] == "ivf-sq8" and info["recall_at_10"] >= TARGET_RECALL
    assert 1 <= info["nprobe"] < info["nlist"]  # cheaper than visiting every cell
    ids, vectors = data
    # Recall on fresh queries about the same topics, not the build's probes, against
    # exact search.
    queries = clustered(200, seed=99)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, rows = exact.search(queries, 10)
    index = read_vector_index(path, mmap=True)
    assert faiss.try_extract_index_ivf(index).nprobe == info["nprobe"]  # stored in the file
    found = np.array([[i for i, _ in search_vectors(index, q, 10)] for q in queries])
    assert recall_at_10(found, ids[rows]) >= 0.95


def test_mapped_and_read_indexes_answer_alike(ivf_path, data) -> None:
    path, _ = ivf_path
    _, vectors = data
    mapped, loaded = read_vector_index(path, mmap=True), read_vector_index(path)
    for query in vectors[:20]:
        assert search_vectors(mapped, query, 10) == search_vectors(loaded, query, 10)
    # Mapped cells are read in the search's own thread: FAISS's default of 32 prefetch
    # threads a search made a query three times slower (see _no_prefetch_threads).
    lists = faiss.downcast_InvertedLists(faiss.try_extract_index_ivf(mapped).invlists)
    assert isinstance(lists, faiss.OnDiskInvertedLists) and lists.prefetch_nthread == 0


def test_filtered_ivf_search_never_starves(ivf_path, data) -> None:
    """A filter admitting 25 scattered chunks returns all 25 for k=25, although the cells
    the query would visit hold few of them."""
    path, _ = ivf_path
    ids, vectors = data
    index = read_vector_index(path, mmap=True)
    allowed = ids[::240]
    hits = search_vectors(index, vectors[0], 25, allowed)
    assert len(hits) == 25 and {i for i, _ in hits} == set(allowed.tolist())


def test_ivf_supports_the_updates_removals(tmp_path: Path, ivf_path, data) -> None:
    path, _ = ivf_path
    ids, vectors = data
    index = read_vector_index(path)
    remove_vectors(index, [int(ids[3]), int(ids[4])])
    assert index.ntotal == len(ids) - 2
    assert int(ids[3]) not in {i for i, _ in search_vectors(index, vectors[3], 10)}


@pytest.mark.parametrize("mmap", [False, True])
def test_ivf_gives_its_vectors_back_by_chunk_id(ivf_path, data, mmap: bool) -> None:
    """Chunk ids are not positions (they start at 1, or here at 1000), so FAISS's array
    direct map refuses them: publishing and the articles' pooled vectors on update read
    IVF vectors back through a hash-table map (SQ8: close to, not equal to, the originals)."""
    from semsearch.index.storage.vectors import stored_vectors

    ids, vectors = data
    index = read_vector_index(ivf_path[0], mmap=mmap)
    wanted = [int(ids[0]), int(ids[4321]), int(ids[-1])]
    found = stored_vectors(index, wanted)
    assert found is not None
    expected = vectors[[0, 4321, len(ids) - 1]]
    assert np.allclose(found, expected, atol=0.02)


def test_a_search_runs_on_one_openmp_thread_in_any_thread(ivf_path, data) -> None:
    """OpenMP's thread count belongs to each thread: a request thread of a server starts at
    the process default (one per core, here more than one when the machine has two cores),
    and its searches must set their own to one."""
    import os
    import threading

    index = read_vector_index(ivf_path[0], mmap=True)
    seen: dict[str, int] = {}

    def request_thread() -> None:
        seen["before"] = faiss.omp_get_max_threads()
        search_vectors(index, data[1][0], 10)
        seen["after"] = faiss.omp_get_max_threads()

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    if seen["before"] == 1:
        pytest.skip(f"OpenMP's default is one thread here ({os.cpu_count()} cores)")
    assert seen["after"] == 1


def flat_index(ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(vectors, ids)
    return index


def test_the_half_scan_answers_what_the_float32_search_does(data) -> None:
    ids, vectors = data
    index = flat_index(ids, vectors)
    scan = HalfScan.of(index, smallest=1000)
    assert scan is not None
    for query in clustered(60, seed=7):
        for k in (1, 10, 100):
            want = search_vectors(index, query, k)
            got = scan.search(query, k)
            assert [i for i, _ in got] == [i for i, _ in want]
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-6)


def test_the_half_scan_keeps_to_a_filter(data) -> None:
    ids, vectors = data
    index = flat_index(ids, vectors)
    scan = HalfScan.of(index, smallest=1000)
    assert scan is not None
    allowed = np.concatenate([ids[::7], [10**9]])  # and an id the index does not hold
    for query in clustered(20, seed=8):
        want = search_vectors(index, query, 10, allowed)
        got = scan.search(query, 10, allowed)
        assert [i for i, _ in got] == [i for i, _ in want]
    few = ids[:3]
    assert sorted(i for i, _ in scan.search(vectors[0], 10, few)) == sorted(few.tolist())
    assert scan.search(vectors[0], 10, np.asarray([10**9])) == []


def test_the_half_scan_falls_back_when_float16_cannot_tell(data) -> None:
    """Copies of one vector, one of them nudged by less than float16 can hold: the float16
    scores tie, so the scan must not trust them and asks the float32 index."""
    _, vectors = data
    base = vectors[0]
    nudge = np.zeros_like(base)
    nudge[0] = 1e-5
    rows = np.stack([base] * 100 + [base + nudge] + list(vectors[1:2000]))
    ids = np.arange(len(rows), dtype=np.int64)[::-1].copy()  # the nudged copy is not first
    index = flat_index(ids, rows.astype(np.float32))
    scan = HalfScan.of(index, smallest=1)
    assert scan is not None
    got = scan.search(base + nudge, 1)
    assert got == search_vectors(index, base + nudge, 1) and got[0][0] == ids[100]
    assert scan.fallbacks == 1


def test_the_half_scan_is_only_for_large_flat_indexes(ivf_path, data) -> None:
    ids, vectors = data
    assert HalfScan.of(flat_index(ids[:100], vectors[:100])) is None  # below HALF_FROM
    assert HalfScan.of(read_vector_index(ivf_path[0])) is None  # IVF quantises already
    assert HalfScan.of(flat_index(ids, vectors), smallest=len(ids)) is not None
