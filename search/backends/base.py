"""The protocol every backend implements: where a query's candidates come from.

A backend answers, under a query's filters, the dense candidates (chunk ids nearest to the
query vector), the keyword candidates (BM25), whether some passage holds every query word
(the exact-match rescue), which passages the filters admit (`scope`), the nearest passages
to a vector (more like this) and the stored vectors of some passages; it holds the index's
manifest, its article-level evidence and its store. Fusion, grouping, de-duplication,
highlighting, "no good match", attribution, facets and paging stay in the service, so every
backend answers alike.

A backend *kind* opens backends: it says which index names it handles, opens one, and tells
what a name points at now (a version, cheaply, for the server's reload watcher) and where
the articles of an index are changed (`add`, `delete`). Kinds are registered with
`semsearch.search.backends.register_backend_kind`; `open_backend(index)` asks them in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from semsearch.index.storage.manifest import IndexManifest
from semsearch.index.storage.store import ArticleFilter, ServedStore
from semsearch.index.storage.suggestions import SuggestionTable

#: One candidate list: (chunk id, score), best first.
Candidates = list[tuple[int, float]]


@dataclass(frozen=True)
class Scope:
    """The passages a query's filters admit, in the backend's own terms (a subclass each);
    `empty`: none, so the query is answered at once."""

    empty: bool = False


@dataclass(frozen=True)
class ChunkScope(Scope):
    """The chunk ids a filter admits (the backends that answer filters in their store)."""

    chunk_ids: tuple[int, ...] = ()


def chunk_ids_of(scope: Scope | None, kind: str) -> tuple[int, ...] | None:
    """The chunk ids of a ChunkScope (None: no filter); a TypeError for another backend's."""
    if scope is None:
        return None
    if not isinstance(scope, ChunkScope):
        raise TypeError(f"a {kind} backend cannot apply {type(scope).__name__}")
    return scope.chunk_ids


class ArticleEvidence(Protocol):
    """Whole-article BM25 and pooled vectors (`semsearch.search.articles`): a built index's
    `ArticleIndex`, a live index's article rows."""

    def keyword_scores(
        self, query: str, keys: Sequence[int], language: str | None = None
    ) -> list[tuple[int, float]]:
        """Whole-article BM25 of the articles `keys` (first chunk ids), best first (those
        above 0), the query analysed in `language`."""
        ...

    def dense_scores(self, query: np.ndarray, keys: Sequence[int]) -> list[tuple[int, float]]:
        """The cosine of the query with each article's pooled vector, best first."""
        ...

    def keys_of(self, chunk_ids: Sequence[int]) -> dict[int, int] | None:
        """Each chunk's article key where the evidence knows it without the store; None
        where the store must be asked (`ServedStore.article_keys`)."""
        ...


class SuggestionParts(Protocol):
    """The suggestion tables of what is served now, each with its entries' weights."""

    def parts(self) -> list[tuple[SuggestionTable, np.ndarray]]: ...


class StoreScoped:
    """`Backend.scope` and `Backend.narrow` for the backends whose filters are chunk ids read
    from their store (directory and live): one place for both."""

    kind: str
    store: ServedStore

    def scope(self, where: ArticleFilter) -> Scope | None:
        ids = self.store.chunk_ids_matching(where)
        return ChunkScope(empty=not ids, chunk_ids=tuple(ids))

    def narrow(
        self, scope: Scope | None, within: frozenset[int] | None, without: frozenset[int]
    ) -> Scope:
        """A ChunkScope (or none: every passage) narrowed to `within` and without `without`."""
        ids = chunk_ids_of(scope, self.kind)
        if ids is None:
            ids = (
                tuple(within)
                if within is not None
                else tuple(self.store.chunk_ids_matching(ArticleFilter()))
            )
        elif within is not None:
            ids = tuple(i for i in ids if i in within)
        kept = tuple(sorted(i for i in ids if i not in without))
        return ChunkScope(empty=not kept, chunk_ids=kept)


