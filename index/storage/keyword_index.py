"""Keyword retrieval: BM25 over the passages (title + text), with the `bm25s` library, and
the exact-match question from the same index.

Why not SQLite FTS5, which the store once had: FTS5 computes `bm25()` for every passage that
holds any query word, which grows with the collection; bm25s keeps the BM25 weight of every
(word, passage) pair in a sparse matrix computed at build time, so a query is a few column
sums, with the same relevance (docs/benchmarks.md, "Keyword ranking"; docs/relevance.md). A
column of that matrix is also a word's inverted list (the passages holding it), which answers
"does some passage hold every query word" and the build's document frequencies; so there is
one keyword index, not two.

Words are `semsearch.index.text.analysis` index words (folded, stop words out, Snowball
stems), each passage's in its article's language; `stats.json` records the passages per
language, and a query is analysed in the language it is asked in (the index's main language
when none is given). An index without that record (before format 6) was analysed as English
throughout, and its queries are too. The index is written beside the store (`keyword/`),
memory-mapped when served, and rebuilt from the store on every update (its cost:
docs/benchmarks.md, "Builds and updates").
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from semsearch.errors import IndexUnavailableError
from semsearch.index.storage.store import StoreReader
from semsearch.index.text.analysis import (
    ENGLISH,
    analysed_language,
    bm25s_library,
    index_words,
    query_words,
)
from semsearch.index.text.languages import main_language

if TYPE_CHECKING:
    from scipy import sparse

#: BM25 parameters (Lucene's defaults, as FTS5 and Anserini use).
K1, B = 1.2, 0.75
CHUNK_IDS_NAME = "chunk_ids.npy"
#: The collection's statistics that the matrix does not keep (its mean length in words), so
#: a text outside the index can be scored as if it were in it (`KeywordIndex.score_text`).
STATS_NAME = "stats.json"
#: The one word of an index whose passages have no word at all (or of one with no passage):
#: bm25s cannot index an empty vocabulary, and no query can produce this word.
_NO_WORD = "\x00"


def write_keyword_index(store: Path, folder: Path) -> None:
    """BM25 over every stored passage (its article's title, then its text) into `folder`."""
    reader = StoreReader(store)
    ids: list[int] = []
    texts: list[str] = []
    languages: list[str | None] = []
    with contextlib.closing(reader.connect()) as db:
        for chunk in reader.iter_chunks(db):
            ids.append(chunk.chunk_id)
            texts.append(keyword_text(chunk.article["title"], chunk.text))
            languages.append(chunk.article.get("language"))
    write_bm25(ids, texts, folder, languages)


def keyword_text(title: str, text: str) -> str:
    """What the keyword index holds for a passage (or an article): its title, then its text."""
    return f"{title}\n{text}"


def write_bm25(
    ids: list[int],
    texts: list[str],
    folder: Path,
    languages: list[str | None] | None = None,
) -> None:
    """BM25 over `texts` into `folder`, each text found by its id in `ids` and analysed in
    its language in `languages` (English where None)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = bm25s_library().BM25(k1=K1, b=B)
    each = [analysed_language(lang) for lang in languages or [None] * len(texts)]
    words = analysed_words(texts, each)
    mean_words = sum(map(len, words)) / len(words) if words else 0.0
    stats = {"mean_words": mean_words, "languages": dict(Counter(each).most_common())}
    (folder / STATS_NAME).write_text(json.dumps(stats), encoding="utf-8")
    if not any(words):  # no passage (all deleted), or only stop words: nothing can match
        words = [[_NO_WORD] for _ in range(max(1, len(texts)))]
    model.index(words, show_progress=False)
    model.save(str(folder), show_progress=False)
    np.save(folder / CHUNK_IDS_NAME, np.asarray(ids, dtype=np.int64))


def analysed_words(texts: list[str], languages: list[str]) -> list[list[str]]:
    """The index words of each text in its language (texts of one language in one call)."""
    words: list[list[str]] = [[] for _ in texts]
    groups: dict[str, list[int]] = {}
    for row, language in enumerate(languages):
        groups.setdefault(language, []).append(row)
    for language, rows in groups.items():
        found = index_words([texts[r] for r in rows], language=language)
        for row, row_words in zip(rows, found, strict=True):
            words[row] = row_words
    return words


class KeywordIndex:
    """A loaded keyword index: `search` from any number of threads (it only reads)."""

    def __init__(self, folder: Path) -> None:
        try:
            self._model = bm25s_library().BM25.load(str(folder), mmap=True)
            # A plain array over the mapping: indexing a np.memmap builds a memmap per call.
            self.chunk_ids = np.asarray(np.load(folder / CHUNK_IDS_NAME, mmap_mode="r"))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnavailableError(f"cannot read the keyword index {folder}: {exc}") from exc
        self._vocabulary: dict[str, int] = self._model.vocab_dict
        # The matrix is CSC, passages by words: word t's passages (row numbers) are
        # indices[indptr[t]:indptr[t + 1]], each with a weight above zero (Lucene's idf is).
        self._indices: npt.NDArray[np.integer] = self._model.scores["indices"]
        self._indptr: npt.NDArray[np.integer] = self._model.scores["indptr"]
        self._passages = int(self._model.scores["num_docs"])
        if len(self.chunk_ids) not in (0, self._passages):
            raise IndexUnavailableError(f"{folder}: chunk ids and passages differ; rebuild")
        stats_file = folder / STATS_NAME  # indexes built before it have none: see score_text
        stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
        self._mean_words = float(stats["mean_words"]) if "mean_words" in stats else None
        #: Passages per analysis language; none recorded: analysed as English (before format 6).
        self.languages: dict[str, int] = dict(stats.get("languages") or {ENGLISH: 1})
        self.main_language = main_language(self.languages) or ENGLISH
        self._per_language = "languages" in stats

    def analysis_language(self, language: str | None) -> str:
        """The language a query is analysed in here: English in an index analysed as English
        throughout; else `language`, or the index's main language when None."""
        if not self._per_language:
            return ENGLISH
        return self.main_language if language is None else language

    @property
    def vocabulary(self) -> Mapping[str, int]:
        """Each index word's column of the weight matrix (read only). bm25s's vocabulary
        also holds "" (no query word), which may name no column, and an index of passages
        with no word holds a placeholder word that no query can produce."""
        return MappingProxyType(self._vocabulary)

    def weight_matrix(self) -> sparse.csr_matrix:
        """The BM25 weight of every (passage, word) pair as a CSR matrix, passages by
        words: row r is the passage `chunk_ids[r]`, column c the word whose `vocabulary`
        entry is c (a copy: the index's own matrix is mapped read-only)."""
        from scipy import sparse

        scores = self._model.scores
        matrix = sparse.csc_matrix(
            (scores["data"], scores["indices"], scores["indptr"]),
            shape=(self._passages, len(self._indptr) - 1),
        )
        return matrix.tocsr()

    @property
    def can_score_texts(self) -> bool:
        """Whether `score_text` can work (the index records its mean passage length)."""
        return bool(self._mean_words)

    def score_text(self, query: str, text: str, language: str | None = None) -> float:
        """The BM25 score `text` would get for `query` if it were one more passage of this
        index (the index's document frequencies and mean length; bm25s's Lucene formula):
        how the build's probes score a passage with their own sentence held out of it."""
        if not self._mean_words:
            raise ValueError("this keyword index records no mean length: rebuild it")
        counts = Counter(query_words(text, language=self.analysis_language(language)))
        length = sum(counts.values())
        norm = K1 * (1 - B + B * length / self._mean_words)
        score = 0.0
        for word in self.query_words(query, language):
            frequency = counts.get(word, 0)
            if frequency:
                idf = bm25_idf(self._passages, self.document_frequency(word))
                score += idf * frequency / (frequency + norm)
        return score

    @property
    def passages(self) -> int:
        """How many passages the index holds (BM25's N)."""
        return self._passages

    def query_words(self, query: str, language: str | None = None) -> list[str]:
        """The query's index words that some passage has (the rest cannot score), analysed
        in `language` (see `analysis_language`)."""
        words = query_words(query, language=self.analysis_language(language))
        return [w for w in dict.fromkeys(words) if w in self._vocabulary and w != _NO_WORD]

    def coverage(self, query: str, language: str | None = None) -> float:
        """The share of the query's distinct index words that some passage holds (1.0 for a
        query without any): near 0 for a query in a language the passages are not in."""
        words = set(query_words(query, language=self.analysis_language(language)))
        if not words:
            return 1.0
        return len(set(self.query_words(query, language))) / len(words)

    def document_frequency(self, word: str) -> int:
        """How many passages hold the index word `word`."""
        column = self._vocabulary.get(word)
        if column is None or word == _NO_WORD:
            return 0
        return int(self._indptr[column + 1] - self._indptr[column])

    def frequent_words(self, min_passages: int) -> dict[str, int]:
        """Each index word at least `min_passages` passages hold, with how many (the
        spelling corrector's candidates, `semsearch.search.spelling`)."""
        counts = np.diff(np.asarray(self._indptr, dtype=np.int64))
        columns = len(counts)
        return {
            word: int(counts[column])
            for word, column in self._vocabulary.items()
            if 0 <= column < columns
            and counts[column] >= min_passages
            and word not in ("", _NO_WORD)
        }

    def query_idf(self, query: str, language: str | None = None) -> dict[str, float]:
        """Each of the query's distinct index words (in `language`, `analysis_language`) with
        its IDF (Lucene's, as bm25s scores); a word no passage holds gets the highest IDF."""
        words = query_words(query, language=self.analysis_language(language))
        return {
            word: bm25_idf(self._passages, self.document_frequency(word))
            for word in dict.fromkeys(words)
            if word != _NO_WORD
        }

    def score_bound(self, query: str, language: str | None = None) -> float:
        """The most BM25 score any passage could reach for `query`: the sum of its words'
        IDFs (bm25s's Lucene formula gives a word at most its IDF, as its count grows), a
        word no passage holds counted at the highest IDF. 0.0 for no word."""
        return sum(self.query_idf(query, language).values())

    def idf_coverage(self, query: str, chunk_id: int, language: str | None = None) -> float:
        """The share of the query's IDF (`query_idf`) that the passage `chunk_id` holds: a
        query of words the collection lacks is barely covered. 0.0 for no word."""
        idf = self.query_idf(query, language)
        rows = self._rows_of([chunk_id])
        if not idf or len(rows) == 0:
            return 0.0
        row, held = int(rows[0]), 0.0
        for word, weight in idf.items():
            column = self._vocabulary.get(word)
            if column is not None and self.document_frequency(word):
                postings = self._indices[self._indptr[column] : self._indptr[column + 1]]
                held += weight if bool(np.any(postings == row)) else 0.0
        total = sum(idf.values())
        return held / total if total > 0 else 0.0

    def search(
        self,
        query: str,
        limit: int,
        allowed_chunks: Iterable[int] | None = None,
        language: str | None = None,
    ) -> list[tuple[int, float]]:
        """The best `limit` chunk ids for `query` by BM25, best first, scores above zero.
        `allowed_chunks` restricts the search (filters run before ranking, not after); the
        query is analysed in `language` (`analysis_language`)."""
        words = self.query_words(query, language)
        total = len(self.chunk_ids)
        if not words or limit <= 0 or total == 0:
            return []
        # One score per passage: a few sparse columns summed (bm25s `get_scores`); taking the
        # top here is faster than bm25s's `retrieve`, whose thread pool and progress wrapper
        # cost more than the sums (docs/benchmarks.md, "Keyword ranking").
        scores = np.asarray(self._model.get_scores(words), dtype=np.float32)
        if allowed_chunks is None:
            rows = np.flatnonzero(scores > 0)
        else:
            rows = self._rows_of(allowed_chunks)
            rows = rows[scores[rows] > 0]
        if len(rows) > limit:
            rows = rows[np.argpartition(-scores[rows], limit - 1)[:limit]]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return list(zip(self.chunk_ids[rows].tolist(), scores[rows].tolist(), strict=True))

    def has_passage_with_all(
        self, words: list[str], allowed_chunks: Iterable[int] | None = None
    ) -> bool:
        """True when some passage (among `allowed_chunks`) holds every one of the index
        words `words`; False for no word."""
        unique = [w for w in dict.fromkeys(words) if w != _NO_WORD]
        if not unique or any(w not in self._vocabulary for w in unique):
            return False  # no word, or a word no passage holds
        columns = [self._vocabulary[w] for w in unique]
        starts = np.asarray([self._indptr[c] for c in columns], dtype=np.int64)
        ends = np.asarray([self._indptr[c + 1] for c in columns], dtype=np.int64)
        # The inverted lists intersected shortest first, each further one through a flag per
        # passage (no sort, whatever order a list is stored in); the allowed ids last, when
        # the fewest candidates are left to look up in them.
        order = np.argsort(ends - starts, kind="stable")
        first = order[0]
        candidates = np.asarray(self._indices[starts[first] : ends[first]], dtype=np.int64)
        for i in order[1:]:
            if len(candidates) == 0:
                return False
            holding = np.zeros(self._passages, dtype=bool)
            holding[self._indices[starts[i] : ends[i]]] = True
            candidates = candidates[holding[candidates]]
        if len(candidates) == 0 or allowed_chunks is None:
            return len(candidates) > 0
        allowed = _sorted_ids(allowed_chunks)
        if len(allowed) == 0:
            return False
        ids = self.chunk_ids[candidates]
        found = allowed[np.minimum(np.searchsorted(allowed, ids), len(allowed) - 1)] == ids
        return bool(found.any())

    def _rows_of(self, chunk_ids: Iterable[int]) -> npt.NDArray[np.int64]:
        """The matrix rows of those chunk ids that the index holds (ids are sorted rows)."""
        allowed = _sorted_ids(chunk_ids)
        total = len(self.chunk_ids)
        rows = np.searchsorted(self.chunk_ids, allowed)
        inside = rows < total
        rows, allowed = rows[inside], allowed[inside]
        found: npt.NDArray[np.int64] = rows[self.chunk_ids[rows] == allowed]
        return found


def bm25_idf(passages: int, frequency: int) -> float:
    """A word's IDF in bm25s's Lucene formula: `passages` in all, `frequency` holding it."""
    return math.log(1 + (passages - frequency + 0.5) / (frequency + 0.5))


def _sorted_ids(chunk_ids: Iterable[int]) -> npt.NDArray[np.int64]:
    """The ids as a sorted array without repeats; sorted only when they are not already
    (the filters' ids come from SQLite in id order, and sorting tens of thousands of ids
    costs milliseconds a query)."""
    ids = np.fromiter(chunk_ids, dtype=np.int64)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.unique(ids)
    return ids
