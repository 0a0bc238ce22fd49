"""A running app picks up new index versions, keeps the last good one, and says so."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.embed import load_embedder
from semsearch.web import create_app
from semsearch.web.served import served_index
from tests.conftest import FAKE_MIN_SCORE
from tests.index.test_update import write_jsonl

MODEL = "hashing-256"
KEY = "s3cret-admin-key"


@pytest.fixture(scope="module")
def embedder() -> Any:
    return load_embedder(MODEL)


def make_app(index: Path, **config: Any) -> Any:
    return create_app(
        {
            "TESTING": True,
            "INDEX_DIR": str(index),
            "MODEL": MODEL,
            "SETTINGS": {"min_score": FAKE_MIN_SCORE},
            "RELOAD_INTERVAL": 0,
            **config,
        }
    )


def version(client: Any) -> str:
    return str(client.get("/readyz").get_json()["index"]["version"])


def test_reload_serves_the_new_version(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides", "bees"])], index, embedder)
    app = make_app(index)
    client = app.test_client()
    first = version(client)
    assert client.get("/api/search?q=sleeper+trains&mode=keyword").get_json()["results"] == []
    update_index(index, embedder, add=[write_jsonl(tmp_path / "b.jsonl", ["rail"])])
    assert served_index(app).reload() is True
    assert version(client) != first
    hits = client.get("/api/search?q=sleeper+trains&mode=keyword").get_json()["results"]
    assert hits[0]["article"]["id"] == "rail"
    assert served_index(app).reload() is False  # nothing new


def test_watcher_picks_up_an_index_built_after_start(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "idx"
    app = make_app(index, RELOAD_INTERVAL=0.05)
    client = app.test_client()
    try:
        response = client.get("/readyz")
        assert response.status_code == 503 and "no index at" in response.get_json()["error"]
        build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/search?q=tidal+lagoon").get_json()["results"]
    finally:
        served_index(app).stop()


def test_failed_reload_keeps_the_last_good_version(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
    app = make_app(index)
    client = app.test_client()
    good = version(client)
    # A new version whose store was damaged after publishing.
    update_index(index, embedder, add=[write_jsonl(tmp_path / "b.jsonl", ["rail"])])
    with (index / "store.sqlite").open("r+b") as store:
        store.seek(200)
        store.write(b"\x00garbage\x00")
    live = served_index(app)
    assert live.reload() is False
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["index"]["version"] == good
    assert "checksum" in ready.get_json()["reload_error"]
    assert good in ready.get_json()["reload_error"]
    assert client.get("/api/search?q=tidal+lagoon").status_code == 200
    # The watcher does not retry the same broken version on every poll...
    assert live.reload() is False and live.reloads["failed"] == 1
    # ...and the next good version clears the error.
    build_index([write_jsonl(tmp_path / "c.jsonl", ["salt"])], index, embedder)
    assert live.reload() is True
    ready = client.get("/readyz").get_json()
    assert ready["reload_error"] is None and ready["index"]["articles"] == 1


def test_admin_reload_needs_the_key(tmp_path: Path, embedder: Any) -> None:
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
    closed = make_app(index).test_client()
    response = closed.post("/api/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404 and "SEMSEARCH_ADMIN_KEY" in response.get_json()["error"]

    client = make_app(index, ADMIN_KEY=KEY).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        response = client.post("/api/admin/reload", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    before = version(client)
    build_index([write_jsonl(tmp_path / "b.jsonl", ["rail"])], index, embedder)
    response = client.post("/api/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    body = response.get_json()
    assert response.status_code == 200 and body["reloaded"] is True
    assert body["index"]["version"] == version(client) != before


def test_each_request_sees_one_version(tmp_path: Path, embedder: Any) -> None:
    """Searches racing with swaps between two versions with no article in common: every
    answer's hits all come from the version the answer names."""
    index = tmp_path / "idx"
    sources = [
        write_jsonl(tmp_path / "a.jsonl", ["tides", "bees"]),
        write_jsonl(tmp_path / "b.jsonl", ["rail", "salt"]),
    ]
    articles: dict[str, set[str]] = {}

    def publish(source: Path) -> None:
        """Build a version and record its articles before any server can load it."""
        report = build_index([source], index, embedder)
        with sqlite3.connect(report.version_dir / "store.sqlite") as db:
            articles[report.version_dir.name] = {
                row[0] for row in db.execute("SELECT id FROM articles")
            }
        db.close()

    publish(sources[0])
    app = make_app(index)
    live = served_index(app)
    problems: list[str] = []
    answers: list[str] = []
    stop = threading.Event()

    def search() -> None:
        client = app.test_client()
        while not stop.is_set():
            try:
                body = client.get(
                    "/api/search?q=city+sea+trains+marsh&k=10&mode=keyword"
                ).get_json()
                version = body["index"]["version"]
                ids = {hit["article"]["id"] for hit in body["results"]}
                answers.append(version)
                if not ids or not ids <= articles[version]:
                    problems.append(f"{version}: {ids}")
            except Exception as exc:  # any failure is a finding, not a lost thread
                problems.append(repr(exc))

    workers = [threading.Thread(target=search) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for source in (sources[1], sources[0], sources[1], sources[0]):
            publish(source)
            assert live.reload() is True
            time.sleep(0.1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
    assert problems == []
    assert len(set(answers)) >= 4  # the searches really did span the swaps


def test_rollback_to_the_served_version_clears_the_reload_error(
    tmp_path: Path, embedder: Any
) -> None:
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
    app = make_app(index)
    live = served_index(app)
    good_link = os.readlink(index)
    update_index(index, embedder, add=[write_jsonl(tmp_path / "b.jsonl", ["rail"])])
    (index / "store.sqlite").write_bytes(b"broken")
    assert live.reload() is False and served_index(app).reload_error
    rollback = tmp_path / "rollback-link"
    os.symlink(good_link, rollback)
    os.replace(rollback, index)
    assert live.reload() is False  # nothing new to load...
    assert app.test_client().get("/readyz").get_json()["reload_error"] is None  # ...and no error


def test_replaced_service_is_closed_after_its_grace(
    tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("semsearch.web.served.RETIRE_AFTER_SECONDS", 0.05)
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
    app = make_app(index)
    old = served_index(app).service
    build_index([write_jsonl(tmp_path / "b.jsonl", ["rail"])], index, embedder)
    assert served_index(app).reload() is True
    time.sleep(0.5)
    with pytest.raises(sqlite3.ProgrammingError):  # its connection (and file) released
        old.search("tidal lagoon", 1, mode="keyword")
    assert app.test_client().get("/api/search?q=sleeper+trains").status_code == 200


@pytest.mark.parametrize("key", ["12345", "0", "true", "[1]", "clé-secrète"])
def test_admin_key_from_the_environment_is_taken_as_written(
    tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    index = tmp_path / "idx"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], index, embedder)
    monkeypatch.setenv("SEMSEARCH_ADMIN_KEY", key)
    client = make_app(index).test_client()
    header = f"Bearer {key}".encode().decode("latin-1")  # what a client's UTF-8 bytes become
    response = client.post("/api/admin/reload", headers={"Authorization": header})
    assert response.status_code == 200, response.get_json()
    wrong = client.post("/api/admin/reload", headers={"Authorization": "Bearer 1234"})
    assert wrong.status_code == 401


def test_readyz_names_a_corrupt_or_mismatched_index(tmp_path: Path, embedder: Any) -> None:
    corrupt = tmp_path / "corrupt"
    build_index([write_jsonl(tmp_path / "a.jsonl", ["tides"])], corrupt, embedder)
    with (corrupt / "vectors.faiss").open("ab") as vectors:
        vectors.write(b"\0")
    response = make_app(corrupt).test_client().get("/readyz")
    assert response.status_code == 503
    assert "vectors.faiss is" in response.get_json()["error"]

    other_model = tmp_path / "other"
    build_index(
        [write_jsonl(tmp_path / "b.jsonl", ["tides"])], other_model, load_embedder("hashing-64")
    )
    response = make_app(other_model).test_client().get("/readyz")
    assert response.status_code == 503
    assert "built with model 'hashing-64'" in response.get_json()["error"]


def test_a_service_handed_in_is_never_closed(
    demo_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app did not open a SEARCH_SERVICE given to create_app: a reload must not close
    it (its owner, here the whole test session, still uses it)."""
    monkeypatch.setattr("semsearch.web.served.RETIRE_AFTER_SECONDS", 0.01)
    app = create_app({"TESTING": True, "SEARCH_SERVICE": demo_service, "ADMIN_KEY": KEY})
    response = app.test_client().post(
        "/api/admin/reload", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200
    time.sleep(0.2)
    assert demo_service.search("tram strike", 1).took_ms >= 0  # still open
