"""A live index served from Milvus Lite's real engine (`semsearch.index.live.engine`,
`semsearch.search.backends.live_engine`): publishing it, writes and deletes reaching the
engine's collection and the store before they are answered, searchable at once on both
sides, over HTTP too; a writer killed between the store's commit and the engine's insert,
and a flush killed after sending, replayed without loss or duplicates.

Counts are by hand: every article below is one passage (a short text, one chunk).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import semsearch.index.live.engine as live_engine
from semsearch.cli import cli
from semsearch.errors import IndexUnavailableError
from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_writer
from semsearch.index.live.engine import pending, publish_live, replay
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.milvus.address import parse_engine_uri
from semsearch.index.storage.milvus.catalog import read_engine_record
from semsearch.search.backends import open_backend, writes_to
from semsearch.search.service import SearchService
from semsearch.web import create_app
from tests.conftest import FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "live-engine-admin-key"
SETTINGS = {"min_score": FAKE_MIN_SCORE, "search_timeout_ms": 0}
FIRST = [
    Article(id="oak", title="Oak", text="The river rose over the old stone bridge."),
    Article(id="elm", title="Elm", text="A lake of reeds and herons beside the hill."),
    Article(id="ash", title="Ash", text="The council voted on the harbour levy again."),
]
NEW = Article(id="fir", title="Fir", text="Volcanic ash closed the mountain pass for weeks.")


@pytest.fixture
def published(
    tmp_path: Path, embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    """Three articles written to a live index, published into a Milvus Lite engine."""
    monkeypatch.setenv("SEMSEARCH_LIVE_REFRESH_SECONDS", "0")  # readers see each commit
    live = tmp_path / "live"
    writer = open_writer(live, embedder)
    assert [o.status for o in writer.upsert(FIRST).outcomes] == ["created"] * 3
    writer.close()
    uri = f"milvus://{tmp_path}/lite.db?collection=news&timeout=5"
    report = publish_live(live, uri)
    assert report.passages == 3
    yield live, uri


def engine_ids(uri: str) -> set[int]:
    """The chunk ids in the engine's current collection."""
    passages = parse_engine_uri(uri).passages(read_engine_record(uri)["passages"])
    try:
        rows = passages.call(
            "a test", "query", passages.collection, filter="chunk_id >= 0", output_fields=[]
        )
        return {int(r["chunk_id"]) for r in rows}
    finally:
        passages.close()


def store_ids(live: Path) -> set[int]:
    path = resolve_index_dir(live) / "store.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {int(r[0]) for r in db.execute("SELECT id FROM chunks")}


def outbox(live: Path) -> int:
    path = resolve_index_dir(live) / "store.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        return pending(db)


def top(service: SearchService, text: str, mode: str) -> list[str]:
    return [h.article.id for h in service.search(text, 3, mode=mode).hits]


def test_writes_and_deletes_reach_the_engine_and_the_store(published, embedder):
    live, uri = published
    service = SearchService(uri, embedder, SETTINGS)
    assert service.backend.kind == "live-engine"
    assert writes_to(uri) == live  # the server's writes go to the live directory
    assert engine_ids(uri) == store_ids(live) and len(store_ids(live)) == 3
    assert top(service, NEW.text, "dense")[0] != "fir"

    writer = open_writer(live, embedder)
    assert [o.status for o in writer.upsert([NEW]).outcomes] == ["created"]
    assert outbox(live) == 0  # sent before the answer
    assert len(engine_ids(uri)) == 4 and engine_ids(uri) == store_ids(live)
    assert top(service, NEW.text, "dense")[0] == "fir"  # the engine's vectors
    assert top(service, "volcanic mountain pass", "keyword")[0] == "fir"  # live segments
    assert top(service, "volcanic mountain pass", "hybrid")[0] == "fir"

    # Unchanged: nothing sent. Changed: the old passage leaves the engine, the new comes.
    before = engine_ids(uri)
    assert [o.status for o in writer.upsert([NEW]).outcomes] == ["unchanged"]
    assert engine_ids(uri) == before
    changed = Article(id="fir", title="Fir", text="Pine martens returned to the glen.")
    assert [o.status for o in writer.upsert([changed]).outcomes] == ["updated"]
    after = engine_ids(uri)
    assert len(after) == 4 and after != before and after == store_ids(live)
    assert top(service, "pine martens glen", "dense")[0] == "fir"

    assert [o.status for o in writer.delete(["oak", "nope"]).outcomes] == ["deleted", "refused"]
    assert len(engine_ids(uri)) == 3 and engine_ids(uri) == store_ids(live)
    assert "oak" not in top(service, "river stone bridge", "dense")
    writer.close()
    service.close()


