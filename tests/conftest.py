"""Shared fixtures: a fake-embedder demo index for fast tests, the real model for slow ones.

Expensive things (a built index, the real model) are session-scoped. Data under
`../shared` belongs to its publishers: it is read from there, never copied into the project,
and tests that need it skip with a reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from semsearch.index.build.builder import build_index
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder
from tests.support.fake_embedder import register as register_fake_embedder

ROOT = Path(__file__).resolve().parents[1]
# The fake embedder answers to `--model hashing-N` here and, through `tests.support.cli`, in
# the child processes some tests start: they find `tests` through PYTHONPATH.
register_fake_embedder()
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
DEMO_ARTICLES = ROOT / "scripts" / "demo" / "articles"
SHARED = Path(os.environ.get("SEMSEARCH_SHARED", ROOT.parent / "shared"))
SEED = SHARED / "seeds" / "000_a804a51a9e6f9974.txt"
DATASETS = SHARED / "datasets"


def need_shared(path: Path) -> Path:
    """Skip the calling test, with the reason, when shared data is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"{path} is absent: shared data sits beside the checkout only in CI and dev")
    return path


@pytest.fixture(scope="session")
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder(dimension=256, max_seq_tokens=96)


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, fake_embedder: HashingEmbedder) -> Path:
    """The demo articles indexed with the fake embedder."""
    out = tmp_path_factory.mktemp("demo") / "index"
    build_index([DEMO_ARTICLES], out, fake_embedder)
    return out


#: The fake embedder's cosines sit far below the real model's; min_score is calibrated for
#: the real one (README, "No good match"), so fake-embedder services use this instead.
FAKE_MIN_SCORE = 0.05


@pytest.fixture(scope="session")
def demo_service(demo_index: Path, fake_embedder: HashingEmbedder) -> SearchService:
    return SearchService(demo_index, fake_embedder, {"min_score": FAKE_MIN_SCORE})


@pytest.fixture()
def app(demo_service: SearchService):
    return create_app({"TESTING": True, "SEARCH_SERVICE": demo_service})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for all slow tests."""
    from semsearch.index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


#: The news fixture's embedder: passages short enough that the long article has several.
NEWS_EMBEDDER = HashingEmbedder(dimension=256, max_seq_tokens=24)


@pytest.fixture(scope="session")
def news_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve short articles, a long one, a copy and an unrelated one, built with
    NEWS_EMBEDDER; filters and groups have known answers."""
    folder = tmp_path_factory.mktemp("news")
    records = []
    for i in range(12):
        records.append(
            {
                "id": f"n{i}",
                "title": f"Harbour report {i}",
                "text": f"The harbour dredging report number {i} covers silt and tides. "
                f"Unrelated filler sentence about weather {i}.",
                "published": f"20{10 + i}-06-15",
                "publication": "Gazette" if i % 2 else "Courier",
                "author": "Ann Lee" if i < 6 else "Bo Kim and Ann Lee" if i < 9 else "Cy Ode",
            }
        )
    records.append(
        {
            "id": "long",
            "title": "Festival",
            "text": "The harbour festival opened. "
            + "Boats sailed past. " * 40
            + "The harbour festival closed with fireworks over the tides.",
        }
    )
    records.append(
        {"id": "copy", "title": "Syndicated", "text": records[0]["text"]}
    )  # a syndicated copy of n0
    records.append({"id": "other", "title": "Gardens", "text": "Roses need pruning in March."})
    write_jsonl(folder / "news.jsonl", records)
    build_index([folder / "news.jsonl"], folder / "idx", NEWS_EMBEDDER)
    return folder / "idx"


@pytest.fixture(scope="session")
def news(news_index: Path) -> SearchService:
    """The news index served from its directory (tests/search/conftest.py serves it from
    every backend)."""
    return SearchService(news_index, NEWS_EMBEDDER, {"min_score": 0.05})
