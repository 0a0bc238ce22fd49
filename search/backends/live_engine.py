"""A live index served from a search engine (`semsearch publish LIVE_DIR --to URI`,
`semsearch.index.live.engine`): the engine's collection answers the dense side, the live
index's store and segments everything else.

Opened by the engine kind (`semsearch.search.backends.milvus.MilvusKind`) when the engine's
catalog record says `"live": true`. Keyword candidates are the live index's own BM25 over its
term-frequency segments with the collection's statistics (exact, the same scores as the live
backend), filters are the store's chunk ids (sent to the engine as a `chunk_id in [...]`
filter for dense candidates), whole-article evidence is the segments' article rows. A write
reaches both: the live store (the commit point) and, through its outbox, the engine, before it
is answered; the reader sees it at its next refresh, the engine at once (its collections are
created with strong consistency).

Opening one sends to the engine whatever a crash left in the outbox (`replay`), so a server
started after a crash serves what was acknowledged, and what was committed but not answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import IndexUnavailableError
from semsearch.index.live.engine import replay
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.milvus.address import parse_engine_uri
from semsearch.index.storage.milvus.client import EngineFilter
from semsearch.search.backends.base import Candidates, Scope, chunk_ids_of
from semsearch.search.backends.live import LiveBackend


class LiveEngineBackend(LiveBackend):
    """A live index whose dense side is the engine's collection."""

    kind = "live-engine"

    def __init__(
        self, uri: str, record: dict[str, Any], settings: Mapping[str, Any] | None = None
    ) -> None:
        source = Path(str(record.get("source") or ""))
        if not record.get("source") or not source.exists():
            raise IndexUnavailableError(
                f"the index at {uri} is the live index {source}, which is not there: it must "
                "be on storage this server reads"
            )
        replay(source)
        super().__init__(resolve_index_dir(source), settings)
        self.uri = uri
        self.passages = parse_engine_uri(uri).passages(str(record["passages"]))

    def target(self) -> str:
        return f"{self.uri}#{self.version_dir.name}#{self.passages.collection}"

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        ids = chunk_ids_of(scope, self.kind)
        engine = None if ids is None else EngineFilter(chunk_ids=ids)
        if ids is not None and not ids:
            return []
        return [(c.chunk_id, c.score) for c in self.passages.dense(vector, depth, engine)]

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        excluded = set(exclude)
        found = self.passages.dense(vector, depth + len(excluded))
        return [(c.chunk_id, c.score) for c in found if c.chunk_id not in excluded][:depth]

    def check(self) -> None:
        """Raise IndexUnavailableError unless the engine answers with the collection."""
        self.passages.check()

    def close(self) -> None:
        super().close()
        self.passages.close()


def live_target(uri: str, record: dict[str, Any]) -> str:
    """What a live engine index points at now: its live directory's version and the
    collection (the reload watcher compares it with `LiveEngineBackend.target`)."""
    version = resolve_index_dir(Path(str(record.get("source") or "")))
    return f"{uri}#{version.name}#{record['passages']}"
