"""The Python library API: open an index, search it, read its articles, build, write.

    import semsearch

    with semsearch.open("news-index") as index:
        results = index.search("tidal power", k=5, publication="Gazette")
        for hit in results.hits:
            print(hit.score, hit.article.title)
        results.to_dict()  # exactly the JSON /api/search answers

This is what `semsearch.__init__` exports (`semsearch.open`, `semsearch.build`,
`semsearch.Index`, ...); everything else in the package is private by convention, free to
move between releases. The names exported here are stable: a change goes through
`deprecated()` (a `DeprecationWarning` for at least one minor release, docs/python.md).

The results are the search layer's own frozen dataclasses (`semsearch.search.results`),
given a `to_dict()` that calls the one conversion the web API uses
(`semsearch.web.models.result_to_dict`), so a script and a client of the server read the
same JSON. The web app answers from the layer below this one (`SearchService`): the layers
import downward (ARCHITECTURE.md), and this module sits beside the CLI, above them all.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch.errors import BadQueryError
from semsearch.index.embed import Embedder, load_embedder
from semsearch.index.ingest.articles import Article as _ArticleRecord
from semsearch.index.live import LiveWriter, WriteOutcome, WriteReport
from semsearch.search.embedders import model_for
from semsearch.search.results import FullArticle, SearchResult, SimilarResult
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

if TYPE_CHECKING:
    from semsearch.search.backends.base import BackendKind

__all__ = [
    "Article",
    "Index",
    "SearchResults",
    "SimilarResults",
    "WriteOutcome",
    "WriteReport",
    "build",
    "deprecated",
    "open_index",
]


def deprecated(old: str, new: str, removed_in: str) -> None:
    """Warn that `old` is deprecated in favour of `new` and goes in release `removed_in`.

    The one deprecation path of the public API: a renamed function keeps its old name as a
    wrapper that calls this first, for at least one minor release."""
    warnings.warn(
        f"semsearch.{old} is deprecated and will be removed in {removed_in}: use semsearch.{new}",
        DeprecationWarning,
        stacklevel=3,
    )


class SearchResults(SearchResult):
    """The answer to one search (`semsearch.search.results.SearchResult`: `hits`, `query`,
    `facets`, `has_next`, ...), with `to_dict()`: the JSON `/api/search` answers."""

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON the HTTP API answers for the same search."""
        from semsearch.web.models import result_to_dict  # the one conversion, shared

        return result_to_dict(self)


class SimilarResults(SimilarResult):
    """The articles most like one article, with `to_dict()`: the JSON of
    `/api/articles/{id}/similar`."""

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON the HTTP API answers for the same request."""
        from semsearch.web.models import similar_model

        return similar_model(self).model_dump(mode="json")


class Article(FullArticle):
    """An article read back whole (`semsearch.search.results.FullArticle`: `article` with
    its credits, `text`, `passages`, `provenance`), with `to_dict()`: the JSON of
    `/api/articles/{id}`."""

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON the HTTP API answers for the same article."""
        from semsearch.web.models import full_article_model

        return full_article_model(self).model_dump(mode="json")


def _as(cls: type[Any], value: Any) -> Any:
    """`value`, a frozen dataclass, as its public subclass `cls` (fields shared, not copied)."""
    return cls(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)})


