"""The reference backend: the real model through sentence-transformers on torch, on the CPU.

Dimension and window are the loaded model's own; queries and passages get the prompts
`resolve_prompts` finds (the model folder's, or the `query_prompt` / `document_prompt`
settings), passed to sentence-transformers as `prompt`, so its pooling treats them as its own
`encode_query` / `encode_document` would (`include_prompt` included).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from semsearch.errors import ModelLoadError
from semsearch.index.embed.base import (
    Prompts,
    fingerprint_model,
    load_fast_tokenizer,
    normalise_rows,
    read_pooling,
    resolve_model_path,
    resolve_prompts,
)
from semsearch.settings import DEFAULT_MODEL

TORCH_BATCH_SIZE = 16


class SentenceTransformerEmbedder:
    """The real model, through sentence-transformers, on the CPU, from local files only."""

    backend = "torch"

    def __init__(
        self, model: str = DEFAULT_MODEL, batch_size: int = 32, prompts: Prompts | None = None
    ) -> None:
        # Set before transformers is imported: no hub calls at load or query time.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        self.path = resolve_model_path(model)
        self.name = model if model == DEFAULT_MODEL else self.path.name
        self.batch_size = batch_size
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types; the message is what matters
            raise ModelLoadError(f"cannot load the model from {self.path}: {exc}") from exc
        dimension = self.model.get_embedding_dimension()
        if not dimension:
            raise ModelLoadError(f"model at {self.path} does not report its embedding size")
        self.dimension = int(dimension)
        self.max_seq_tokens = int(self.model.max_seq_length or 512)
        self.pooling = read_pooling(self.path)
        self.prompts = prompts if prompts is not None else resolve_prompts(self.path)
        self.revision = fingerprint_model(self.path)
        self._tokenizer = load_fast_tokenizer(self.path)
        # sentence-transformers sets the tokenizer's truncation on every call: two calls at
        # once from a server's request threads break each other ("Already borrowed").
        self._lock = threading.Lock()

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is not None:
            encoding = self._tokenizer.encode(text, add_special_tokens=False)
            return [(int(a), int(b)) for a, b in encoding.offsets]
        with self._lock:  # the same tokenizer `encode` uses from the build's embed thread
            encoded = self.model.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
            )
        return [tuple(o) for o in encoded["offset_mapping"]]

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # encode_document where the library has it (sentence-transformers >= 5): it also routes
        # the text through a model's document side (Router models); the prompt is given
        # explicitly, so a setting can supply one the folder lacks.
        encode = getattr(self.model, "encode_document", self.model.encode)
        with self._lock:
            vectors = encode(
                texts,
                prompt=self.prompts.document,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalise_rows(vectors)

    def encode_query(self, text: str) -> np.ndarray:
        encode = getattr(self.model, "encode_query", self.model.encode)
        with self._lock:
            vector = encode(
                [text],
                prompt=self.prompts.query,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        row: np.ndarray = normalise_rows(vector)[0]
        return row
