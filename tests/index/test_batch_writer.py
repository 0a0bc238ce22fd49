"""The batch writer (`open_writer` over `update_index`): one outcome per item, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.ingest.articles import Article
from semsearch.index.live import WriteOutcome, open_writer
from semsearch.index.storage.manifest import read_manifest
from tests.support.fake_embedder import HashingEmbedder

STORY = (
    "The ferry to the northern islands will run twice a day from June, the operator said, "
    "after the harbour authority approved a second berth and a new timetable for summer."
)


@pytest.fixture()
def index(tmp_path: Path, fake_embedder: HashingEmbedder) -> Path:
    source = tmp_path / "a.jsonl"
    records = [
        {"id": "tides", "title": "Tides", "text": "Spring tides flooded the harbour wall."},
        {"id": "bees", "title": "Bees", "text": "Rooftop bees made forty jars of honey."},
    ]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    build_index([source], tmp_path / "index", fake_embedder)
    return tmp_path / "index"


def article(article_id: str, text: str, **fields: str) -> Article:
    return Article(id=article_id, title=fields.pop("title", article_id), text=text, **fields)


def test_upsert_answers_each_article_in_order(index: Path, fake_embedder: HashingEmbedder) -> None:
    writer = open_writer(index, fake_embedder)
    report = writer.upsert(
        [
            article("ferry", STORY, publication="Island Post"),
            article("tides", "Spring tides flooded the harbour wall.", title="Tides"),
            article("bees", "Rooftop bees made fifty jars of honey.", title="Bees"),
            article("", "An empty id."),
            article("ferry", "The same id again."),
            article("ferry-copy", STORY, publication="Coast Herald"),
        ]
    )
    assert [(o.id, o.status) for o in report.outcomes] == [
        ("ferry", "created"),
        ("tides", "unchanged"),
        ("bees", "updated"),
        ("", "refused"),
        ("ferry", "refused"),
        ("ferry-copy", "refused"),
    ]
    assert report.outcomes[3].reason == "empty id"
    assert "syndicated copy" in (report.outcomes[5].reason or "")
    assert report.generation == 1
    assert read_manifest(index.resolve()).counts["articles"] == 3
    again = writer.upsert([article("ferry", STORY, publication="Island Post")])
    assert again.outcomes == (WriteOutcome("ferry", "unchanged"),) and again.generation == 1
    writer.close()


def test_delete_refuses_what_is_not_there(index: Path, fake_embedder: HashingEmbedder) -> None:
    writer = open_writer(index, fake_embedder)
    report = writer.delete(["bees", "ghost", "bees", "x" * 513])
    assert [(o.id, o.status, o.reason) for o in report.outcomes] == [
        ("bees", "deleted", None),
        ("ghost", "refused", "not in the index"),
        ("bees", "refused", "the same id twice in one batch"),
        ("x" * 513, "refused", "id is 513 characters, over 256"),
    ]
    assert read_manifest(index.resolve()).counts["articles"] == 1
    nothing = writer.delete(["ghost"])
    assert nothing.outcomes == (WriteOutcome("ghost", "refused", "not in the index"),)
    assert nothing.generation == 1  # nothing published
