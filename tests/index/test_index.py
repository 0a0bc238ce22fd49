"""Index round trip, manifest checks, and atomic replacement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from semsearch.errors import BuildError, IndexMismatchError, IndexUnavailableError
from semsearch.index.build.builder import build_index
from semsearch.index.storage.manifest import MANIFEST_NAME, STORE_NAME, VECTORS_NAME
from semsearch.index.storage.vectors import read_vector_index
from semsearch.search.service import SearchService
from tests.conftest import DEMO_ARTICLES, FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

FAKE = {"min_score": FAKE_MIN_SCORE}


def write_article(folder: Path, name: str, title: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        f"# {title}\n\nBy [Ann Author](#)\n\nTest Gazette, May 01, 2020\n\n{body}\n\n"
        "The original source of this article is Test Gazette  \n"
        "Copyright © [Ann Author](#), Test Gazette, 2020\n",
        encoding="utf-8",
    )


def build_alpha(tmp_path: Path, embedder: HashingEmbedder) -> Path:
    """A one-article index at tmp_path/idx, built from tmp_path/in."""
    write_article(tmp_path / "in", "a.md", "Alpha", "The alpha river floods every spring.")
    out = tmp_path / "idx"
    build_index([tmp_path / "in"], out, embedder)
    return out


def test_round_trip(demo_index: Path, demo_service: SearchService) -> None:
    manifest = json.loads((demo_index / MANIFEST_NAME).read_text())
    assert manifest["format_version"] == 6
    assert manifest["counts"]["articles"] == 10
    assert manifest["model"] == {
        "name": "hashing-256",
        "revision": "1",
        "dimension": 256,
        "max_seq_tokens": 96,
        "backend": "hashing",
    }
    assert {VECTORS_NAME, STORE_NAME, "keyword/params.index.json", "keyword/chunk_ids.npy"} <= set(
        manifest["files"]
    )
    assert "keyword-articles/params.index.json" in manifest["files"]
    assert all(
        name.startswith(("keyword/", "keyword-articles/", "suggest/", "words/"))
        for name in set(manifest["files"]) - {VECTORS_NAME, STORE_NAME}
    )
    # FAISS ids are the store's chunk ids, not positions.
    vectors = read_vector_index(demo_index / VECTORS_NAME)
    assert vectors.ntotal == manifest["counts"]["chunks"]
    result = demo_service.search("Greyhaven tidal turbines porpoise", 3)
    assert result.hits[0].article.id == "09_greyhaven_tidal_array"
    hit = result.hits[0]
    article_text = (DEMO_ARTICLES / "09_greyhaven_tidal_array.md").read_text()
    assert hit.passage.text.split(".")[0] in article_text.replace("*", "")
    assert hit.article.copyright == "Copyright © Callum Aderinto, Harbor Ledger, 2025"


def test_index_refuses_another_model(demo_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="rebuild the index with the configured model"):
        SearchService(demo_index, HashingEmbedder(dimension=32))


@pytest.mark.parametrize("name", [STORE_NAME, "keyword/data.csc.index.npy"])
def test_index_refuses_a_changed_file(
    tmp_path: Path, fake_embedder: HashingEmbedder, name: str
) -> None:
    out = build_alpha(tmp_path, fake_embedder)
    with (out / name).open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00garbage")
    with pytest.raises(IndexMismatchError, match="checksum"):
        SearchService(out, fake_embedder, FAKE)


def test_index_refuses_a_missing_keyword_file(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = build_alpha(tmp_path, fake_embedder)
    (out / "keyword" / "vocab.index.json").unlink()
    with pytest.raises(IndexMismatchError, match="is missing"):
        SearchService(out, fake_embedder, FAKE)


def test_missing_index_and_manifest(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(IndexUnavailableError, match="semsearch build"):
        SearchService(tmp_path / "nowhere", fake_embedder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexUnavailableError, match=r"no manifest\.json"):
        SearchService(tmp_path / "empty", fake_embedder)


def test_rebuild_swaps_atomically_and_old_readers_keep_working(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = build_alpha(tmp_path, fake_embedder)
    old = SearchService(out, fake_embedder, FAKE)
    write_article(tmp_path / "v2", "b.md", "Beta", "The beta mountain is covered in snow.")
    report = build_index([tmp_path / "v2"], out, fake_embedder)
    assert out.is_symlink() and Path(os.path.realpath(out)) == report.version_dir
    new = SearchService(out, fake_embedder, FAKE)
    assert new.search("mountain snow", 1).hits[0].article.id == "b"
    # The service loaded before the swap still answers from its own version.
    assert old.search("river floods", 1).hits[0].article.id == "a"


def test_failed_build_leaves_served_index_alone(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = build_alpha(tmp_path, fake_embedder)
    before = os.path.realpath(out)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jsonl").write_text("{broken\n", encoding="utf-8")
    with pytest.raises(BuildError, match="no article could be read"):
        build_index([bad], out, fake_embedder)
    assert os.path.realpath(out) == before
    assert SearchService(out, fake_embedder, FAKE).search("river", 1).hits
    leftovers = [p.name for p in (tmp_path / ".idx.versions").iterdir()]
    assert not [name for name in leftovers if name.endswith(".partial")]


def test_build_skips_bad_articles_and_duplicates(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    folder = tmp_path / "in"
    write_article(folder, "a.md", "Alpha", "Alpha body text about rivers.")
    (folder / "b.jsonl").write_text(
        '{"id": "a", "title": "Dup", "text": "same id as a.md"}\n{oops\n'
        '{"id": "c", "title": "Gamma", "text": "Gamma text about deserts."}\n',
        encoding="utf-8",
    )
    report = build_index([folder], tmp_path / "idx", fake_embedder)
    assert report.articles == 2
    reasons = sorted(s.reason.split(" ")[0] for s in report.skipped)
    assert reasons == ["duplicate", "invalid"]
    assert all(":" in s.origin for s in report.skipped)


def test_refuses_to_replace_a_folder_that_is_not_an_index(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    write_article(tmp_path / "in", "a.md", "Alpha", "Alpha body text.")
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("do not delete", encoding="utf-8")
    with pytest.raises(BuildError, match="not a semsearch index"):
        build_index([tmp_path / "in"], out, fake_embedder)
    assert (out / "thesis.txt").read_text() == "do not delete"


def test_two_builds_in_one_process_take_turns(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    """Two threads building one index: each waits for the other's lock, both publish, and
    neither deletes the other's staging folder."""
    import threading

    write_article(tmp_path / "in", "a.md", "Alpha", "The alpha river floods every spring.")
    reports: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: reports.append(
                build_index([tmp_path / "in"], tmp_path / "idx", fake_embedder)
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == 2
    assert SearchService(tmp_path / "idx", fake_embedder, FAKE).search("river", 1).hits


def test_new_threads_still_answer_after_the_loaded_version_is_pruned(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    import threading

    out = build_alpha(tmp_path, fake_embedder)
    service = SearchService(out, fake_embedder, FAKE)
    served = Path(service.target)
    build_index([tmp_path / "in"], out, fake_embedder)
    build_index([tmp_path / "in"], out, fake_embedder)
    assert not served.exists()  # pruned: only the current and one previous version are kept
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(service.search("river", 1)))
    thread.start()
    thread.join()
    assert results and results[0].hits[0].article.id == "a"


def test_manifest_cannot_point_outside_the_index(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = build_alpha(tmp_path, fake_embedder)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 0}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="outside the index"):
        SearchService(out, fake_embedder, FAKE)
