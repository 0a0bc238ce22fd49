"""Adding, replacing and deleting articles in a published index (`semsearch.index.build.update`)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import faiss
import pytest

from semsearch.cli import cli
from semsearch.errors import BuildError, IndexMismatchError
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.storage.directory import writer_lock
from semsearch.index.storage.manifest import MANIFEST_NAME, read_manifest, verify_files
from semsearch.index.storage.vectors import read_vector_index
from semsearch.search.backends.directory import directory_backend
from semsearch.search.service import SearchService
from tests.conftest import DEMO_ARTICLES, FAKE_MIN_SCORE
from tests.support import corpus
from tests.support.fake_embedder import HashingEmbedder

FAKE = {"min_score": FAKE_MIN_SCORE}
DEMO_PAGE = DEMO_ARTICLES / "01_wexley_street_swing_bridge.md"

ARTICLES = {
    "tides": ("Tidal lagoons", "The tidal lagoon at Swansea would turn the sea into power."),
    "bees": ("Urban bees", "Rooftop beehives in the city produce honey from linden trees."),
    "rail": ("Night trains", "Sleeper trains between Vienna and Paris returned last winter."),
    "salt": ("Salt marshes", "Salt marshes store carbon and shelter young fish from storms."),
}


def write_jsonl(path: Path, ids: list[str], overrides: dict[str, str] | None = None) -> Path:
    """A JSONL file of some of ARTICLES; `overrides` replaces the text of some ids."""
    overrides = overrides or {}
    records = [
        {"id": i, "title": ARTICLES[i][0], "text": overrides.get(i, ARTICLES[i][1])} for i in ids
    ]
    return corpus.write_jsonl(path, records)


def article_ids(index: Path, embedder: HashingEmbedder, query: str, mode: str) -> list[str]:
    service = SearchService(index, embedder, FAKE)
    return [hit.article.id for hit in service.search(query, 10, mode=mode).hits]


def ranking(index: Path, embedder: HashingEmbedder, query: str, mode: str) -> list[tuple]:
    """(score, article id, passage) best first; ties in score ordered by id, since FAISS
    breaks ties by chunk id and an update numbers chunks differently from a build."""
    service = SearchService(index, embedder, FAKE)
    hits = service.search(query, 10, mode=mode).hits
    return sorted((-h.score, h.article.id, h.passage.text) for h in hits)


def all_ids(index: Path, embedder: HashingEmbedder) -> set[str]:
    service = SearchService(index, embedder, FAKE)
    return set(service.backend.store.chunk_articles().values())


@pytest.fixture()
def small_index(tmp_path: Path, fake_embedder: HashingEmbedder) -> Path:
    out = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "first.jsonl", ["tides", "bees"])], out, fake_embedder)
    return out


def test_add_new_articles_publishes_a_new_version(
    tmp_path: Path, small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    before = read_manifest(small_index)
    old_version_dir = small_index.resolve()
    report = update_index(
        small_index, fake_embedder, add=[write_jsonl(tmp_path / "more.jsonl", ["rail", "salt"])]
    )
    assert report.added == ["rail", "salt"] and not report.replaced and not report.deleted
    after = read_manifest(small_index)
    assert after.version != before.version and after.parent == before.version
    assert after.counts["articles"] == 4 and after.fusion == before.fusion
    verify_files(small_index.resolve(), after)
    assert article_ids(small_index, fake_embedder, "sleeper trains Vienna", "hybrid")[0] == "rail"
    # The version that was being served is untouched, files and all.
    verify_files(old_version_dir, before)


def test_unchanged_articles_are_not_republished(
    tmp_path: Path, small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    version = small_index.resolve()
    report = update_index(
        small_index, fake_embedder, add=[write_jsonl(tmp_path / "same.jsonl", ["tides", "bees"])]
    )
    assert report.unchanged == ["tides", "bees"] and not report.changed
    assert report.version_dir is None and small_index.resolve() == version
    assert not list(version.parent.glob("*.partial"))


def test_replace_changed_article(
    tmp_path: Path, small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    new_text = "The tidal lagoon plan was shelved after the treasury refused a subsidy."
    changed = write_jsonl(tmp_path / "changed.jsonl", ["tides"], {"tides": new_text})
    report = update_index(small_index, fake_embedder, add=[changed])
    assert report.replaced == ["tides"]
    service = SearchService(small_index, fake_embedder, FAKE)
    assert service.search("treasury subsidy", 5, mode="keyword").hits[0].article.id == "tides"
    assert service.search("Swansea", 5, mode="keyword").hits == []  # the old text is gone
    # One set of passages per article: the old chunks left the store and FAISS alike.
    assert directory_backend(service.backend).vectors.ntotal == service.chunk_count
    stored = set(service.backend.store.chunk_articles())
    vectors = read_vector_index(small_index / "vectors.faiss")  # kept alive while read
    assert set(faiss.vector_to_array(vectors.id_map).tolist()) == stored


def test_deleted_article_is_never_returned(
    tmp_path: Path, small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    report = update_index(small_index, fake_embedder, delete=["bees"])
    assert report.deleted == ["bees"]
    for mode in ("dense", "keyword", "hybrid"):
        assert "bees" not in article_ids(small_index, fake_embedder, ARTICLES["bees"][1], mode)
    assert all_ids(small_index, fake_embedder) == {"tides"}
    assert read_manifest(small_index).counts["articles"] == 1


def test_unknown_id_deletes_nothing(small_index: Path, fake_embedder: HashingEmbedder) -> None:
    version = small_index.resolve()
    with pytest.raises(BuildError, match="not in the index, nothing deleted: 'nope'"):
        update_index(small_index, fake_embedder, delete=["bees", "nope"])
    assert small_index.resolve() == version
    assert all_ids(small_index, fake_embedder) == {"tides", "bees"}
    assert not list(version.parent.glob("*.partial"))


def test_updates_match_a_fresh_build(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    """build(tides, bees) + add(rail, salt, changed tides) + delete(bees) answers like a
    build of what is left, query for query."""
    changed = {"tides": "Tidal power from the Severn estuary could light Cardiff."}
    updated = tmp_path / "updated"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides", "bees"])], updated, fake_embedder)
    update_index(
        updated,
        fake_embedder,
        add=[write_jsonl(tmp_path / "b.jsonl", ["rail", "salt", "tides"], changed)],
        delete=["bees"],
    )
    fresh = tmp_path / "fresh"
    build_index(
        [write_jsonl(tmp_path / "c.jsonl", ["tides", "rail", "salt"], changed)],
        fresh,
        fake_embedder,
    )
    for query in ("tidal power Severn", "night trains", "carbon in marshes", "honey bees"):
        for mode in ("dense", "keyword", "hybrid"):
            assert ranking(updated, fake_embedder, query, mode) == ranking(
                fresh, fake_embedder, query, mode
            ), (query, mode)


def test_writers_take_turns(small_index: Path, fake_embedder: HashingEmbedder) -> None:
    """A second writer waits for the first; it never publishes over the first's change."""
    done: list[str] = []
    with writer_lock(small_index):
        worker = threading.Thread(
            target=lambda: done.append(
                update_index(small_index, fake_embedder, delete=["bees"]).deleted[0]
            )
        )
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive() and not done  # blocked on the lock
    worker.join(10)
    assert done == ["bees"]


