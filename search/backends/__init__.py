"""Where a query's candidates come from: one protocol (`base.py`), one module per backend,
one factory.

- `directory`: an index directory's FAISS vectors, bm25s keyword index and SQLite store;
  whatever no other kind claims is taken for a directory;
- `live`: a live index's segments, written while it serves (`semsearch.index.live`);
- `milvus`: an index published into Milvus (`milvus://...`, `milvus+unix://...`,
  `milvus+http://...`).

`open_backend(index)` asks each registered kind whether it handles the name and opens the
index with the first that does; callers never ask which one they hold. A new backend is one
module with a `Backend` and a `BackendKind`, registered here (or by a plug-in, with
`register_backend_kind`); the search tests run against every registered kind through the
`backend_service` fixture of tests/search/conftest.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semsearch.search.backends.base import Backend, BackendKind, Candidates, Scope
from semsearch.search.backends.directory import DirectoryKind
from semsearch.search.backends.live import LiveKind
from semsearch.search.backends.milvus import MilvusKind

__all__ = [
    "Backend",
    "BackendKind",
    "Candidates",
    "Scope",
    "backend_kind",
    "open_backend",
    "register_backend_kind",
    "writes_to",
]

#: The registered kinds, asked in order; the directory kind, which takes any name, is last.
_KINDS: list[BackendKind] = [MilvusKind(), LiveKind()]
_FALLBACK: BackendKind = DirectoryKind()


def register_backend_kind(kind: BackendKind) -> None:
    """Add a kind of backend, asked before the ones already registered."""
    _KINDS.insert(0, kind)


def backend_kind(index: str | Path) -> BackendKind:
    """The kind of backend that opens `index`."""
    return next((kind for kind in _KINDS if kind.handles(index)), _FALLBACK)


def open_backend(index: str | Path, settings: Mapping[str, Any] | None = None) -> Backend:
    """The backend of the index `index` names now, checked and loaded, served with
    `settings` (the search settings by name)."""
    return backend_kind(index).open(index, settings)


def writes_to(index: str | Path) -> Path | None:
    """The directory whose writer takes the writes of `index`: itself, or the live index an
    engine's index is served from (its writes reach the engine through it:
    `semsearch.index.live.engine`); None for an engine's index published from a built
    directory (`semsearch add --index URI` changes that directory and publishes it again)."""
    from semsearch.index.live.writer import is_live
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import read_manifest

    source = backend_kind(index).source_directory(index)
    if str(source) == str(index):
        return Path(index)
    return source if is_live(read_manifest(resolve_index_dir(source))) else None


def index_target(index: str | Path) -> str:
    """What `index` points at now (its current version): the reload watcher polls it."""
    return backend_kind(index).target(index)
