"""`semsearch live | add | delete | snapshot | restore | compact` on a live index, through
click's runner with the fake embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.cli import cli
from semsearch.index.live import open_reader
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.storage.manifest import KEYWORD_DIR, read_manifest
from tests.conftest import DEMO_ARTICLES

MODEL = ["--model", "hashing-256"]


def run(runner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_built_index_made_live_scores_keywords_as_it_did(runner, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    run(runner, "build", str(DEMO_ARTICLES), "--out", str(index), *MODEL, "--quiet")
    built = resolve_index_dir(index)
    chunks = read_manifest(built).counts["chunks"]
    # Every passage that matches (1,000 > the demo's passages), so ties at a cut do not count.
    one_shot = dict(KeywordIndex(built / KEYWORD_DIR).search("swing bridge repairs", 1000))
    assert "is live" in run(runner, "live", str(index), *MODEL)
    reader = open_reader(index)
    assert reader.view().state.passages == chunks
    live = dict(reader.keyword("swing bridge repairs", 1000))
    assert set(live) == set(one_shot)
    assert [live[c] for c in one_shot] == pytest.approx(list(one_shot.values()), rel=1e-5)
    reader.close()


def test_add_delete_snapshot_restore_on_a_live_index(runner, tmp_path: Path) -> None:
    index = tmp_path / "live"
    run(runner, "live", str(index), *MODEL)
    new = tmp_path / "new.jsonl"
    rows = [
        {"id": "ferry-1", "title": "Ferry timetable", "text": "The harbour ferry leaves at nine."},
        {"id": "ferry-2", "title": "Ferry fares", "text": "Fares on the harbour ferry rise."},
    ]
    new.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert "added: 2" in run(runner, "add", str(new), "--index", str(index), *MODEL, "--quiet")
    assert "unchanged: 2" in run(runner, "add", str(new), "--index", str(index), *MODEL)
    snapshot = tmp_path / "snap"
    run(runner, "snapshot", str(index), str(snapshot))
    assert "deleted: 1" in run(runner, "delete", "ferry-1", "--index", str(index), *MODEL)
    reader = open_reader(index)
    assert reader.fetch_article("ferry-1") is None
    reader.close()
    run(runner, "restore", str(snapshot), str(index))
    reader = open_reader(index)
    assert reader.fetch_article("ferry-1") is not None
    assert {c for c, _ in reader.keyword("harbour ferry", 10)} == {1, 2}
    reader.close()
    assert "merges" in run(runner, "compact", str(index))