class Backend(Protocol):
    """A loaded index a query's candidates come from (see the module docstring)."""

    #: The backend's name, as logs and `semsearch info` say it ("directory", "engine", ...).
    kind: str
    manifest: IndexManifest
    #: The articles and passages, read through the store's methods.
    store: ServedStore

    @property
    def articles(self) -> ArticleEvidence | None:
        """Whole-article BM25 and pooled vectors (None: an index built before them)."""
        ...

    @property
    def suggestions(self) -> SuggestionParts | None:
        """Suggestion tables kept current by writes (a live index's, one a segment); None:
        the version's own table, or its titles at load (`semsearch.search.suggest`)."""
        ...

    def target(self) -> str:
        """What this backend serves, as `BackendKind.target` names it: the reload watcher
        compares the two to tell whether a new version is out."""
        ...

    def scope(self, where: ArticleFilter) -> Scope | None:
        """The passages the filter admits; None when it admits every passage."""
        ...

    def narrow(
        self, scope: Scope | None, within: frozenset[int] | None, without: frozenset[int]
    ) -> Scope:
        """`scope` (None: every passage) narrowed to the chunk ids `within` (None: any) and
        without those in `without`: a query's phrases, exclusions and field scopes
        (`semsearch.search.constraints`)."""
        ...

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        """The `depth` passages nearest to `vector` (cosine), within `scope`."""
        ...

    def analysis_language(self, language: str | None) -> str:
        """The language a query is analysed in: `language`, or the index's main one for
        None (English in an index analysed as English throughout)."""
        ...

    def languages(self) -> frozenset[str]:
        """The languages the passages were analysed in."""
        ...

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        """The share of the query's index words (in `language`) some passage holds."""
        ...

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        """The `depth` best passages for `text` (analysed in `language`) by BM25, within
        `scope`."""
        ...

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        """Whether some passage within `scope` holds every content word of `text` (analysed
        in `language`)."""
        ...

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        """The share of `text`'s IDF that the passage `chunk_id` holds (per-query fusion,
        `semsearch.search.fusion.per_query_fusion`); None where the backend cannot say."""
        ...

    def score_bound(self, text: str, language: str | None = None) -> float | None:
        """The most BM25 score a passage could reach for `text` (bounded fusion,
        `semsearch.search.fusion.Scale`); None where the backend cannot say."""
        ...

    def frequent_words(self, min_passages: int) -> dict[str, int] | None:
        """The keyword side's index words that at least `min_passages` passages hold, with
        how many ("did you mean" corrects towards them, `semsearch.search.spelling`); None
        where the backend cannot list its words."""
        ...

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """One article's vector (the mean of its passages' vectors, L2-normalised), from the
        stored vectors or, where they cannot be read, from `encode()`."""
        ...

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of these chunk ids, a row each (None: they cannot be read)."""
        ...

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        """The `depth` passages nearest to `vector`, leaving out `exclude`."""
        ...

    def check(self) -> None:
        """Raise IndexUnavailableError when the backend cannot answer now."""
        ...

    def close(self) -> None:
        """Release files, connections and clients. Searching after this fails."""
        ...


class BackendKind(Protocol):
    """One kind of backend: which index names it opens, and what they point at."""

    name: str

    def handles(self, index: str | Path) -> bool:
        """Whether `index` names an index of this kind."""
        ...

    def open(self, index: str | Path, settings: Mapping[str, Any] | None = None) -> Backend:
        """The backend of the index `index` names now: checked, loaded, ready to answer;
        `settings` are the search settings it is served with (a live index reads its
        refresh interval there)."""
        ...

    def target(self, index: str | Path) -> str:
        """What `index` points at now (its current version), cheaply: the server's watcher
        polls it."""
        ...

    def source_directory(self, index: str | Path) -> Path:
        """The index directory whose articles `add` and `delete` change for `index`."""
        ...

    def after_update(self, index: str | Path, source: Path) -> str:
        """Make a change to `source_directory(index)` the one `index` serves; what was done,
        for the CLI to say ("" when nothing more was needed)."""
        ...