def test_update_refuses_another_model(small_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match="built with model"):
        update_index(small_index, HashingEmbedder(dimension=64), delete=["bees"])


def test_cli_add_and_delete(tmp_path: Path, runner) -> None:
    out = tmp_path / "idx"
    first = write_jsonl(tmp_path / "first.jsonl", ["tides", "bees"])
    build = ["build", str(first), "--out", str(out), "--model", "hashing-256", "--quiet"]
    assert runner.invoke(cli, build).exit_code == 0
    more = write_jsonl(tmp_path / "more.jsonl", ["rail", "tides"])
    result = runner.invoke(cli, ["add", str(more), "--index", str(out), "--model", "hashing-256"])
    assert result.exit_code == 0, result.output
    assert "added: 1 (rail)" in result.output and "unchanged: 1 (tides)" in result.output
    # Through the index's writer, as over HTTP: the id not in the index is refused (exit
    # status 1), the other one deleted.
    result = runner.invoke(
        cli, ["delete", "bees", "ghost", "--index", str(out), "--model", "hashing-256"]
    )
    assert result.exit_code == 1 and "  ghost: not in the index" in result.output
    assert "deleted: 1 (bees)" in result.output
    result = runner.invoke(cli, ["delete", "tides", "--index", str(out), "--model", "hashing-256"])
    assert result.exit_code == 0 and "deleted: 1 (tides)" in result.output
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["counts"]["articles"] == 1  # tides, bees and rail; bees and tides deleted
    assert os.path.islink(out)


