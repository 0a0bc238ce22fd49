"""The article-level index: BM25 over each whole article and one pooled vector per article,
the evidence hybrid search weighs alongside the passages (`semsearch.search.articles`).

It lives in `keyword-articles/` in the index directory: the bm25s files over each article's
title and whole clean text (with the passages' word analysis), each article found by its
first chunk id (its *key*, stable across updates like chunk ids), and `pooled_vectors.npy`,
one row per key in key order: the mean of the article's passage vectors, L2-normalised. The
pooled vectors are made when the passage vectors are at hand (a build has them in memory, an
update reads them back from FAISS), never at query time: a served IVF index is mapped
read-only and cannot give vectors back, and an engine would need a round trip per query.
Both backends read the same folder (publish copies it beside the engine's store).

`layout.json` says whether every article's chunk ids run without a gap (`{"contiguous":
true}`, checked when the folder is written; every writer gives an article's chunks
consecutive ids): then a chunk's article key is the greatest key not above its id, found
in the key array, where hybrid search otherwise asks the store for each candidate's key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semsearch.errors import IndexUnavailableError
from semsearch.index.storage.keyword_index import KeywordIndex, keyword_text, write_bm25
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import pooled_vector

POOLED_NAME = "pooled_vectors.npy"
LAYOUT_NAME = "layout.json"
#: Articles whose passage vectors are read and pooled at once.
POOL_BATCH = 2_000

#: Passage vectors by chunk id, one row per id in the order asked.
VectorsOf = Callable[[list[int]], np.ndarray]


def write_article_index(store: Path, folder: Path, vectors_of: VectorsOf) -> None:
    """BM25 over every stored article and its pooled vector into `folder` (articles
    without a chunk are left out)."""
    reader = StoreReader(store)
    with contextlib.closing(reader.connect()) as db:
        articles = db.execute(
            """SELECT min(c.id), a.title, a.text, a.language FROM articles a
               JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY min(c.id)"""
        ).fetchall()
        chunks: dict[str, list[int]] = {}
        for chunk_id, article_id in db.execute("SELECT id, article_id FROM chunks ORDER BY id"):
            chunks.setdefault(article_id, []).append(chunk_id)
    keys = [int(row[0]) for row in articles]
    texts = [keyword_text(row[1], row[2]) for row in articles]
    write_bm25(keys, texts, folder, [row[3] for row in articles])
    groups = [chunks_of for chunks_of in chunks.values()]
    groups.sort(key=lambda ids: ids[0])  # key order, as the BM25 ids
    # Ids are unique, so ranges without a gap cannot overlap: each chunk lies in its
    # article's range, from its key to the next key.
    contiguous = all(ids[-1] - ids[0] == len(ids) - 1 for ids in groups)
    (folder / LAYOUT_NAME).write_text(json.dumps({"contiguous": contiguous}), encoding="utf-8")
    pooled: list[np.ndarray] = []
    for start in range(0, len(groups), POOL_BATCH):
        batch = groups[start : start + POOL_BATCH]
        vectors = vectors_of([cid for ids in batch for cid in ids])
        row = 0
        for ids in batch:
            pooled.append(pooled_vector(vectors[row : row + len(ids)]))
            row += len(ids)
    dimension = pooled[0].shape[0] if pooled else 0
    matrix = np.asarray(pooled, dtype=np.float32).reshape(len(pooled), dimension)
    np.save(folder / POOLED_NAME, matrix)


def vectors_from_arrays(ids: np.ndarray, vectors: np.ndarray) -> VectorsOf:
    """`VectorsOf` over a build's embedded (ids, vectors), in any id order."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]

    def vectors_of(chunk_ids: list[int]) -> np.ndarray:
        wanted = np.asarray(chunk_ids, dtype=np.int64)
        rows = order[np.searchsorted(sorted_ids, wanted)]
        return np.asarray(vectors[rows], dtype=np.float32)

    return vectors_of


class ArticleIndex:
    """A loaded article-level index: whole-article BM25 and the pooled vectors."""

    def __init__(self, folder: Path) -> None:
        self.keyword = KeywordIndex(folder)
        self.keys = np.asarray(self.keyword.chunk_ids, dtype=np.int64)
        try:
            # A plain array over the mapping: indexing a np.memmap builds a memmap per call.
            self.pooled = np.asarray(np.load(folder / POOLED_NAME, mmap_mode="r"))
        except (OSError, ValueError) as exc:
            raise IndexUnavailableError(f"cannot read {folder / POOLED_NAME}: {exc}") from exc
        if len(self.pooled) != len(self.keys):
            raise IndexUnavailableError(f"{folder}: pooled vectors and articles differ; rebuild")
        layout = folder / LAYOUT_NAME
        try:
            self.contiguous = bool(json.loads(layout.read_text(encoding="utf-8"))["contiguous"])
        except FileNotFoundError:  # written before the layout was recorded
            self.contiguous = False
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexUnavailableError(f"cannot read {layout}: {exc}") from exc

    @classmethod
    def open(cls, folder: Path) -> ArticleIndex | None:
        """The folder's index; None where the index has none (built before it, or with an
        article keyword index but no pooled vectors): hybrid then ranks passages alone."""
        if not (folder / POOLED_NAME).is_file():
            return None
        return cls(folder)

    def keys_of(self, chunk_ids: Sequence[int]) -> dict[int, int] | None:
        """Each chunk's article key, from the key array where every article's chunk ids run
        without a gap; None otherwise (the store knows them)."""
        if not self.contiguous or len(self.keys) == 0:
            return None
        ids = np.asarray(chunk_ids, dtype=np.int64)
        rows = np.searchsorted(self.keys, ids, side="right") - 1
        found = rows >= 0
        if not found.all():
            ids, rows = ids[found], rows[found]
        return dict(zip(ids.tolist(), self.keys[rows].tolist(), strict=True))

    def keyword_scores(
        self, query: str, keys: Sequence[int], language: str | None = None
    ) -> list[tuple[int, float]]:
        """Whole-article BM25 of the articles `keys`, best first (those scoring above 0),
        the query analysed in `language` (the index's main language when None)."""
        return self.keyword.search(query, len(keys), keys, language)

    def dense_scores(self, query: np.ndarray, keys: Sequence[int]) -> list[tuple[int, float]]:
        """The cosine of the query with each article's pooled vector, best first."""
        wanted = np.asarray(sorted(set(keys)), dtype=np.int64)
        rows = np.searchsorted(self.keys, wanted)
        inside = rows < len(self.keys)
        rows, wanted = rows[inside], wanted[inside]
        found = self.keys[rows] == wanted
        rows, wanted = rows[found], wanted[found]
        scores = np.asarray(self.pooled[rows], dtype=np.float32) @ query.astype(np.float32)
        order = np.lexsort((wanted, -scores))
        return list(zip(wanted[order].tolist(), scores[order].tolist(), strict=True))
