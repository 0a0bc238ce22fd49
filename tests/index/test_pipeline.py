"""The build's background embedding: overlap with chunking, bounded memory, failures."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.build.pipeline import EmbeddingPipeline
from semsearch.search.service import SearchService
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder


class Recording(HashingEmbedder):
    """The fake embedder, noting which thread encoded and how many calls wait."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.calls = 0
        self.fail_after = fail_after

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the model ran out of memory")
        return super().encode_documents(texts)


def one_passage_files(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"{n:04d}.md").write_text(
            f"# Report {n}\n\nThe river gauge {n} read {n % 7} metres on a calm morning.\n",
            encoding="utf-8",
        )
    return folder


def test_vectors_come_back_in_id_order_with_reused_ones_in_place() -> None:
    embedder = HashingEmbedder()
    texts = [f"passage number {n} about item {n * 3}" for n in range(10)]

    class Reuse:
        hits = 0

        def get(self, text: str) -> np.ndarray | None:
            return embedder.encode_query(text) if text.endswith(("0", "6")) else None

    pipeline = EmbeddingPipeline(embedder, group=3, reuse=Reuse())  # type: ignore[arg-type]
    for n, text in enumerate(texts, start=1):
        pipeline.add(n, text)
    ids, vectors = pipeline.finish()
    assert ids.tolist() == list(range(1, 11))
    np.testing.assert_allclose(vectors, embedder.encode_documents(texts), atol=1e-6)


def test_embedding_runs_while_passages_are_still_handed_in(tmp_path: Path) -> None:
    """The collection is read and cleaned first (copies and learned boilerplate need every
    article); then chunking hands groups of 64 passages to a background thread, and with at
    most 4 groups waiting the 5th makes it take a finished group, so vectors arrive before
    the last passage is handed in."""
    folder = one_passage_files(tmp_path / "in", 400)
    embedder = Recording()
    events: list[tuple[str, int, int]] = []
    report = build_index(
        [folder],
        tmp_path / "idx",
        embedder,
        {"batch_size": 1},
        progress=lambda *e: events.append(e),
    )
    assert report.chunks == 400
    assert embedder.threads and all(t.startswith("build-embed") for t in embedder.threads)
    embeds = [e for e in events if e[0] == "embed"]
    last_read = max(i for i, e in enumerate(events) if e[0] == "read")
    assert last_read < events.index(embeds[0])  # every file read before the first vector
    embedded_while_chunking = [e for e in embeds if e[2] < 400 and e[1] > 0]
    assert embedded_while_chunking, "no passage was embedded before the last was handed in"
    # Never more than 4 groups of 64 (plus the one being filled) between chunker and model.
    assert all(queued - done <= 5 * 64 for _, done, queued in embeds)
    assert ("embed", 400, 400) in events


def test_a_model_failure_mid_build_fails_the_build_and_keeps_the_served_index(
    tmp_path: Path,
) -> None:
    folder = one_passage_files(tmp_path / "in", 200)
    out = tmp_path / "idx"
    build_index([folder], out, HashingEmbedder(), {"batch_size": 1})
    served = os.path.realpath(out)
    more = one_passage_files(tmp_path / "more", 300)  # 100 new passages: 2 groups to embed
    with pytest.raises(RuntimeError, match="out of memory"):
        build_index([more], out, Recording(fail_after=1), {"batch_size": 1})
    assert os.path.realpath(out) == served
    assert not [p for p in (tmp_path / ".idx.versions").iterdir() if p.name.endswith(".partial")]
    service = SearchService(out, HashingEmbedder(), {"min_score": FAKE_MIN_SCORE})
    assert service.search("river gauge 17", 1).hits
