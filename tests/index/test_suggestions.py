"""The suggestion table a build writes (`suggest/`): listed in the manifest, mapped at load,
kept by updates; an index built before it builds its suggestions from its titles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.storage.manifest import MANIFEST_NAME, read_manifest
from semsearch.index.storage.suggestions import (
    build_suggestions,
    open_suggestions,
    write_suggestions,
)
from semsearch.search.service import SearchService
from semsearch.search.suggest import Suggester
from tests.conftest import FAKE_MIN_SCORE
from tests.support import corpus
from tests.support.fake_embedder import HashingEmbedder

FAKE = {"min_score": FAKE_MIN_SCORE}


def write_articles(path: Path, titles: dict[str, str]) -> Path:
    records = [
        {"id": i, "title": t, "text": f"{t}. A passage about it."} for i, t in titles.items()
    ]
    return corpus.write_jsonl(path, records)


def test_a_written_table_reads_back_the_same(tmp_path: Path) -> None:
    titles = ["Harbour dredging begins", "Harbour dredging ends", "Harbour dredging resumes"]
    write_suggestions(build_suggestions([*titles, "Zürich café"]), tmp_path / "suggest")
    mapped = Suggester.open(tmp_path / "suggest")
    assert mapped.size == 5  # four titles and the phrase "Harbour dredging"
    assert [(s.text, s.kind, s.weight) for s in mapped.suggest("harbour", 2)] == [
        ("Harbour dredging", "phrase", 3),
        ("Harbour dredging ends", "title", 1),
    ]
    assert [s.text for s in mapped.suggest("zurich", 5)] == ["Zürich café"]


def test_an_empty_table_maps(tmp_path: Path) -> None:
    write_suggestions(build_suggestions([]), tmp_path / "suggest")
    table = open_suggestions(tmp_path / "suggest")
    assert table.size == 0 and Suggester(table=table).suggest("a", 5) == []


def test_the_build_writes_the_table_and_loading_maps_it(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = tmp_path / "idx"
    titles = {"a": "Tidal lagoons", "b": "Tidal power plans", "c": "Urban bees"}
    build_index([write_articles(tmp_path / "a.jsonl", titles)], out, fake_embedder)
    listed = sorted(n for n in read_manifest(out).files if n.startswith("suggest/"))
    assert listed == [
        "suggest/key_offsets.npy",
        "suggest/keys.bin",
        "suggest/kinds.npy",
        "suggest/shown.bin",
        "suggest/shown_offsets.npy",
        "suggest/weights.npy",
    ]
    service = SearchService(out, fake_embedder, FAKE)
    # Mapped, not built: the titles are not read from the store.
    service.backend.store.titles = lambda: ["Never read"]  # type: ignore[method-assign]
    assert [s.text for s in service.suggest("tidal", 5)] == ["Tidal lagoons", "Tidal power plans"]
    assert service.suggest("never", 5) == []
    # An update writes the table of its own version.
    update_index(out, fake_embedder, add=[write_articles(tmp_path / "b.jsonl", {"d": "Tidal art"})])
    updated = SearchService(out, fake_embedder, FAKE)
    assert [s.text for s in updated.suggest("tidal", 5)] == [
        "Tidal art",
        "Tidal lagoons",
        "Tidal power plans",
    ]


def test_an_index_built_before_the_table_builds_it_from_its_titles(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    out = tmp_path / "idx"
    build_index([write_articles(tmp_path / "a.jsonl", {"a": "Night trains"})], out, fake_embedder)
    version = out.resolve()
    shutil.rmtree(version / "suggest")
    manifest = json.loads((version / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["files"] = {k: v for k, v in manifest["files"].items() if "suggest/" not in k}
    (version / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    service = SearchService(out, fake_embedder, FAKE)
    assert [s.text for s in service.suggest("night", 5)] == ["Night trains"]
