"""Several collections on one server (`semsearch.web.collections`): their list, their
routes, the default one, searches across them, and aliases moved while clients search."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from semsearch.index.build.builder import build_index
from semsearch.web import create_app
from semsearch.web.collections import collections_of
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder

ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three articles built with another model (hashing-128) than the demo index's."""
    folder = tmp_path_factory.mktemp("small")
    records = [
        {"id": "s1", "title": "Tidal mills", "text": "Tidal mills ground grain with the tide."},
        {"id": "s2", "title": "Kelp", "text": "Kelp forests shelter fish along the coast."},
        {"id": "s3", "title": "Lighthouses", "text": "Lighthouse keepers logged every storm."},
    ]
    write_jsonl(folder / "small.jsonl", records)
    build_index([folder / "small.jsonl"], folder / "idx", HashingEmbedder(dimension=128))
    return folder / "idx"


def make_app(tmp_path: Path, indexes: dict[str, Path], **config: object):
    return create_app(
        {
            "TESTING": True,
            "INDEXES": indexes,
            "SETTINGS": {"min_score": 0.05},
            "RELOAD_INTERVAL": 0,
            "WARM_UP": False,
            "ALIASES_FILE": str(tmp_path / "aliases.json"),
            "ADMIN_KEY": "admin-secret",
            **config,
        }
    )


@pytest.fixture()
def two(tmp_path: Path, demo_index: Path, small_index: Path):
    app = make_app(tmp_path, {"demo": demo_index, "small": small_index})
    yield app
    collections_of(app).stop()


def without_time(answer: dict) -> dict:
    assert isinstance(answer.pop("took_ms"), float)
    return answer


def test_the_list_names_each_collection_with_its_counts_and_model(two) -> None:
    answer = two.test_client().get("/api/collections").get_json()
    assert answer["ok"] is True
    assert answer["default"] == "demo"
    listed = {c["name"]: c for c in answer["collections"]}
    assert list(listed) == ["demo", "small"]
    assert listed["demo"]["index"]["model"] == "hashing-256"
    assert listed["small"]["index"]["model"] == "hashing-128"
    assert (listed["demo"]["index"]["articles"], listed["demo"]["index"]["chunks"]) == (10, 132)
    assert listed["small"]["index"]["articles"] == 3
    assert listed["demo"]["default"] is True and listed["small"]["default"] is False


def test_each_model_is_loaded_once(tmp_path: Path, demo_index: Path, small_index: Path) -> None:
    app = make_app(tmp_path, {"a": demo_index, "b": demo_index, "c": small_index})
    served = collections_of(app).served()
    assert len(app.extensions["semsearch.embedders"]) == 2
    assert served["a"].service.embedder is served["b"].service.embedder
    assert served["a"].service.embedder is not served["c"].service.embedder


def test_a_collection_answers_in_the_single_index_shape(two) -> None:
    client = two.test_client()
    default = client.get("/api/search?q=tidal+power&k=3").get_json()
    named = client.get("/api/collections/demo/search?q=tidal+power&k=3").get_json()
    assert without_time(named) == without_time(default)
    small = client.get("/api/collections/small/search?q=tidal+mills&k=3").get_json()
    assert small["results"][0]["article"]["id"] == "s1"
    posted = client.post("/api/collections/small/search", json={"q": "kelp", "k": 1})
    assert posted.get_json()["results"][0]["article"]["id"] == "s2"


def test_article_routes_under_a_collection(two) -> None:
    client = two.test_client()
    article = client.get("/api/collections/small/articles/s2").get_json()
    assert article["article"]["title"] == "Kelp"
    assert client.get("/api/articles/s2").status_code == 404  # not in the default one
    cite = client.get("/api/collections/small/articles/s2/cite").get_data(as_text=True)
    assert "Kelp" in cite
    similar = client.get("/api/collections/small/articles/s1/similar?k=1").get_json()
    assert similar["article"]["id"] == "s1" and len(similar["results"]) == 1


