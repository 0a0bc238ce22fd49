"""The index a server answers from, and how a new version takes its place while serving.

A build, `add` or `delete` publishes a new version by swapping the index link (see
`semsearch.index.storage.directory`). `LiveIndex.reload` loads that version beside the one served,
checks it (manifest, checksums, model), warms it up, and only then swaps the reference the
views read. A request reads the reference once and uses that service to the end, so it sees
the old version or the new one, never a mix. The old service is closed a minute later,
long after the requests still holding it have finished.

If the new version cannot be loaded, the server keeps answering from the last good one and
`/readyz` says why (`reload_error`). A watcher thread polls the link (a `realpath`, a few
microseconds) every `RELOAD_INTERVAL` seconds; the admin endpoint reloads on demand.

An index in a search engine (`--index milvus://...`, `semsearch.search.backend`) is watched
the same way through its catalog: a new `semsearch publish` is a new version. An engine that
stops answering leaves the service in place (requests get 503, `/readyz` says why), and the
next request after it is back is answered again: the client reconnects by itself.

The state lives in `app.extensions["semsearch"]`, a dict the views and metrics read:
`service` (a SearchService or None), `error` (why there is none), `reload_error`, `live`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from semsearch.errors import SemsearchError
from semsearch.index.embed import Embedder, load_embedder
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.search.backend import EngineBackend, is_engine_uri, read_engine_record
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: Seconds a replaced service stays open for the requests that were using it.
RETIRE_AFTER_SECONDS = 60.0


def index_target(index: str | Path) -> str | Path:
    """What the index name points to now: a directory's current version folder, or an
    engine's published version and collection (`uri#version#collection`, read from its
    catalog: the same version published again is a new collection)."""
    if is_engine_uri(index):
        record = read_engine_record(str(index))
        return f"{index}#{record['manifest']['version']}#{record['passages']}"
    return resolve_index_dir(Path(index))


def served_target(service: SearchService) -> str | Path:
    """What `index_target` said when `service` was loaded."""
    if isinstance(service.backend, EngineBackend):
        return f"{service.version_dir}#{service.backend.passages.collection}"
    return service.version_dir


class LiveIndex:
    """Loads, watches and swaps the served index; `state` is the dict the views read."""

    def __init__(
        self,
        state: dict[str, Any],
        index_dir: str | Path | None,
        settings: dict[str, Any],
        warm_up: bool = True,
    ) -> None:
        self.state = state
        # An engine URI stays a string (a Path would fold its "//").
        self.index_dir: str | Path | None = (
            index_dir if is_engine_uri(index_dir or "") else Path(index_dir) if index_dir else None
        )
        self.settings = settings
        self.warm_up = warm_up
        self.reloads = {"ok": 0, "failed": 0}
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()  # one load at a time
        self._failed_target: str | Path | None = None
        self._loaded: SearchService | None = None  # the last service this object loaded
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        state.setdefault("service", None)
        state.setdefault("error", None)
        state.setdefault("reload_error", None)
        state["live"] = self
        self.on_reload: list[Any] = []  # callables(ok: bool), e.g. the metrics counter

    def load(self) -> bool:
        """The first load at start-up: on failure the reason is kept for `/readyz`."""
        if self.index_dir is None:
            self.state["error"] = "no index configured: set SEMSEARCH_INDEX_DIR or use --index"
            return False
        return self.reload(force=True)

    def reload(self, force: bool = False) -> bool:
        """Load the version the index link points to now, if it is not the one served.

        Returns True when a new version is being served. A version that failed to load is
        not tried again by the watcher until the link moves (`force` tries anyway)."""
        if self.index_dir is None:
            return False
        with self._lock:
            current: SearchService | None = self.state["service"]
            try:
                target = index_target(self.index_dir)
            except SemsearchError as exc:
                if current is None:
                    self.state["error"] = str(exc)
                    return False
                # The engine is not answering: keep the service (/readyz says why) and
                # look again on the next poll.
                log.warning("index %s: cannot tell its version now: %s", self.index_dir, exc)
                return False
            if not force and current is not None and served_target(current) == target:
                # Back on the version served (a rollback, say): nothing failed any more.
                self.state["reload_error"] = None
                self._failed_target = None
                return False
            if not force and target == self._failed_target:
                return False
            started = time.perf_counter()
            try:
                service = SearchService(self.index_dir, self._get_embedder(), self.settings)
                if self.warm_up:
                    service.warm_up()
            except SemsearchError as exc:
                self._failed_target = target
                self._record(ok=False)
                if current is None:
                    self.state["error"] = str(exc)
                    log.error("index not loaded: %s", exc)
                else:
                    self.state["reload_error"] = (
                        f"{exc} (still serving version {current.manifest.version})"
                    )
                    log.error("reload failed, still serving %s: %s", current.manifest.version, exc)
                return False
            self.state.update(service=service, error=None, reload_error=None)
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
            current = self.state["service"]
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
        if interval <= 0 or self.index_dir is None or self._watcher is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reload()
                except Exception:  # the watcher must outlive any one bad version
                    log.exception("index watcher: reload raised")

        self._watcher = threading.Thread(target=run, name="semsearch-index-watcher", daemon=True)
        self._watcher.start()
        log.info("watching %s for new versions every %.1fs", self.index_dir, interval)

    def stop(self) -> None:
        """Stop the watcher (tests; the server's watcher dies with the process)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