def test_rebuild_embeds_only_what_changed(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    """A rebuild from the same inputs plus one new article embeds one article's passages;
    the reused vectors answer exactly as freshly computed ones."""
    out = tmp_path / "idx"
    first = build_index([write_jsonl(tmp_path / "a.jsonl", ["tides", "bees"])], out, fake_embedder)
    assert first.reused == 0
    more = write_jsonl(tmp_path / "b.jsonl", ["tides", "bees", "rail"])
    counting = CountingEmbedder(fake_embedder)
    again = build_index([more], out, counting)
    assert again.reused == first.chunks and counting.embedded == again.chunks - first.chunks
    fresh = tmp_path / "fresh"
    build_index([more], fresh, fake_embedder)
    for query in ("tidal lagoon", "honey", "sleeper trains"):
        assert ranking(out, fake_embedder, query, "dense") == ranking(
            fresh, fake_embedder, query, "dense"
        )
    # Other chunker settings make other passages: nothing is reused.
    other = build_index([more], out, fake_embedder, {"chunk_tokens": 40})
    assert other.reused == 0


def test_an_index_of_the_previous_format_lends_its_vectors(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    """Format 2 had no keyword index; its vectors are as good as ever, so upgrading
    semsearch and rebuilding embeds nothing again, while serving it is refused."""
    out = tmp_path / "idx"
    source = write_jsonl(tmp_path / "a.jsonl", ["tides", "bees"])
    first = build_index([source], out, fake_embedder)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["format_version"] = 2
    manifest["files"] = {n: f for n, f in manifest["files"].items() if "/" not in n}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    shutil.rmtree(out / "keyword")
    with pytest.raises(IndexMismatchError, match="index format 2"):
        SearchService(out, fake_embedder)
    counting = CountingEmbedder(fake_embedder)
    again = build_index([source], out, counting)
    assert again.reused == first.chunks and counting.embedded == 0
    assert SearchService(out, fake_embedder).search("honey bees", 1).hits


class CountingEmbedder:
    """The fake embedder, counting the passages it is asked to embed."""

    def __init__(self, inner: HashingEmbedder) -> None:
        self.inner = inner
        self.embedded = 0
        for name in ("name", "revision", "dimension", "max_seq_tokens", "token_offsets", "backend"):
            setattr(self, name, getattr(inner, name))

    def encode_documents(self, texts: list[str]):
        self.embedded += len(texts)
        return self.inner.encode_documents(texts)

    def encode_query(self, text: str):
        return self.inner.encode_query(text)


def test_chunk_ids_are_never_reused(
    tmp_path: Path, small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    """Deleting the newest article frees the highest ids; the next article must not take
    them, since API clients may hold on to chunk ids."""

    def chunk_ids() -> set[int]:
        service = SearchService(small_index, fake_embedder, FAKE)
        return set(service.backend.store.chunk_articles())

    before = chunk_ids()
    update_index(small_index, fake_embedder, delete=["bees"])
    update_index(small_index, fake_embedder, add=[write_jsonl(tmp_path / "r.jsonl", ["rail"])])
    assert min(chunk_ids() - before) > max(before)


def test_a_change_in_served_metadata_alone_replaces_the_article(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    """A page's site link lives in `extra`, outside the text; a new one must reach results."""
    folder = tmp_path / "in"
    folder.mkdir()
    page = folder / "bridge.md"
    page.write_text(DEMO_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "idx"
    build_index([folder], out, fake_embedder)
    moved = "https://news.harborledger.example"
    page.write_text(
        page.read_text(encoding="utf-8").replace("http://www.harborledger.example", moved),
        encoding="utf-8",
    )
    assert update_index(out, fake_embedder, add=[folder]).replaced == ["bridge"]
    hit = SearchService(out, fake_embedder, FAKE).search("swing bridge", 1).hits[0]
    assert hit.article.site_url == moved


def test_deleting_every_article_publishes_an_empty_index(
    small_index: Path, fake_embedder: HashingEmbedder
) -> None:
    report = update_index(small_index, fake_embedder, delete=["tides", "bees"])
    assert (report.articles, report.chunks) == (0, 0)
    service = SearchService(small_index, fake_embedder, FAKE)
    for mode in ("hybrid", "dense", "keyword"):
        assert service.search("honey bees", 3, mode=mode).hits == []


def test_an_article_of_stop_words_only_still_builds(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"id": "x", "title": "The", "text": "It is what it is, and so it was."}\n')
    report = build_index([source], tmp_path / "idx", fake_embedder)
    assert report.chunks == 1
    service = SearchService(tmp_path / "idx", fake_embedder, FAKE)
    assert service.search("what it was", 3, mode="keyword").hits == []
