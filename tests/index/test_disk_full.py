"""A full disk during `build` or `add` (`semsearch.index.build.space`): one BuildError that
says what happened and what to do, whichever writer hit it; nothing published, the served
version intact, no staging left behind.

The writers are made to fail the way each reports a full disk (SQLite's OperationalError,
FAISS's RuntimeError, an OSError with ENOSPC); one test, marked `process` and run as root,
builds on a real 256 KB tmpfs."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from semsearch.errors import BuildError
from semsearch.index.build import builder, update
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.storage.manifest import read_manifest
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


@pytest.mark.process
def test_a_build_on_a_real_full_filesystem(tmp_path: Path) -> None:
    """A 256 KB tmpfs: the demo index (about 630 KB) does not fit; FAISS fails first.
    Needs root to mount (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        out = mount / "idx"
        with pytest.raises(BuildError) as raised:
            build_index([DEMO_ARTICLES], out, HashingEmbedder(dimension=384))
        assert str(raised.value).startswith(FULL.format(action="build", out=out))
        assert not out.exists()
        assert leftovers(out) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)