def test_unknown_and_invalid_collections_are_errors_in_the_one_shape(two) -> None:
    client = two.test_client()
    unknown = client.get("/api/collections/nope/search?q=tides")
    assert unknown.status_code == 404
    body = unknown.get_json()
    assert body == {"ok": False, "error": body["error"], "status": 404}
    assert "no collection or alias named 'nope'; collections: demo, small" in body["error"]
    bad = client.get("/api/collections/" + "x" * 65 + "/search?q=tides")
    assert bad.status_code == 400
    assert "invalid collection name" in bad.get_json()["error"]
    assert client.get("/api/search?q=tides&collection=.hidden").status_code == 400


def test_the_page_picks_a_collection_and_its_links_keep_it(two) -> None:
    client = two.test_client()
    page = client.get("/?q=kelp+forests&collection=small").get_data(as_text=True)
    assert "Kelp" in page
    assert 'name="collection"' in page  # the picker
    assert "/articles/s2?" in page and "collection=small" in page
    article = client.get("/articles/s2?collection=small")
    assert article.status_code == 200
    api = client.get("/api/search?q=kelp&k=1&collection=small").get_json()
    assert api["results"][0]["article"]["id"] == "s2"


def test_one_search_of_several_collections_fuses_their_ranks(two) -> None:
    client = two.test_client()
    answer = client.get("/api/collections/search?q=tidal&k=4&collections=demo,small").get_json()
    assert answer["ok"] is True
    assert set(answer["collections"]) == {"demo", "small"}
    # Rank 1 of each list first (demo before small: the order asked), then rank 2 of each.
    assert [r["collection"] for r in answer["results"]] == ["demo", "small", "demo", "small"]
    assert answer["results"][0]["rrf_score"] == round(1 / 61, 6)
    assert answer["results"][2]["rrf_score"] == round(1 / 62, 6)
    assert answer["results"][1]["article"]["id"] == "s1"
    posted = client.post(
        "/api/collections/search", json={"q": "tidal", "k": 2, "collections": ["small"]}
    )
    assert [r["collection"] for r in posted.get_json()["results"]] == ["small", "small"]


@pytest.mark.parametrize(
    ("collections", "status", "message"),
    [
        (",".join(f"c{i}" for i in range(9)), 400, "9 collections in one search, over the limit"),
        ("demo,demo", 400, "named twice"),
        ("demo,nope", 404, "no collection or alias named 'nope'"),
        (",", 400, "collections is empty"),
        (None, 400, "name the collections to search: collections=a,b"),
    ],
)
def test_bad_collection_lists(two, collections: str | None, status: int, message: str) -> None:
    query = {"q": "tides"} if collections is None else {"q": "tides", "collections": collections}
    reply = two.test_client().get("/api/collections/search", query_string=query)
    assert reply.status_code == status
    assert message in reply.get_json()["error"]


@pytest.mark.parametrize("extra", ["page=2", "page=abc", "format=csv"])
def test_a_paged_or_csv_search_of_several_is_refused(two, extra: str) -> None:
    reply = two.test_client().get(f"/api/collections/search?q=tides&{extra}&collections=demo,small")
    assert reply.status_code == 400


def test_an_alias_is_moved_by_the_admin_and_kept_in_its_file(two, tmp_path: Path) -> None:
    client = two.test_client()
    move = {"name": "current", "target": "demo"}
    assert client.post("/api/aliases", json=move).status_code == 401
    reply = client.post("/api/aliases", json=move, headers=ADMIN)
    assert reply.get_json() == {"ok": True, "aliases": {"current": "demo"}}
    found = client.get("/api/collections/current/search?q=kelp&k=1").get_json()
    assert found["results"][0]["article"]["id"] != "s2"
    client.post("/api/aliases", json={"name": "current", "target": "small"}, headers=ADMIN)
    found = client.get("/api/collections/current/search?q=kelp&k=1").get_json()
    assert found["results"][0]["article"]["id"] == "s2"
    stored = json.loads((tmp_path / "aliases.json").read_text())
    assert stored == {"aliases": {"current": "small"}}
    listed = client.get("/api/collections").get_json()
    assert listed["aliases"] == {"current": "small"}
    assert client.get("/api/aliases").get_json()["aliases"] == {"current": "small"}
    assert client.delete("/api/aliases/current", headers=ADMIN).get_json()["aliases"] == {}


