"""The search tests run against every backend: `demo_service` (and the `app` and `client`
over it) and `news` (the small news collection) are parametrized here by backend kind, so
each test of tests/search/ that uses them runs once on the index directory and once on the
same index published into Milvus Lite's real engine (marked `process`: it starts the
engine, so plain `pytest` runs the directory only and CI runs both). A new backend adds
its parameter to BACKENDS and a branch to `_open_demo`, and every search test then runs
against it unchanged (txtai's `runTests(backend)` is the model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.search.service import SearchService
from tests.conftest import FAKE_MIN_SCORE, NEWS_EMBEDDER
from tests.support.fake_embedder import HashingEmbedder

BACKENDS = ["directory", "live", pytest.param("engine", marks=pytest.mark.process)]


def _open_demo(kind: str, demo_index: Path, folder: Path) -> str | Path:
    """The name to open the demo index by, on the backend `kind`."""
    if kind == "directory":
        return demo_index
    if kind == "live":
        # A copy of the demo index made live (its passages become segments), so the other
        # backends keep the built one.
        import shutil

        from semsearch.index.live.snapshot import make_live
        from semsearch.index.storage.directory import resolve_index_dir

        copy = folder / "live"
        shutil.copytree(resolve_index_dir(demo_index), copy)
        make_live(copy, HashingEmbedder(dimension=256, max_seq_tokens=96))
        return copy
    if kind == "engine":
        from semsearch.index.build.publish import publish_index

        uri = f"milvus://{folder}/lite.db?collection=demo&timeout=5"
        publish_index(demo_index, uri)
        return uri
    raise AssertionError(f"no way to open the demo index on backend {kind!r}")


@pytest.fixture(scope="session", params=BACKENDS)
def news(
    request: pytest.FixtureRequest, news_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchService]:
    folder = tmp_path_factory.mktemp(f"news-{request.param}")
    name = _open_demo(request.param, news_index, folder)
    service = SearchService(name, NEWS_EMBEDDER, {"min_score": 0.05})
    yield service
    service.close()


@pytest.fixture(scope="session", params=BACKENDS)
def demo_service(
    request: pytest.FixtureRequest,
    demo_index: Path,
    fake_embedder: HashingEmbedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SearchService]:
    folder = tmp_path_factory.mktemp(f"backend-{request.param}")
    service = SearchService(
        _open_demo(request.param, demo_index, folder), fake_embedder, {"min_score": FAKE_MIN_SCORE}
    )
    yield service
    service.close()
