"""Writes to an index article by article, and the live index that takes them while it serves
(docs/live-index.md).

`open_writer(index, embedder)` gives the one writer of an index; the web layer
(`POST /api/articles`) and the CLI (`semsearch add`, `delete`) both write through it, so an
article means the same thing and gets the same answer on either path. Every article of a
request gets a `WriteOutcome`, in the order given: created, updated, unchanged, deleted or
refused with the reason; one bad item never refuses the others.

- A live index (`semsearch live`): `writer.SegmentWriter`, each batch one fsync'd SQLite
  transaction, searchable within `live_refresh_seconds` in every process, at a cost that
  does not grow with the index; `reader` (what `search/backends/live.py` adapts),
  `segments`, `catalog` (its tables), `merge` (background tiered merges), `snapshot`.
- A built index: `BatchWriter` (`semsearch.index.build.batch_writer`), each call one update
  of the index directory and an atomic publish of a new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from semsearch.index.embed import Embedder
from semsearch.index.ingest.articles import Article
from semsearch.index.live.reader import LiveReader, open_reader
from semsearch.index.live.writer import (
    SegmentWriter,
    WriteOutcome,
    WriteReport,
    create_live_index,
    is_live,
    open_segment_writer,
)


class LiveWriter(Protocol):  # one per index; thread-safe
    """What every index's writer answers (`SegmentWriter`, `BatchWriter`)."""

    def upsert(self, articles: Sequence[Article]) -> WriteReport: ...
    def delete(self, ids: Sequence[str]) -> WriteReport: ...
    def close(self) -> None: ...


def open_writer(
    index: str | Path, embedder: Embedder, settings: Mapping[str, Any] | None = None
) -> LiveWriter:
    """The writer of `index`: a live index's `SegmentWriter` (a path that does not exist yet
    becomes an empty live index), or `BatchWriter` for a built index directory."""
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import read_manifest

    path = Path(index)
    if not path.exists() or is_live(read_manifest(resolve_index_dir(path))):
        return open_segment_writer(index, embedder, settings)
    from semsearch.index.build.batch_writer import BatchWriter

    return BatchWriter(index, embedder, settings)


__all__ = [
    "LiveReader",
    "LiveWriter",
    "SegmentWriter",
    "WriteOutcome",
    "WriteReport",
    "create_live_index",
    "is_live",
    "open_reader",
    "open_segment_writer",
    "open_writer",
]
