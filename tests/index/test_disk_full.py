"""A full disk during `build` or `add` (`semsearch.index.build.space`): one BuildError that
says what happened and what to do, whichever writer hit it; nothing published, the served
version intact, no staging left behind. And a live index written until its disk is full.

The writers are made to fail the way each reports a full disk (SQLite's OperationalError,
FAISS's RuntimeError, an OSError with ENOSPC); two tests, marked `process` and run as root,
build on a real 256 KB tmpfs and write a live index on a real 1 MB one (the live index's
unit tests make SQLite itself answer SQLITE_FULL: tests/index/test_live.py)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.errors import BuildError, StorageFullError
from semsearch.index.build import builder, update
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.merge import compact
from semsearch.index.storage.manifest import read_manifest
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import DEMO_ARTICLES
from tests.support.fake_embedder import HashingEmbedder

FULL = "the disk is full: the {action} of {out} ran out of space while writing the new version"

#: How each writer says the disk is full.
FAILURES = {
    "sqlite": sqlite3.OperationalError("database or disk is full"),
    "faiss": RuntimeError(
        "Error in faiss::FileIOWriter::operator() at impl/io.cpp:98: Error "
        "'ret == (size)' failed: write error: No space left on device"
    ),
    "oserror": OSError(errno.ENOSPC, "No space left on device"),
}


def fail_with(exc: BaseException):
    def write(*args, **kwargs):
        raise exc

    return write


def leftovers(out: Path) -> list[str]:
    """Staging folders left beside the published versions."""
    versions = out.parent / f".{out.name}.versions"
    return sorted(p.name for p in versions.iterdir() if p.name.endswith(".partial"))


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "idx"
    build_index([DEMO_ARTICLES], out, HashingEmbedder(dimension=32))
    return out, read_manifest(out).version


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_full_disk_during_build_is_a_build_error(monkeypatch, built, kind: str) -> None:
    out, version = built
    monkeypatch.setattr(builder, "write_keyword_index", fail_with(FAILURES[kind]))
    with pytest.raises(BuildError) as raised:
        build_index([DEMO_ARTICLES], out, HashingEmbedder(dimension=32))
    message = str(raised.value)
    assert message.startswith(FULL.format(action="build", out=out))
    assert "nothing was published: an index already there is unchanged" in message
    assert "Free some space there" in message
    assert read_manifest(out).version == version
    assert leftovers(out) == []


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_full_disk_during_add_is_a_build_error(
    monkeypatch, built, tmp_path: Path, kind: str
) -> None:
    out, version = built
    added = tmp_path / "more.jsonl"
    added.write_text(json.dumps({"id": "more", "title": "More", "text": "Tidal power."}) + "\n")
    monkeypatch.setattr(update, "write_index_object", fail_with(FAILURES[kind]))
    with pytest.raises(BuildError) as raised:
        update_index(out, HashingEmbedder(dimension=32), add=[added])
    assert str(raised.value).startswith(FULL.format(action="update", out=out))
    assert read_manifest(out).version == version
    assert leftovers(out) == []


def test_other_failures_are_left_as_they_are(monkeypatch, built) -> None:
    out, _ = built
    monkeypatch.setattr(builder, "write_keyword_index", fail_with(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        build_index([DEMO_ARTICLES], out, HashingEmbedder(dimension=32))


@contextlib.contextmanager
def small_filesystem(tmp_path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` mounted in `tmp_path` (skips without root or without mounts)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.process
def test_a_build_on_a_real_full_filesystem(tmp_path: Path) -> None:
    """A 256 KB tmpfs: the demo index (about 630 KB) does not fit; FAISS fails first.
    Needs root to mount (CI runs as root)."""
    with small_filesystem(tmp_path, "256k") as mount:
        out = mount / "idx"
        with pytest.raises(BuildError) as raised:
            build_index([DEMO_ARTICLES], out, HashingEmbedder(dimension=384))
        assert str(raised.value).startswith(FULL.format(action="build", out=out))
        assert not out.exists()
        assert leftovers(out) == []


def story(batch: int, n: int) -> Article:
    """An article of 150 words found in no other (each write adds rows, words and vectors)."""
    words = " ".join(f"w{batch}x{n}y{k}" for k in range(150))
    return Article(id=f"b{batch}-{n}", title=f"Report {batch} {n}", text=f"{words}.")


@pytest.mark.process
def test_a_live_write_on_a_real_full_filesystem(tmp_path: Path) -> None:
    """A live index on a 1 MB tmpfs, written five articles at a time until the disk is full:
    the write that does not fit is refused whole (507, over HTTP too), every write
    acknowledged before it is there and found, the store passes SQLite's integrity check, a
    merge that cannot write its folder leaves the index serving its inputs; with space
    again the refused batch is written and the half-written merge folder removed."""
    embedder = HashingEmbedder(dimension=384)
    with small_filesystem(tmp_path, "1m") as mount:
        index = mount / "live"
        writer = open_writer(index, embedder, {"live_refresh_seconds": 0})
        writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged below
        acknowledged = 0
        with pytest.raises(StorageFullError) as raised:
            for batch in range(50):
                report = writer.upsert([story(batch, n) for n in range(5)])
                assert report.generation == batch + 1
                acknowledged += 1
        assert raised.value.status == 507
        assert str(raised.value) == (
            "the disk of the index is full: nothing of this write was kept (the writes "
            "acknowledged before it are); free space and send it again"
        )
        assert acknowledged >= 2
        assert shutil.disk_usage(mount).free < 64 * 1024  # it was the disk, not a limit

        reader = open_reader(index, {"live_refresh_seconds": 0})
        assert reader.generation == acknowledged
        assert reader.view().state.passages == acknowledged * 5 * 4  # 4 passages an article
        for batch in range(acknowledged):
            assert all(reader.fetch_article(f"b{batch}-{n}") is not None for n in range(5))
        assert reader.fetch_article(f"b{acknowledged}-0") is None  # nothing of it
        last = f"w{acknowledged - 1}x4y149"
        (found,) = [c for c, _ in reader.keyword(last, 5)]
        assert reader.fetch_chunks([found])[found].article["id"] == f"b{acknowledged - 1}-4"
        with sqlite3.connect(writer.version_dir / "store.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

        service = SearchService(index, embedder, {"live_refresh_seconds": 0})
        client = create_app(
            {"TESTING": True, "SEARCH_SERVICE": service, "ADMIN_KEY": "k"}
        ).test_client()
        response = client.post(
            "/api/articles",
            json=[{"id": "late", "title": "Late", "text": "word " * 300}],
            headers={"Authorization": "Bearer k"},
        )
        assert response.status_code == 507
        assert response.get_json() == {
            "ok": False,
            "error": str(raised.value),
            "status": 507,
        }

        segments = writer.version_dir / "segments"
        with pytest.raises(OSError) as merging:  # three inline segments: a full tier
            compact(index, {"live_merge_factor": 3})
        assert merging.value.errno == errno.ENOSPC
        assert [p.name.endswith(".partial") for p in segments.iterdir()] == [True]
        assert len(reader.view().segments) == acknowledged  # its inputs, still served
        assert [c for c, _ in reader.keyword(last, 5)] == [found]

        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        again = writer.upsert([story(acknowledged, n) for n in range(5)])
        assert [o.status for o in again.outcomes] == ["created"] * 5
        assert compact(index, {"live_merge_factor": 3}) >= 1
        assert not any(p.name.endswith(".partial") for p in segments.iterdir())
        assert reader.view().state.passages == (acknowledged + 1) * 5 * 4
        assert [c for c, _ in reader.keyword(last, 5)] == [found]
        service.close()
        reader.close()
        writer.close()
