"""A second real model for the tests: a small random-weights BERT saved by sentence-transformers.

Not all-MiniLM-L6-v2 in any way the product could assume: 48 dimensions, a 64-word-piece
window, 2 layers, and its own prompts ("query: ", "passage: ") in
config_sentence_transformers.json, saved by the installed sentence-transformers (6.x writes
the new `{"pooling_mode": "mean"}` pooling format). The vocabulary and tokenizer are the
packaged model's, copied, so texts tokenise as real English. The weights are random (seeded):
fine for structural tests (build, prompts, ONNX export, manifest checks, calibration), not for
relevance. Needs torch; tests that use it are marked `slow`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from semsearch.index.embed import resolve_model_path
from semsearch.settings import DEFAULT_MODEL

DIMENSION = 48
WINDOW = 64
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def make_local_model(
    folder: Path,
    *,
    dimension: int = DIMENSION,
    window: int = WINDOW,
    prompts: dict[str, str] | None = None,
    pooling: str = "mean",
    seed: int = 0,
) -> Path:
    """Save a random-weights sentence-transformers model into `folder` and return it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as st_modules
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    source = resolve_model_path(DEFAULT_MODEL)
    encoder_dir = folder / "encoder"
    encoder_dir.mkdir(exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, encoder_dir / name)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=dimension,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=dimension * 2,
        max_position_embeddings=window,
    )
    BertModel(config).eval().save_pretrained(encoder_dir)
    transformer = st_modules.Transformer(str(encoder_dir), max_seq_length=window)
    modules = [
        transformer,
        st_modules.Pooling(dimension, pooling_mode=pooling),
        st_modules.Normalize(),
    ]
    model = SentenceTransformer(
        modules=modules,
        device="cpu",
        prompts=prompts
        if prompts is not None
        else {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT},
    )
    model.save(str(folder / "model"))
    shutil.rmtree(encoder_dir)
    return folder / "model"