class Index:
    """An open index: search it, read its articles, write to it. Thread-safe for searches;
    close it (or use `with`) to release its files."""

    def __init__(self, service: SearchService) -> None:
        self._service = service
        self._writer: LiveWriter | None = None
        # Which kind of backend serves the path, asked once: asking reads the index's
        # manifest (a live index says so there), about 0.3 ms, and the kind of a path does
        # not change under it (a live upgrade keeps the directory's naming of versions).
        self._kind: BackendKind | None = None

    @property
    def path(self) -> str | Path:
        """The index's directory or engine URI, as opened."""
        return self._service.index_path

    @property
    def version(self) -> str:
        """The index version being searched."""
        return self._service.manifest.version

    @property
    def model(self) -> str:
        """The name of the model the index was built with."""
        return str(self._service.manifest.model["name"])

    @property
    def counts(self) -> dict[str, int]:
        """How many articles and chunks (passages) the version searched holds."""
        counts = self._service.manifest.counts
        return {"articles": int(counts["articles"]), "chunks": int(counts["chunks"])}

    def search(
        self,
        q: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        group: str | None = None,
        published_from: str | None = None,
        published_to: str | None = None,
        publication: str | None = None,
        author: str | None = None,
        language: str | None = None,
        page: int | None = None,
        sort: str | None = None,
        infer_dates: bool | None = None,
        facets: str | Sequence[str] | None = None,
        lang: str | None = None,
        spell: bool | None = None,
        recency: str | None = None,
    ) -> SearchResults:
        """The k passages that best answer `q`: the options of `/api/search` (docs/api.md),
        validated the same way (a bad one raises `BadQueryError` saying what was wrong)."""
        from semsearch.search.query import validate_query

        if facets is not None and not isinstance(facets, str):
            facets = ",".join(facets)
        params = {
            "q": q,
            "k": k,
            "mode": mode,
            "group": group,
            "published_from": published_from,
            "published_to": published_to,
            "publication": publication,
            "author": author,
            "language": language,
            "page": page,
            "sort": sort,
            "infer_dates": infer_dates,
            "facets": facets,
            "lang": lang,
            "spell": spell,
            "recency": recency,
        }
        given = {name: value for name, value in params.items() if value is not None}
        service = self._current()
        result = service.search(validate_query(given, service.settings))
        return _as(SearchResults, result)  # type: ignore[no-any-return]

    def article(self, article_id: str) -> Article:
        """The whole article with this id; `NotFoundError` if the index has none."""
        return _as(Article, self._current().article(article_id))  # type: ignore[no-any-return]

    def citation(self, article_id: str, format: str = "text") -> str:
        """The article's citation: format text, apa, chicago, bibtex or csl-json (as
        `/api/articles/{id}/cite`)."""
        from semsearch.search.citation import format_citation
        from semsearch.search.requests import CiteRequest, validate_request

        fmt = validate_request(CiteRequest, {"format": format}).format
        return format_citation(self._current().article(article_id).article, fmt)

    def similar(self, article_id: str, k: int = 10) -> SimilarResults:
        """The k articles most like this one (as `/api/articles/{id}/similar`)."""
        found = self._current().similar(article_id, k)
        return _as(SimilarResults, found)  # type: ignore[no-any-return]

    def add(
        self, inputs: Iterable[str | Path], column_map: Mapping[str, str] | None = None
    ) -> WriteReport:
        """Read article files and folders (as `semsearch build` does) and upsert them; a
        record that cannot be read comes back refused with its reason."""
        from semsearch.index.ingest.articles import Skipped
        from semsearch.index.ingest.readers import read_articles

        read = list(read_articles(list(inputs), dict(column_map) if column_map else None))
        articles = [item for item in read if not isinstance(item, Skipped)]
        refused = tuple(
            WriteOutcome(i.origin, "refused", i.reason) for i in read if isinstance(i, Skipped)
        )
        if not articles:
            return WriteReport(refused, 0)
        report = self.upsert(articles)
        return WriteReport(refused + report.outcomes, report.generation)

    def upsert(self, articles: Iterable[Mapping[str, Any] | _ArticleRecord]) -> WriteReport:
        """Create or replace articles by id: mappings with the JSONL reader's fields (`id`,
        `title`, `text`, `author`, `published`, ...) or `Article` records. Each gets an
        outcome, in order (created, updated, unchanged or refused with the reason); the
        written ones are searchable in this object when it returns."""
        from semsearch.index.ingest.articles import Skipped
        from semsearch.index.ingest.readers import record_article

        records: list[_ArticleRecord] = []
        refused: list[tuple[int, WriteOutcome]] = []
        for number, item in enumerate(articles, start=1):
            if isinstance(item, _ArticleRecord):
                records.append(item)
                continue
            read = record_article(dict(item), f"python:{number}")
            if isinstance(read, Skipped):
                given = item.get("id")
                refused.append(
                    (number, WriteOutcome(str(given or ""), "refused", read.reason, number))
                )
            else:
                records.append(read)
        report = self._write(lambda writer: writer.upsert(records)) if records else None
        outcomes = list(report.outcomes) if report else []
        for number, outcome in refused:  # back in the order given
            outcomes.insert(number - 1, outcome)
        return WriteReport(tuple(outcomes), report.generation if report else 0)

    def delete(self, ids: Iterable[str]) -> WriteReport:
        """Delete articles by id; an id not in the index comes back refused."""
        return self._write(lambda writer: writer.delete(list(ids)))

    def close(self) -> None:
        """Release the index's files (and its writer's). Searching after this fails."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._service.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<semsearch.Index {self.path} version {self.version}>"

    def _write(self, write: Any) -> WriteReport:
        """`write(writer)` through the index's one writer (`semsearch.index.live.open_writer`:
        a live index's segments, or a new published version of a built one)."""
        from semsearch.index.live import open_writer
        from semsearch.search.backends import writes_to

        index = self._service.index_path
        target = writes_to(index)  # an engine's live index: its live directory
        if target is None:
            raise BadQueryError(
                f"{index} is served from a copy of a directory: write to that directory and "
                "publish it again (semsearch add --index URI does both)"
            )
        if self._writer is None:
            self._writer = open_writer(target, self._service.embedder, self._service.settings)
        report: WriteReport = write(self._writer)
        return report

    def _current(self) -> SearchService:
        """The service on the version the index names now: after a write published a new
        version of a built index, it is opened (the same model) and the old one closed."""
        from semsearch.search.backends import backend_kind

        service = self._service
        if self._kind is None:
            self._kind = backend_kind(service.index_path)
        if service.target != self._kind.target(service.index_path):
            self._service = SearchService(service.index_path, service.embedder, service.settings)
            service.close()
        return self._service


