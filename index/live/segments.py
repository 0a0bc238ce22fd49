"""A live index's segments: immutable sets of passages with their vectors and word counts.

A segment holds passages in chunk-id order (`ids`), their float32 unit vectors, and the
term frequency of every (passage, index word) pair as a CSC matrix over the segment's own
vocabulary (`indptr`, `rows`, `counts`: word c's passages are rows[indptr[c]:indptr[c+1]]),
with each passage's length in index words. BM25 is computed from these at query time with
the collection's document frequencies and mean length (`keyword_scores`), so a passage
scores the same in any segment, as it would in a one-shot index (docs/live-index.md).

From format 2 a segment also holds its articles' rows (`articles`, a segment of its own
shape): each article of the segment by its *key* (its first chunk id, as the built index's
`keyword-articles/` knows it), its pooled vector and the term frequencies of its title and
whole text, for whole-article evidence (`semsearch.search.articles`). An article's passages
are always in one segment (written together, merged together), so its row lives and dies
with its first passage: tombstoned when that chunk id is, merged with its segment.

A small segment (one write) is kept inline in the store (`to_blob`), committed in the same
transaction as its articles; a merged one is a folder of `.npy` files read memory-mapped,
with an HNSW graph when it is large (`write_folder`). Searching takes `alive`, a flag per
row: tombstoned rows and rows a filter excludes are never ranked.
"""

from __future__ import annotations

import io
import json
import mmap
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from semsearch.index.live.suggestions import (
    SegmentSuggestions,
    read_segment_suggestions,
    suggestion_arrays,
    suggestions_from_arrays,
    write_segment_suggestions,
)
from semsearch.index.storage.manifest import SUGGEST_DIR
from semsearch.index.storage.vectors import one_thread_searches

if TYPE_CHECKING:
    import faiss

#: BM25 parameters: the built index's (`storage.keyword_index`, Lucene's defaults).
K1, B = 1.2, 0.75
GRAPH_NAME = "hnsw.faiss"
#: A merged segment's articles' rows: a folder of the same files inside the segment's.
ARTICLES_DIR = "articles"
_ARRAYS = ("ids", "vectors", "indptr", "rows", "counts", "lengths")
#: HNSW: neighbours per node and the candidates kept while building (docs/live-index.md).
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 160
#: Rows the 8-bit quantizer of a graph learns each dimension's range from.
TRAIN_ROWS = 50_000
#: A graph segment's candidates re-scored exactly from the float vectors, at least.
RESCORE = 100
#: Below this many rows a filtered search of an HNSW segment compares the rows exactly:
#: a graph walk through mostly excluded nodes misses (Qdrant decides the same way).
EXACT_BELOW = 5_000

Ids = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Segment:
    """One immutable segment; `graph` (HNSW over the rows) only for large merged ones."""

    id: int
    ids: Ids
    vectors: npt.NDArray[np.float32]
    indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float32]
    lengths: npt.NDArray[np.float32]
    vocabulary: dict[str, int]
    graph: Any = None  # faiss.Index when present
    #: The segment's articles by key: pooled vectors, whole-article words (format 2 on).
    articles: Segment | None = None
    #: Its articles' titles as suggestions (`semsearch.index.live.suggestions`).
    suggestions: SegmentSuggestions | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, chunk_ids: Ids) -> Ids:
        """The rows of those (sorted) chunk ids that this segment holds."""
        if len(chunk_ids) == 0 or len(self.ids) == 0:
            return np.zeros(0, dtype=np.int64)
        rows = np.searchsorted(self.ids, chunk_ids)
        inside = rows < len(self.ids)
        rows, wanted = rows[inside], chunk_ids[inside]
        found: Ids = rows[self.ids[rows] == wanted].astype(np.int64)
        return found

    def word_rows(self, word: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """The rows holding an index word and its count in each."""
        column = self.vocabulary.get(word)
        if column is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        start, end = int(self.indptr[column]), int(self.indptr[column + 1])
        return self.rows[start:end], self.counts[start:end]


def make_segment(segment_id: int, ids: Ids, vectors: np.ndarray, words: list[list[str]]) -> Segment:
    """A segment of these passages: chunk ids (ascending), vectors and index words."""
    order = np.argsort(ids, kind="stable")
    ids = np.asarray(ids, dtype=np.int64)[order]
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order])
    words = [words[i] for i in order]
    columns: dict[str, list[tuple[int, int]]] = {}
    for row, passage in enumerate(words):
        for word, count in Counter(passage).items():
            columns.setdefault(word, []).append((row, count))
    vocabulary = {word: c for c, word in enumerate(sorted(columns))}
    indptr = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    rows: list[int] = []
    counts: list[int] = []
    for word, c in vocabulary.items():
        pairs = columns[word]
        indptr[c + 1] = indptr[c] + len(pairs)
        rows += [r for r, _ in pairs]
        counts += [n for _, n in pairs]
    return Segment(
        id=segment_id,
        ids=ids,
        vectors=vectors,
        indptr=indptr,
        rows=np.asarray(rows, dtype=np.int32),
        counts=np.asarray(counts, dtype=np.float32),
        lengths=np.asarray([len(w) for w in words], dtype=np.float32),
        vocabulary=vocabulary,
    )