@pytest.mark.parametrize(
    ("move", "status", "message"),
    [
        ({"name": "cur", "target": "nope"}, 404, "cannot point an alias at 'nope'"),
        ({"name": "demo", "target": "small"}, 400, "'demo' is a collection"),
        ({"name": "a b", "target": "small"}, 400, "invalid alias name"),
        ({"name": "cur"}, 400, '{"name": ALIAS, "target": COLLECTION}'),
    ],
)
def test_bad_alias_moves(two, move: dict, status: int, message: str) -> None:
    reply = two.test_client().post("/api/aliases", json=move, headers=ADMIN)
    assert reply.status_code == status
    assert message in reply.get_json()["error"]


def test_an_alias_written_by_another_process_is_read(two, tmp_path: Path) -> None:
    (tmp_path / "aliases.json").write_text('{"aliases": {"elsewhere": "small"}}')
    found = two.test_client().get("/api/collections/elsewhere/search?q=kelp&k=1").get_json()
    assert found["results"][0]["article"]["id"] == "s2"


def test_no_request_fails_while_an_alias_moves(two) -> None:
    """A client thread searches through the alias while it moves back and forth 40 times."""
    admin = two.test_client()
    admin.post("/api/aliases", json={"name": "live", "target": "demo"}, headers=ADMIN)
    statuses: list[int] = []
    answered_by: set[int] = set()
    stop = threading.Event()

    def search() -> None:
        client = two.test_client()
        while not stop.is_set():
            reply = client.get("/api/collections/live/search?q=tidal&k=1")
            statuses.append(reply.status_code)
            answered_by.add(reply.get_json()["index"]["chunks"])

    thread = threading.Thread(target=search)
    thread.start()
    try:
        for i in range(40):
            target = "small" if i % 2 == 0 else "demo"
            reply = admin.post(
                "/api/aliases", json={"name": "live", "target": target}, headers=ADMIN
            )
            assert reply.status_code == 200
            admin.get("/api/collections/live/search?q=tides&k=1")  # let the client run
    finally:
        stop.set()
        thread.join(timeout=30)
    assert statuses and set(statuses) == {200}
    assert 132 in answered_by  # the demo collection answered, and possibly the small one


def test_one_index_is_the_default_collection(client) -> None:
    answer = client.get("/api/collections").get_json()
    assert [c["name"] for c in answer["collections"]] == ["default"]
    found = client.get("/api/collections/default/search?q=tidal&k=1").get_json()
    assert found["results"][0]["article"]["id"] == "09_greyhaven_tidal_array"


def test_a_folder_of_indexes_and_a_new_one_loaded_by_an_alias(
    tmp_path: Path, demo_index: Path, small_index: Path
) -> None:
    folder = tmp_path / "indexes"
    folder.mkdir()
    (folder / "news").symlink_to(demo_index)
    app = create_app(
        {
            "TESTING": True,
            "INDEXES_FOLDER": str(folder),
            "RELOAD_INTERVAL": 0,
            "WARM_UP": False,
            "ADMIN_KEY": "admin-secret",
        }
    )
    client = app.test_client()
    assert [c["name"] for c in client.get("/api/collections").get_json()["collections"]] == ["news"]
    (folder / "news-v2").symlink_to(small_index)  # a rebuild, beside the old one
    move = client.post("/api/aliases", json={"name": "current", "target": "news-v2"}, headers=ADMIN)
    assert move.status_code == 200
    found = client.get("/api/collections/current/search?q=kelp&k=1").get_json()
    assert found["results"][0]["article"]["id"] == "s2"
    assert json.loads((folder / "aliases.json").read_text())["aliases"] == {"current": "news-v2"}
    # `semsearch alias set` writes the file only: the server loads the new target when asked.
    (folder / "news-v3").symlink_to(demo_index)
    (folder / "aliases.json").write_text('{"aliases": {"current": "news-v3"}}')
    found = client.get("/api/collections/current/search?q=tidal&k=1").get_json()
    assert found["results"][0]["article"]["id"] == "09_greyhaven_tidal_array"
