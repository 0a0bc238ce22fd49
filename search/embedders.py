"""Which model answers an index, and one loaded copy of each model however many indexes
share it.

An index's manifest names the model that built it; a server of several collections
(`semsearch.web.collections`) and the Python API (`semsearch.open`) load that one unless a
model is chosen (the `model` setting or SEMSEARCH_MODEL). `EmbedderCache` keys a loaded
embedder by the model's name and every setting that changes what it computes or how
(backend, batch size, prompts): two collections built with the same model share one copy
of its weights (memory per collection: docs/operations.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semsearch.index.embed import Embedder, load_embedder
from semsearch.settings import explicit_setting, get_setting

#: The settings that make two loads of one model differ.
EMBEDDER_SETTINGS = ("backend", "batch_size", "query_prompt", "document_prompt")


def built_with(index: str | Path) -> str:
    """The name of the model an index was built with, from its manifest (for an engine
    index: the manifest of the directory it was published from)."""
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import read_manifest
    from semsearch.search.backends import backend_kind

    source = backend_kind(index).source_directory(index)
    return str(read_manifest(resolve_index_dir(Path(source))).model["name"])


def model_for(index: str | Path, settings: Mapping[str, Any] | None = None) -> str:
    """The model to answer `index` with: one chosen (setting or SEMSEARCH_MODEL), else the
    one that built it."""
    chosen = explicit_setting("model", settings)
    return str(chosen) if chosen else built_with(index)


class EmbedderCache:
    """Loaded embedders, one per model and settings; thread-safe."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[Any, ...], Embedder] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, settings: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """What makes a load of `model` differ from another: its name and settings."""
        return (model, *(get_setting(name, settings) for name in EMBEDDER_SETTINGS))

    def get(self, model: str, settings: Mapping[str, Any] | None = None) -> Embedder:
        """The embedder for `model` with these settings, loaded on first use."""
        key = self.key(model, settings)
        with self._lock:  # one load at a time: a model is hundreds of MB
            if key not in self._loaded:
                chosen = {**(settings or {}), "model": model}
                self._loaded[key] = load_embedder(
                    model, int(get_setting("batch_size", chosen)), settings=chosen
                )
            return self._loaded[key]

    def __len__(self) -> int:
        return len(self._loaded)