def article_alive(segment: Segment, alive: Mask | None) -> Mask | None:
    """The alive flags of a segment's article rows, from its passages' (None: all alive):
    an article is alive while its first passage, its key, is."""
    if alive is None or segment.articles is None:
        return None
    return np.asarray(alive[segment.rows_of(np.asarray(segment.articles.ids))], dtype=bool)


def segment_words(segment: Segment) -> list[list[str]]:
    """Each row's index words back (as a bag: order is not kept), for a merge."""
    words: list[list[str]] = [[] for _ in range(len(segment))]
    for word, column in segment.vocabulary.items():
        start, end = int(segment.indptr[column]), int(segment.indptr[column + 1])
        for row, count in zip(segment.rows[start:end], segment.counts[start:end], strict=True):
            words[int(row)] += [word] * int(count)
    return words


# --- storage ------------------------------------------------------------------------------


def to_blob(segment: Segment) -> bytes:
    """The segment as one value for the store (a small segment, written with its batch);
    its articles' arrays under an "articles_" prefix."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {}
    for prefix, part in (("", segment), ("articles_", segment.articles)):
        if part is None:
            continue
        arrays |= {prefix + name: getattr(part, name) for name in _ARRAYS}
        words = json.dumps(sorted(part.vocabulary, key=part.vocabulary.__getitem__))
        arrays[prefix + "vocabulary"] = np.frombuffer(words.encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, **(arrays | suggestion_arrays(segment.suggestions)))
    return buffer.getvalue()


def from_blob(segment_id: int, blob: bytes) -> Segment:
    """A segment stored inline (`to_blob`)."""
    parts: dict[str, Segment] = {}
    with np.load(io.BytesIO(blob)) as data:
        suggestions = suggestions_from_arrays(data)
        for prefix in ("", "articles_"):
            if prefix + "ids" not in data:
                continue
            words = json.loads(bytes(data[prefix + "vocabulary"]).decode("utf-8"))
            arrays = {name: data[prefix + name] for name in _ARRAYS}
            parts[prefix] = Segment(
                id=segment_id, vocabulary={w: c for c, w in enumerate(words)}, **arrays
            )
    return replace(parts[""], articles=parts.get("articles_"), suggestions=suggestions)


def write_folder(segment: Segment, folder: Path, graph: bool) -> None:
    """Write a merged segment's files into `folder` (which must not exist), each fsync'd;
    with `graph`, an HNSW graph over its vectors too."""
    import faiss

    folder.mkdir(parents=True, exist_ok=_written_there(segment.vectors, folder))
    if segment.articles is not None:
        write_folder(segment.articles, folder / ARTICLES_DIR, graph=False)
    for name in _ARRAYS:
        array = getattr(segment, name)
        if not _written_there(array, folder):
            np.save(folder / f"{name}.npy", array)
    words = sorted(segment.vocabulary, key=segment.vocabulary.__getitem__)
    (folder / "vocabulary.json").write_text(json.dumps(words), encoding="utf-8")
    if graph and len(segment):
        # The graph walks 8-bit codes of the vectors (a quarter of their float32 bytes, in a
        # merge's memory and a reader's); its candidates are re-scored exactly from
        # `vectors.npy` (`dense_search`), which finds as much of the exact top 10 as float
        # storage does (docs/live-index.md, "Vectors").
        index = faiss.IndexHNSWSQ(
            segment.vectors.shape[1],
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]  # the stubs want a quantizer
            HNSW_M,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        step = max(1, len(segment) // TRAIN_ROWS)
        index.train(np.ascontiguousarray(segment.vectors[::step], dtype=np.float32))
        forget_pages(segment.vectors)  # the sample's stride touched every page of the file
        # Added a block at a time from the file just written, read (not mapped), so the
        # process holds the graph's codes and one block, not the vectors twice.
        for block in _blocks(folder / "vectors.npy"):
            index.add(block)
        faiss.write_index(index, str(folder / GRAPH_NAME))
        del index
    if segment.suggestions is not None:
        write_segment_suggestions(segment.suggestions, folder / SUGGEST_DIR)
        fsync_files(folder / SUGGEST_DIR)
    fsync_files(folder)


def fsync_files(folder: Path) -> None:
    """Make a folder's files and names durable (its subfolders are each fsync'd apart)."""
    for path in folder.iterdir():
        if path.is_dir():
            continue
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(folder)


def _blocks(path: Path, rows: int = 16_384) -> Iterator[npt.NDArray[np.float32]]:
    """A 2-d float32 `.npy` file's rows, a block at a time, read with plain reads."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        assert not fortran and dtype == np.float32 and len(shape) == 2, (shape, dtype)
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            yield np.fromfile(handle, dtype=np.float32, count=count * shape[1]).reshape(
                count, shape[1]
            )


