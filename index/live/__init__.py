"""Writes to an index article by article: the outcome types and the writer's interface.

`open_writer(index, embedder)` gives the one writer of an index; the web layer
(`POST /api/articles`) and the CLI (`semsearch add`, `delete`) both write through it, so an
article means the same thing and gets the same answer on either path. Every article of a
request gets a `WriteOutcome`, in the order given: created, updated, unchanged, deleted or
refused with the reason; one bad item never refuses the others.

Until the segmented live index lands, the writer is `BatchWriter`
(`semsearch.index.build.batch_writer`): each call is one update of the index directory
(add, replace, delete, then an atomic publish of a new version).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from semsearch.index.embed import Embedder
from semsearch.index.ingest.articles import Article


@dataclass(frozen=True)
class WriteOutcome:
    id: str
    status: str  # "created" | "updated" | "unchanged" | "deleted" | "refused"
    reason: str | None = None
    line: int | None = None  # the item's line/position in the request body, when known


@dataclass(frozen=True)
class WriteReport:
    outcomes: tuple[WriteOutcome, ...]
    generation: int  # the index generation at which these writes are visible


class LiveWriter(Protocol):  # one per index; thread-safe
    def upsert(self, articles: Sequence[Article]) -> WriteReport: ...
    def delete(self, ids: Sequence[str]) -> WriteReport: ...
    def close(self) -> None: ...


def open_writer(
    index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> LiveWriter:
    """The writer of the index directory `index`, writing with `embedder` (the model the
    index was built with; a mismatch is refused at the first write)."""
    from semsearch.index.build.batch_writer import BatchWriter

    return BatchWriter(index, embedder, settings)