def test_a_write_on_a_server_serving_from_the_engine(published, embedder):
    _, uri = published
    service = SearchService(uri, embedder, SETTINGS)
    app = create_app({"TESTING": True, "SEARCH_SERVICE": service, "ADMIN_KEY": ADMIN_KEY})
    client = app.test_client()
    body = json.dumps({"id": "fir", "title": NEW.title, "text": NEW.text}) + "\n"
    response = client.post(
        "/api/articles",
        data=body,
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 200, response.get_json()
    assert [i["status"] for i in response.get_json()["items"]] == ["created"]
    assert len(engine_ids(uri)) == 4
    found = client.get("/api/search", query_string={"q": NEW.text, "k": 1, "mode": "dense"})
    assert found.get_json()["results"][0]["article"]["id"] == "fir"
    gone = client.delete("/api/articles/elm", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert gone.status_code == 200 and len(engine_ids(uri)) == 3
    service.close()


def test_a_writer_killed_between_the_store_and_the_engine_is_replayed(published, embedder):
    live, uri = published
    env = {**os.environ, "SEMSEARCH_CRASH_AT": "live-committed-before-engine"}
    child = subprocess.run(
        [sys.executable, "-m", "tests.support.live_child", "write", str(live), "k", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9 and "ack" not in child.stdout  # killed before its answer
    # Committed in the store (5 articles of one passage), not in the engine: in the outbox.
    assert len(store_ids(live)) == 8 and len(engine_ids(uri)) == 3
    assert outbox(live) == 5
    service = SearchService(uri, embedder, SETTINGS)  # opening it replays the outbox
    assert outbox(live) == 0 and engine_ids(uri) == store_ids(live)
    assert top(service, "Harbour ferry timetable k0x3", "dense")[0].startswith("k-0-")
    assert replay(live) == 0 and len(engine_ids(uri)) == 8  # nothing more to send
    service.close()


def test_a_flush_killed_after_sending_sends_again_without_duplicates(
    published, embedder, monkeypatch
):
    live, uri = published

    def die_once(name: str) -> None:
        if name == "live-engine-before-outbox-delete":
            monkeypatch.setattr(live_engine, "crash_point", lambda name: None)
            raise IndexUnavailableError("killed after sending, before the outbox row went")

    monkeypatch.setattr(live_engine, "crash_point", die_once)
    writer = open_writer(live, embedder)
    with pytest.raises(IndexUnavailableError, match="stored, durable"):
        writer.upsert([NEW])
    # Sent, and still in the outbox: the next write sends it again first.
    assert outbox(live) == 1 and len(engine_ids(uri)) == 4
    again = writer.upsert([NEW])
    assert [o.status for o in again.outcomes] == ["unchanged"]  # a retry: idempotent
    assert outbox(live) == 0 and len(engine_ids(uri)) == 4  # upsert by chunk id: no copy
    assert engine_ids(uri) == store_ids(live)
    writer.close()


def test_the_cli_publishes_a_live_index_and_adds_through_it(published, tmp_path):
    live, uri = published
    first = read_engine_record(uri)["passages"]
    article = tmp_path / "more.jsonl"
    article.write_text(json.dumps({"id": "fir", "title": "Fir", "text": NEW.text}) + "\n")
    runner = CliRunner()
    again = runner.invoke(cli, ["publish", str(live), "--to", uri])  # a new collection
    assert again.exit_code == 0, again.output
    assert f"published: {live} (live)" in again.output and "passages: 3 in" in again.output
    record = read_engine_record(uri)
    assert record["live"] and record["passages"] != first
    assert [o["passages"] for o in record["owns"]] == [record["passages"], first]

    result = runner.invoke(cli, ["add", str(article), "--index", uri])
    assert result.exit_code == 0, result.output
    assert "added: 1 (fir)" in result.output
    assert len(engine_ids(uri)) == 4 and engine_ids(uri) == store_ids(live)
    backend = open_backend(uri)
    assert backend.kind == "live-engine"
    backend.close()
