"""The writer of an index directory that is not live: each call is one update.

`BatchWriter` implements the writer interface of `semsearch.index.live` over
`update_index`: an upsert or a delete copies the store, applies the change and publishes a
new version atomically, as `semsearch add` and `delete` always have. So it costs what an
update costs (it grows with the index; the live index is the answer to that), but it answers
item by item as the live writer does, and it stays the path for indexes that are not live.

Before the update, each article is checked on its own (`pushed.article_problem`: id and
field limits) and an id given twice in one call is refused from its second time on: which
version should win is the client's to say, not ours. Outcomes come back one per item, in the
order given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from semsearch.index.build.update import UpdateReport, update_index
from semsearch.index.embed import Embedder
from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.pushed import article_problem, id_problem
from semsearch.index.live import WriteOutcome, WriteReport

log = logging.getLogger(__name__)


class BatchWriter:
    """Writes to one index directory through `update_index`; thread-safe (one write at a
    time in this process; `writer_lock` keeps other processes' writers apart)."""

    def __init__(
        self, index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
    ) -> None:
        self.index = Path(index)
        self.embedder = embedder
        self.settings = dict(settings or {})
        #: Versions this writer published: the batch path's generation (a new version is
        #: what makes a write visible; servers pick it up on their next reload).
        self.generation = 0
        self._lock = threading.Lock()
        self._closed = False

    def upsert(self, articles: Sequence[Article]) -> WriteReport:
        """Create new articles, replace changed ones, leave unchanged ones alone."""
        outcomes: list[WriteOutcome | None] = [None] * len(articles)
        first_seen: set[str] = set()
        batch: list[Article] = []
        positions: dict[str, int] = {}  # the origin each article is written with -> position
        for position, article in enumerate(articles):
            problem = article_problem(article)
            if problem is None and article.id in first_seen:
                problem = (
                    "the same id twice in one batch: the first is written, this one is not; "
                    "send one version of an article per request"
                )
            if problem is not None:
                outcomes[position] = WriteOutcome(article.id, "refused", problem)
                continue
            first_seen.add(article.id)
            # Skipped records name their origin: make it unique so each maps back to its item.
            origin = article.origin or "write"
            if origin in positions:
                origin = f"{origin}#{position + 1}"
            if origin != article.origin:
                article = replace(article, origin=origin)
            positions[origin] = position
            batch.append(article)
        if batch:
            report = self._update(articles=batch)
            self._record(report, batch, positions, outcomes)
        return WriteReport(tuple(o for o in outcomes if o is not None), self.generation)

    def delete(self, ids: Sequence[str]) -> WriteReport:
        """Delete articles by id; an id not in the index is refused, the others deleted."""
        outcomes: list[WriteOutcome] = []
        wanted: list[str] = []
        for article_id in ids:
            problem = id_problem(article_id)
            if problem is None and article_id in wanted:
                problem = "the same id twice in one batch"
            outcomes.append(WriteOutcome(article_id, "refused" if problem else "deleted", problem))
            if problem is None:
                wanted.append(article_id)
        if wanted:
            report = self._update(delete=wanted, strict_delete=False)
            absent = set(report.missing)
            outcomes = [
                replace(o, status="refused", reason="not in the index")
                if o.status == "deleted" and o.id in absent
                else o
                for o in outcomes
            ]
        return WriteReport(tuple(outcomes), self.generation)

    def close(self) -> None:
        """Nothing is held between writes; later writes are refused."""
        self._closed = True

    def _update(self, **change: Any) -> UpdateReport:
        with self._lock:
            if self._closed:
                raise RuntimeError("this writer is closed")
            report = update_index(self.index, self.embedder, **change)
            if report.version_dir is not None:
                self.generation += 1
            return report

    @staticmethod
    def _record(
        report: UpdateReport,
        batch: list[Article],
        positions: dict[str, int],
        outcomes: list[WriteOutcome | None],
    ) -> None:
        """Each written article's outcome from the update's report, in its item's place."""
        status = {i: "created" for i in report.added}
        status |= {i: "updated" for i in report.replaced}
        status |= {i: "unchanged" for i in report.unchanged}
        reasons = {s.origin: s.reason for s in report.skipped}
        for article in batch:
            position = positions[article.origin]
            if article.origin in reasons:
                outcomes[position] = WriteOutcome(article.id, "refused", reasons[article.origin])
            elif article.id in status:
                outcomes[position] = WriteOutcome(article.id, status[article.id])
            else:
                # Found to be a syndicated copy of another article of the batch: kept in that
                # article's copies (`copies` in its answer), not as an article of its own.
                outcomes[position] = WriteOutcome(
                    article.id,
                    "refused",
                    "a syndicated copy of another article in this batch: kept among that "
                    "article's copies, not indexed on its own",
                )