def forget_pages(array: np.ndarray) -> None:
    """Drop a memory-mapped array's pages from this process (the file and the page cache
    keep them): pages a merge has read or written stop counting toward its resident
    memory. Does nothing for an array in anonymous memory."""
    mapping = getattr(array, "_mmap", None)  # numpy's memmap keeps its mmap here
    if mapping is not None and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_DONTNEED)


def _written_there(array: np.ndarray, folder: Path) -> bool:
    """Whether `array` is already a memory-mapped file of `folder` (a merge writes the
    merged vectors straight into it)."""
    filename = getattr(array, "filename", None)
    return filename is not None and Path(filename).parent == folder.absolute()


def read_folder(segment_id: int, folder: Path, graph: bool = True) -> Segment:
    """A merged segment from its folder: arrays memory-mapped, the graph's links read and
    its vectors memory-mapped (only with `graph`: a merge reads the vectors, not the
    graph)."""
    import faiss

    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    words = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
    index: faiss.Index | None = None
    if graph and (folder / GRAPH_NAME).exists():
        # The graph's own copy of the vectors stays in the file, memory-mapped (file pages
        # the kernel may drop), not read into anonymous memory: only the links are.
        index = faiss.read_index(str(folder / GRAPH_NAME), faiss.IO_FLAG_MMAP_IFC)
    articles = None
    if (folder / ARTICLES_DIR).is_dir():
        articles = read_folder(segment_id, folder / ARTICLES_DIR, graph=False)
    return Segment(
        id=segment_id,
        vocabulary={w: c for c, w in enumerate(words)},
        graph=index,
        articles=articles,
        suggestions=read_segment_suggestions(folder / SUGGEST_DIR),
        **arrays,
    )


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (names created or renamed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- search -------------------------------------------------------------------------------


def with_exact_index(segment: Segment) -> Segment:
    """The segment with a FAISS exact index over its vectors when it has no HNSW graph, for
    searching: FAISS's own kernels score a query against a few thousand rows in a tenth of a
    millisecond, numpy's product through this machine's BLAS in tens (docs/live-index.md)."""
    import faiss

    if segment.graph is not None or len(segment) == 0:
        return segment
    flat = faiss.IndexFlatIP(segment.vectors.shape[1])
    flat.add(np.ascontiguousarray(segment.vectors, dtype=np.float32))
    return replace(segment, graph=flat)


def dense_search(
    segment: Segment, query: np.ndarray, depth: int, alive: Mask | None, ef_search: int
) -> tuple[Ids, npt.NDArray[np.float32]]:
    """The best `depth` rows' chunk ids and cosine scores, among the `alive` rows (all rows
    when None), best first: through the segment's FAISS index (`with_exact_index` or the
    HNSW graph, whose 8-bit candidates are re-scored from the float vectors), or exactly over
    the few alive rows of a large filtered segment."""
    import faiss

    one_thread_searches()
    total = len(segment) if alive is None else int(alive.sum())
    depth = min(depth, total)
    if depth <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32)
    hnsw = segment.graph is not None and hasattr(segment.graph, "hnsw")
    if segment.graph is None or (hnsw and alive is not None and total < EXACT_BELOW):
        rows = np.arange(len(segment)) if alive is None else np.flatnonzero(alive)
        scores = np.asarray(segment.vectors[rows] @ query, dtype=np.float32)
        top = _top(scores, depth)
        return segment.ids[rows[top]], scores[top]
    # A quantized graph (8-bit codes) is asked for at least RESCORE candidates, re-scored
    # exactly below; a graph over float vectors scores exactly already.
    quantized = hnsw and not isinstance(segment.graph, faiss.IndexHNSWFlat)
    asked = min(max(depth, RESCORE), total) if quantized else depth
    params: Any = faiss.SearchParametersHNSW() if hnsw else faiss.SearchParameters()  # type: ignore[attr-defined]
    if hnsw:
        params.efSearch = max(ef_search, asked)
    if alive is not None:
        bitmap = np.packbits(alive, bitorder="little")
        # A local name keeps the selector (and its bitmap) alive while FAISS holds pointers.
        selector = faiss.IDSelectorBitmap(len(alive), faiss.swig_ptr(bitmap))
        params.sel = selector
    scores, rows = segment.graph.search(query[None, :], asked, params=params)
    keep = rows[0] >= 0
    if not quantized:
        return segment.ids[rows[0][keep]], scores[0][keep].astype(np.float32)
    found = np.sort(rows[0][keep])  # ascending rows: chunk-id order, for ties
    exact = np.asarray(segment.vectors[found] @ query, dtype=np.float32)
    top = _top(exact, depth)
    return segment.ids[found[top]], exact[top]


