"""Embedding in the background: the build goes on chunking and storing while passages embed.

The build hands every stored passage to an `EmbeddingPipeline`. Passages whose vector is
already known (`build.reuse`) are taken as they are; the rest are grouped and encoded on one
background thread, which keeps the model busy while the caller's thread chunks and stores
the next articles (the model runs outside the GIL, so both use a core at once). At most
`max_in_flight` groups wait at once, so a fast chunker never piles up a whole collection's
passages in memory.

Where a group is encoded is two methods, `_start` and `_wait`: the Dask twin
(`semsearch.index.build.distributed.DaskEmbeddingPipeline`) overrides them to send each group
to a cluster's workers, and `build_index` takes either through its `pipeline_factory`
parameter, a `PipelineFactory` (this class is one; the default).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from semsearch.index.build.reuse import VectorReuse
from semsearch.index.embed import Embedder

#: Called as progress("embed", done, queued): passages embedded so far, and handed in so far.
EmbedProgress = Callable[[str, int, int], None]


class GroupFuture(Protocol):
    """What `_start` returns: a concurrent.futures or a Dask future of a group's vectors."""

    def done(self) -> bool: ...

    def result(self) -> Any: ...


class EmbeddingPipeline:
    """Collects (chunk id, text) pairs and returns their vectors from `finish()`."""

    #: Where the passages were embedded, the manifest's `vectors["embedded_by"]` record; None
    #: is this process, and leaves the manifest as it always was.
    embedded_by: dict[str, Any] | None = None

    def __init__(
        self,
        embedder: Embedder,
        group: int,
        reuse: VectorReuse | None = None,
        progress: EmbedProgress | None = None,
        max_in_flight: int = 4,
    ) -> None:
        self.embedder = embedder
        self.group = max(1, group)
        self.reuse = reuse
        self.progress = progress
        self.max_in_flight = max(1, max_in_flight)
        self.queued = 0  # passages handed in
        self.done = 0  # passages with a vector
        self.busy_seconds = 0.0  # time the model spent encoding
        self._ids: list[np.ndarray] = []
        self._vectors: list[np.ndarray] = []
        self._reused_ids: list[int] = []
        self._reused_vectors: list[np.ndarray] = []
        self._pending_ids: list[int] = []
        self._pending_texts: list[str] = []
        self._in_flight: deque[tuple[list[int], GroupFuture]] = deque()
        self._executor: ThreadPoolExecutor | None = None  # started with the first group

    def add(self, chunk_id: int, text: str) -> None:
        """Queue one passage; encodes a group in the background once enough have come."""
        self.queued += 1
        known = self.reuse.get(text) if self.reuse else None
        if known is not None:
            self._reused_ids.append(chunk_id)
            self._reused_vectors.append(known)
            self.done += 1
            if self.progress and self.done % self.group == 0:
                self.progress("embed", self.done, self.queued)
            return
        self._pending_ids.append(chunk_id)
        self._pending_texts.append(text)
        if len(self._pending_ids) >= self.group:
            self._submit()

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Wait for every queued passage; returns (ids, vectors) in id order."""
        try:
            if self._pending_ids:
                self._submit()
            while self._in_flight:
                self._collect_oldest()
        finally:
            self.close()
        if self._reused_ids:
            self._ids.append(np.asarray(self._reused_ids, dtype=np.int64))
            self._vectors.append(np.stack(self._reused_vectors).astype(np.float32, copy=False))
        if self.progress:
            self.progress("embed", self.done, self.queued)
        if not self._ids:
            return np.zeros(0, dtype=np.int64), np.zeros(
                (0, self.embedder.dimension), dtype=np.float32
            )
        ids, vectors = np.concatenate(self._ids), np.concatenate(self._vectors)
        order = np.argsort(ids, kind="stable")  # reused passages were kept apart
        return ids[order], vectors[order]

    def close(self) -> None:
        """Stop the background thread; queued groups that have not started are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self) -> None:
        ids, texts = self._pending_ids, self._pending_texts
        self._pending_ids, self._pending_texts = [], []
        self._in_flight.append((ids, self._start(texts)))
        while self._in_flight and (
            len(self._in_flight) > self.max_in_flight or self._in_flight[0][1].done()
        ):
            self._collect_oldest()  # what is done, and if too much waits, the reader waits

    def _start(self, texts: list[str]) -> GroupFuture:
        """Begin encoding one group; its vectors come from `_wait` on what this returns."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="build-embed")
        future: Future[np.ndarray] = self._executor.submit(self._encode, texts)
        return future

    def _wait(self, future: GroupFuture) -> np.ndarray:
        """The vectors of a group `_start` began; its encoding error, raised in the build."""
        return np.asarray(future.result(), dtype=np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = self.embedder.encode_documents(texts)
        self.busy_seconds += time.perf_counter() - started  # one background thread writes
        return vectors

    def _collect_oldest(self) -> None:
        ids, future = self._in_flight.popleft()
        self._keep(ids, self._wait(future))  # an encoding error surfaces here, in the build

    def _keep(self, ids: list[int], vectors: np.ndarray) -> None:
        self._ids.append(np.asarray(ids, dtype=np.int64))
        self._vectors.append(np.asarray(vectors, dtype=np.float32))
        self.done += len(ids)
        if self.progress:
            self.progress("embed", self.done, self.queued)


#: Makes a build's pipeline from (embedder, group, reuse, progress): this class is one, and
#: `semsearch.index.build.distributed.dask_pipeline(...)` returns another.
PipelineFactory = Callable[
    [Embedder, int, VectorReuse | None, EmbedProgress | None], EmbeddingPipeline
]
