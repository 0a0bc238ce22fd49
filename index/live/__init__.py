"""A live index: articles written while it serves, durable before they are acknowledged,
searchable within a refresh interval, at a cost that does not grow with the index
(docs/live-index.md).

- `writer`: `open_writer` and `LiveWriter.upsert` / `delete`, the interface the HTTP write
  endpoints and `semsearch add` / `delete` use; `create_live_index`.
- `reader`: `open_reader` and `LiveReader` (dense, keyword, fetch), what the live search
  backend adapts.
- `segments`: the immutable segments; `catalog`: the live tables of the store;
  `merge`: background tiered merges; `snapshot`: point-in-time copies and restore.
"""

from __future__ import annotations

from semsearch.index.live.reader import LiveReader, open_reader
from semsearch.index.live.writer import (
    LiveWriter,
    WriteOutcome,
    WriteReport,
    create_live_index,
    is_live,
    open_writer,
)

__all__ = [
    "LiveReader",
    "LiveWriter",
    "WriteOutcome",
    "WriteReport",
    "create_live_index",
    "is_live",
    "open_reader",
    "open_writer",
]