def keyword_scores(
    segment: Segment, weights: dict[str, float], mean_words: float, alive: Mask | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The rows that hold some query word, with their BM25 scores: `weights` is each query
    word's idf over the collection, `mean_words` the collection's mean passage length."""
    scores = np.zeros(len(segment), dtype=np.float32)
    if mean_words <= 0:
        return np.zeros(0, dtype=np.int64), scores[:0]
    for word, idf in weights.items():
        rows, counts = segment.word_rows(word)
        if len(rows) == 0:
            continue
        norm = K1 * (1 - B + B * segment.lengths[rows] / mean_words)
        scores[rows] += np.float32(idf) * counts / (counts + norm)
    if alive is not None:
        scores[~alive] = 0
    hit = np.flatnonzero(scores > 0)
    return hit, scores[hit]


def has_all_words(segment: Segment, words: list[str], alive: Mask | None) -> bool:
    """Whether some alive row holds every one of `words`."""
    holding = np.ones(len(segment), dtype=bool) if alive is None else alive.copy()
    for word in words:
        rows, _ = segment.word_rows(word)
        if len(rows) == 0:
            return False
        flag = np.zeros(len(segment), dtype=bool)
        flag[rows] = True
        holding &= flag
        if not holding.any():
            return False
    return bool(holding.any())


def _top(scores: np.ndarray, depth: int) -> npt.NDArray[np.int64]:
    """Positions of the `depth` highest scores, highest first; ties by position (rows are
    in chunk-id order), so the answer does not depend on how segments were merged."""
    if len(scores) > depth:
        threshold = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        picked = np.flatnonzero(scores >= threshold)
    else:
        picked = np.arange(len(scores))
    order: npt.NDArray[np.int64] = picked[np.argsort(-scores[picked], kind="stable")][:depth]
    return order
