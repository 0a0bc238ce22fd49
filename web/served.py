"""The index a server answers from, held in one typed object, and how a new version takes
its place while serving.

A build, `add` or `delete` publishes a new version (a directory's link moves; an engine's
catalog names a new collection). `ServedIndex.reload` loads that version beside the one
served, checks it (manifest, checksums, model), warms it up, and only then swaps the
reference the views read. A request reads the reference once and uses that service to the
end, so it sees the old version or the new one, never a mix. The old service is closed a
minute later, long after the requests still holding it have finished.

If the new version cannot be loaded, the server keeps answering from the last good one and
`/readyz` says why (`reload_error`). A watcher thread polls what the index name points at
(`semsearch.search.backends.index_target`: a `realpath` for a directory, a catalog read for
an engine) every `RELOAD_INTERVAL` seconds; the admin endpoint reloads on demand. An engine
that stops answering leaves the service in place (requests get 503, `/readyz` says why), and
the next request after it is back is answered again: the client reconnects by itself.

The app keeps one `ServedIndex` (`create_app` makes it); views, metrics and the server read
it through `served_index()`, as flaskr's views read the database through `get_db()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context

from semsearch.errors import SemsearchError
from semsearch.index.embed import Embedder, load_embedder
from semsearch.index.live import LiveWriter
from semsearch.search.backends import index_target
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: Seconds a replaced service stays open for the requests that were using it.
RETIRE_AFTER_SECONDS = 60.0


#: The key of the app's ServedIndex in `app.extensions`.
EXTENSION = "semsearch"


def served_index(app: Flask | None = None) -> ServedIndex:
    """The app's served index (the current app's, in a request): the request's collection
    when it names one (`semsearch.web.collections`), else the default."""
    if app is None and has_request_context():
        chosen: ServedIndex | None = g.get("served_index")
        if chosen is not None:
            return chosen
    held: ServedIndex = (app or current_app).extensions[EXTENSION]
    return held


class ServedIndex:
    """The service a server answers from (None until one loads, with `error` saying why),
    how it is loaded, watched and swapped, and what went wrong with the last reload."""

    def __init__(
        self,
        index: str | Path | None,
        settings: dict[str, Any],
        warm_up: bool = True,
        service: SearchService | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        # An engine URI stays a string (a Path would fold its "//").
        self.index: str | Path | None = index
        self.settings = settings
        self.warm_up = warm_up
        #: The service answering now; read it once per request (a reload swaps it).
        self.service: SearchService | None = service
        #: Why no service is loaded (None when one is).
        self.error: str | None = None
        #: Why the last reload failed while an older version kept answering.
        self.reload_error: str | None = None
        self.reloads = {"ok": 0, "failed": 0}
        #: Called with True or False after every reload attempt (the metrics count them).
        self.on_reload: list[Callable[[bool], None]] = []
        #: Called after an admin reload, to have the other worker processes reload too;
        #: the server sets it (`semsearch.web.workers`), a lone process has nobody to tell.
        self.notify_others: Callable[[], None] = lambda: None
        #: The index's writer (`semsearch.index.live.open_writer`), opened on the first write.
        self.writer: LiveWriter | None = None
        #: The model; loaded on the first load when not given (collections share theirs).
        self._embedder: Embedder | None = embedder
        self._lock = threading.Lock()  # one load at a time
        self._failed_target: str | None = None
        self._loaded: SearchService | None = None  # the last service this object loaded
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def load(self) -> bool:
        """The first load at start-up: on failure the reason is kept for `/readyz`."""
        if self.index is None:
            self.error = "no index configured: set SEMSEARCH_INDEX_DIR or use --index"
            return False
        return self.reload(force=True)

    def reload(self, force: bool = False) -> bool:
        """Load the version the index link points to now, if it is not the one served.

        Returns True when a new version is being served. A version that failed to load is
        not tried again by the watcher until the link moves (`force` tries anyway)."""
        if self.index is None:
            return False
        with self._lock:
            current = self.service
            try:
                target = index_target(self.index)
            except SemsearchError as exc:
                if current is None:
                    self.error = str(exc)
                    return False
                # The engine is not answering: keep the service (/readyz says why) and
                # look again on the next poll.
                log.warning("index %s: cannot tell its version now: %s", self.index, exc)
                return False
            if not force and current is not None and current.target == target:
                # Back on the version served (a rollback, say): nothing failed any more.
                self.reload_error = None
                self._failed_target = None
                return False
            if not force and target == self._failed_target:
                return False
            started = time.perf_counter()
            try:
                service = SearchService(self.index, self._get_embedder(), self.settings)
                if self.warm_up:
                    service.warm_up()
            except SemsearchError as exc:
                self._failed_target = target
                self._record(ok=False)
                if current is None:
                    self.error = str(exc)
                    log.error("index not loaded: %s", exc)
                else:
                    self.reload_error = f"{exc} (still serving version {current.manifest.version})"
                    log.error("reload failed, still serving %s: %s", current.manifest.version, exc)
                return False
            self.service, self.error, self.reload_error = service, None, None
            self._failed_target = None
            if current is not None and current is self._loaded:
                self._retire(current)  # one handed in (create_app's SEARCH_SERVICE) is not ours
            self._loaded = service
            self._record(ok=True)
            log.info(
                "serving index version %s (%d chunks), loaded in %.0f ms",
                service.manifest.version,
                service.chunk_count,
                (time.perf_counter() - started) * 1000,
            )
            return True

    @staticmethod
    def _retire(service: SearchService) -> None:
        """Close a replaced service once the requests that took it have surely finished (a
        search takes milliseconds). Not leaving it to the garbage collector: an unclosed
        SQLite connection sits in a reference cycle, so its file, often a pruned version
        already deleted from disk, would stay open until a full collection."""
        timer = threading.Timer(RETIRE_AFTER_SECONDS, service.close)
        timer.daemon = True
        timer.start()

    def _get_embedder(self) -> Embedder:
        """The model is loaded once and shared by every version served."""
        if self._embedder is None:
            current = self.service
            if current is not None:
                self._embedder = current.embedder
            else:
                self._embedder = load_embedder(
                    get_setting("model", self.settings), get_setting("batch_size", self.settings)
                )
        return self._embedder

    def _record(self, ok: bool) -> None:
        self.reloads["ok" if ok else "failed"] += 1
        for callback in self.on_reload:
            callback(ok)

    def watch(self, interval: float) -> None:
        """Poll the index link every `interval` seconds in a daemon thread."""
        if interval <= 0 or self.index is None or self._watcher is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reload()
                except Exception:  # the watcher must outlive any one bad version
                    log.exception("index watcher: reload raised")

        self._watcher = threading.Thread(target=run, name="semsearch-index-watcher", daemon=True)
        self._watcher.start()
        log.info("watching %s for new versions every %.1fs", self.index, interval)

    def stop(self) -> None:
        """Stop the watcher (tests; the server's watcher dies with the process)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