def open_index(
    index: str | Path,
    *,
    model: str | None = None,
    settings: Mapping[str, Any] | None = None,
    embedder: Embedder | None = None,
) -> Index:
    """Open an index to search and write: a directory (built or live) or an engine URI
    (`milvus://...`). The model is the one the index was built with unless `model`,
    `SEMSEARCH_MODEL` or a ready `embedder` says otherwise; `settings` takes the search
    settings by name (docs/settings.md)."""
    chosen = dict(settings or {})
    if model is not None:
        chosen["model"] = model
    if embedder is None:
        # A model someone chose (here or SEMSEARCH_MODEL), else the index's own.
        chosen["model"] = model_for(index, chosen)
        embedder = load_embedder(
            str(get_setting("model", chosen)),
            int(get_setting("batch_size", chosen)),
            settings=chosen,
        )
    return Index(SearchService(index, embedder, chosen))


def build(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    model: str | None = None,
    settings: Mapping[str, Any] | None = None,
    embedder: Embedder | None = None,
    tune: bool = True,
) -> Index:
    """Build an index from article files and folders into `out` (replaced atomically, as
    `semsearch build` does) and open it."""
    from semsearch.index.build.builder import build_index
    from semsearch.search.calibration import build_calibrator
    from semsearch.search.tuning import build_tuner

    chosen = dict(settings or {})
    if model is not None:
        chosen["model"] = model
    if embedder is None:
        embedder = load_embedder(
            str(get_setting("model", chosen)),
            int(get_setting("batch_size", chosen)),
            settings=chosen,
        )
    build_index(
        list(inputs),
        out,
        embedder,
        chosen,
        tune=build_tuner(embedder) if tune else None,
        calibrate=build_calibrator(embedder) if tune else None,
    )
    return Index(SearchService(out, embedder, chosen))
