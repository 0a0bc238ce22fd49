"""Serving from a search engine (Milvus Lite's real C++ core): `semsearch publish` of a built
index, `SearchService` over `milvus://...` answering exactly as over the directory (same
article ids, passages, scores, filters, grouping, facets, pages, no-match reasons), the
manifest's checks held in the engine's catalog, `/readyz` and the API's 503 while the engine
is down and answers again once it is back, updates reaching the engine, and no TCP port.

Dense search is exact on both sides (FAISS flat, Milvus FLAT): the answers are equal but for
the order of passages whose scores tie to float precision (`same_answers`). Keyword search
sends the product's own BM25 weights, so its scores are bm25s's to float rounding.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import psutil
import pytest

import semsearch.index.build.publish as publish
from semsearch.cli import cli
from semsearch.engine import start_lite_engine, stop_lite_engine
from semsearch.errors import (
    BadQueryError,
    BuildError,
    IndexMismatchError,
    IndexUnavailableError,
)
from semsearch.index.build.builder import build_index
from semsearch.index.build.distributed import check_loopback_only, listening_sockets, process_tree
from semsearch.index.build.publish import publish_index
from semsearch.index.embed.base import Prompts
from semsearch.index.storage.milvus.address import is_engine_uri, parse_engine_uri
from semsearch.search.service import SearchResult, SearchService
from semsearch.web import create_app
from tests.conftest import DEMO_ARTICLES, FAKE_MIN_SCORE
from tests.support.fake_embedder import HashingEmbedder

pytestmark = pytest.mark.process

SETTINGS = {"min_score": FAKE_MIN_SCORE}
QUERIES = [
    "how long did the tram strike last?",
    "swing bridge repairs",
    "microphones on streetlights",
    "tidal energy array",
    "sourdough rye starter",
    "naming rights for the stadium",
    "a zeppelin over the harbour",  # no passage holds "zeppelin"
    "Okafor",
]
#: A paragraph-length query: article-level evidence weighs in (semsearch.search.articles).
LONG_QUERY = (
    "The tram drivers of Ashcombe walked out over wages and the council's plans for the "
    "network, and the strike went on for weeks while commuters crowded onto buses and the "
    "harbour ferries; union leaders and councillors met several times before a deal on pay "
    "and rosters was struck and the trams ran again."
)
FILTERS: list[dict[str, str]] = [
    {},
    {"publication": "harbor ledger"},  # case folded, as the store's SQL does
    {"published_from": "2020"},
    {"published_to": "2019-06"},  # a prefix: the whole of June 2019 included
    {"author": "oka"},  # a substring of the byline
    {"publication": "no such paper"},
]


def engine_pids() -> list[int]:
    """The Milvus engine processes this test process started."""
    return [p for p in process_tree() if psutil.Process(p).name() == "milvus"]


def assert_no_tcp() -> None:
    pids = engine_pids()
    assert pids, "no Milvus engine process is running"
    assert listening_sockets(pids) == []  # a unix socket only
    check_loopback_only(process_tree())


def hit_view(result: SearchResult) -> list[tuple[str, int, float]]:
    return [(h.article.id, h.passage.chunk_id, round(h.score, 4)) for h in result.hits]


def same_answers(a: SearchResult, b: SearchResult, service: SearchService | None = None) -> None:
    """Equal answers: reasons, paging and facets; hits with the same scores at each rank,
    and the same passages, but for the order of those whose scores tie, and which of them
    make the cut when the tie is at the last place. A dense answer's passages listed under
    a hit (`also`) may differ only by passages whose cosines tie (checked with `service`'s
    stored vectors)."""
    assert (a.reason, a.has_next, a.past_end, a.filters) == (
        b.reason,
        b.has_next,
        b.past_end,
        b.filters,
    )
    assert a.facets == b.facets
    left, right = hit_view(a), hit_view(b)
    assert [s for *_, s in left] == pytest.approx([s for *_, s in right], abs=2e-4)
    if left:
        last = left[-1][2]
        above = [{(h[0], h[2]) for h in hits if h[2] > last + 2e-4} for hits in (left, right)]
        assert above[0] == above[1]  # article ids and scores; tied passages may swap
    for x, y in zip(a.hits, b.hits, strict=True):
        if x.passage.chunk_id != y.passage.chunk_id:
            continue
        assert x.passage == y.passage and x.article == y.article
        if x.also == y.also:
            continue
        assert a.mode == "dense" and service is not None, (a.query, a.mode, a.filters)
        query = service.embedder.encode_query(a.query)
        cosines = [
            sorted(round(float(v @ query), 4) for v in service.backend.stored_vectors(ids))
            for ids in ([p.chunk_id for p in x.also], [p.chunk_id for p in y.also])
        ]
        assert cosines[0] == cosines[1]


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def engine_uri(demo_index: Path, engine_dir: Path) -> str:
    """The demo index (fake embedder) published into a Milvus Lite engine."""
    uri = f"milvus://{engine_dir}/lite.db?collection=demo&timeout=3"
    report = publish_index(demo_index, uri)
    assert report.passages > 100
    return uri


@pytest.fixture(scope="module")
def demo_service(demo_index: Path, fake_embedder: HashingEmbedder) -> Iterator[SearchService]:
    """The directory the engine's index was published from: the reference it is held to
    (here, not the backend-parametrized fixture of tests/search/conftest.py)."""
    service = SearchService(demo_index, fake_embedder, SETTINGS)
    yield service
    service.close()


@pytest.fixture(scope="module")
def engine_service(engine_uri: str, fake_embedder: HashingEmbedder) -> Iterator[SearchService]:
    service = SearchService(engine_uri, fake_embedder, SETTINGS)
    yield service
    service.close()


def test_engine_uris_name_the_engine() -> None:
    assert is_engine_uri("milvus:///srv/x.db?collection=a") and not is_engine_uri(Path("milvus:"))
    lite = parse_engine_uri("milvus:///srv/x.db?collection=news&timeout=7")
    assert (lite.client_uri, lite.collection, lite.timeout) == ("/srv/x.db", "news", 7)
    assert parse_engine_uri("milvus+unix:///run/m.sock").client_uri == "unix:/run/m.sock"
    assert parse_engine_uri("milvus+http://h:19530?collection=n").client_uri == "http://h:19530"
    with pytest.raises(IndexUnavailableError, match="unknown parameter 'token'"):
        parse_engine_uri("milvus:///x.db?token=secret")
    with pytest.raises(IndexUnavailableError, match=r"ends in \.db"):
        parse_engine_uri("milvus:///srv/x")


def test_the_engine_listens_on_no_tcp_port(engine_service: SearchService) -> None:
    engine_service.search("tram strike", 3)
    assert_no_tcp()


def test_both_backends_answer_the_same(
    demo_service: SearchService, engine_service: SearchService
) -> None:
    assert engine_service.backend.kind == "engine" and demo_service.backend.kind == "directory"
    assert engine_service.manifest == demo_service.manifest
    compared = 0
    for text in [*QUERIES, LONG_QUERY]:
        for mode in ("dense", "keyword", "hybrid"):
            for filters in FILTERS:
                for group in (None, "article"):
                    args: dict[str, Any] = {"mode": mode, "group": group, "filters": filters}
                    a = demo_service.search(text, 5, **args)
                    b = engine_service.search(text, 5, **args)
                    same_answers(a, b, demo_service)
                    compared += bool(a.hits)
    assert compared > 150  # most combinations answer something
    assert demo_service.search(LONG_QUERY, 5, mode="hybrid").hits  # the long query answers


def test_keyword_scores_are_the_products_bm25(
    demo_service: SearchService, engine_service: SearchService
) -> None:
    for text in QUERIES:
        embedded = demo_service.backend.keyword_search(text, 50, None)
        engine = engine_service.backend.keyword_search(text, 50, None)
        assert [c for c, _ in engine] == [c for c, _ in embedded]
        assert [s for _, s in engine] == pytest.approx([s for _, s in embedded], rel=1e-5)
        for exact in (text, "tram strike", "zeppelin harbour"):
            assert engine_service.backend.has_all_terms(exact, None) == (
                demo_service.backend.has_all_terms(exact, None)
            )
    # Bounded fusion's BM25 bound, from the IDFs published with the term ids (a word no
    # passage holds at the highest IDF); a store published without them has no bound.
    for text in (*QUERIES, "zeppelin harbour", "the and"):
        bound = demo_service.backend.score_bound(text)
        assert engine_service.backend.score_bound(text) == pytest.approx(bound, rel=1e-6)
    store = engine_service.backend.store
    with mock.patch.object(store, "term_idfs", return_value=None):
        assert engine_service.backend.score_bound("tram strike") is None


def test_pages_sort_similar_and_articles(
    demo_service: SearchService, engine_service: SearchService
) -> None:
    for page in (1, 2, 9):
        for sort in ("relevance", "newest", "oldest"):
            query = {"q": "the council said", "k": 3, "page": page, "sort": sort}
            from semsearch.search.query import validate_query

            valid = validate_query(query, SETTINGS)
            same_answers(demo_service.search(valid), engine_service.search(valid))
    some = demo_service.search("tram strike", 1).hits[0].article.id
    a, b = demo_service.similar(some, 4), engine_service.similar(some, 4)
    assert [h.article.id for h in a.hits] == [h.article.id for h in b.hits]
    assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=2e-4)
    assert engine_service.article(some) == demo_service.article(some)


def test_the_manifest_checks_hold_in_the_engine(engine_uri: str, engine_dir: Path) -> None:
    with pytest.raises(IndexMismatchError, match="built with model 'hashing-256'"):
        SearchService(engine_uri, HashingEmbedder(dimension=128), SETTINGS)
    prompted = HashingEmbedder(dimension=256)
    prompted.prompts = Prompts(query="query: ")  # type: ignore[attr-defined]
    with pytest.raises(IndexMismatchError, match="built with prompts"):
        SearchService(engine_uri, prompted, SETTINGS)
    missing = f"milvus://{engine_dir}/lite.db?collection=nothing_here"
    with pytest.raises(IndexUnavailableError, match="no index published"):
        SearchService(missing, HashingEmbedder(dimension=256), SETTINGS)


def test_a_changed_store_copy_is_refused(
    demo_index: Path, tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    uri = f"milvus://{tmp_path}/lite.db?collection=tampered"
    report = publish_index(demo_index, uri)
    with report.store.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IndexMismatchError, match="does not match the checksum"):
        SearchService(uri, fake_embedder, SETTINGS)


def test_a_killed_lite_engine_is_restarted_on_the_next_request(
    engine_service: SearchService,
) -> None:
    before = hit_view(engine_service.search("tram strike", 3))
    for pid in engine_pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(IndexUnavailableError, match="did not answer"):
        engine_service.search("tram strike", 3)
    # The dead child is forgotten; the next call starts a new one on the same database.
    assert hit_view(engine_service.search("tram strike", 3)) == before
    engine_service.check_ready()
    assert_no_tcp()


@pytest.fixture
def socket_engine(demo_index: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path, list[Any]]]:
    """An engine process of its own on a unix socket, as a server would reach a cluster."""
    db, socket = tmp_path / "shared.db", Path(f"/tmp/semsearch-test-{os.getpid()}.sock")
    engines = [start_lite_engine(db, socket)]
    uri = f"milvus+unix://{socket}?collection=news&timeout=2"
    publish_index(demo_index, uri, store_dir=tmp_path / "stores")
    yield uri, db, socket, engines
    for engine in engines:
        if engine.poll() is None:
            stop_lite_engine(engine)
    socket.unlink(missing_ok=True)


def test_readyz_and_the_api_follow_the_engine(
    socket_engine: tuple[str, Path, Path, list[Any]],
    demo_service: SearchService,
    fake_embedder: HashingEmbedder,
) -> None:
    uri, db, socket, engines = socket_engine
    service = SearchService(uri, fake_embedder, SETTINGS)
    client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
    directory = create_app({"TESTING": True, "SEARCH_SERVICE": demo_service}).test_client()
    params = "/api/search?q=tram+strike&k=3&group=article&publication=ashcombe+courier"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["index"]["chunks"] == service.chunk_count
    answer = client.get(params)
    assert answer.status_code == 200
    expected = directory.get(params).get_json()
    assert [r["article"]["id"] for r in answer.get_json()["results"]] == [
        r["article"]["id"] for r in expected["results"]
    ]
    assert_no_tcp()

    stop_lite_engine(engines[0], kill=True)
    for _ in range(2):  # stays down: no request brings it back by itself
        down = client.get(params)
        assert down.status_code == 503
        body = down.get_json()
        assert (
            body["ok"] is False and body["status"] == 503 and set(body) == {"ok", "error", "status"}
        )
        assert "search engine did not answer" in body["error"]
        assert str(socket) not in body["error"]  # where the engine is: for operators only
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.get_json()["error"].startswith("not ready:")
        assert "search engine did not answer" in not_ready.get_json()["error"]
        assert str(socket) not in not_ready.get_data(as_text=True)  # nor here: the log has it
    page = client.get("/?q=tram+strike")
    assert page.status_code == 503 and b"search engine did not answer" in page.data

    socket.unlink(missing_ok=True)
    engines.append(start_lite_engine(db, socket))  # the engine is back, with its data
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "serving did not resume"
        time.sleep(0.5)
    again = client.get(params)
    assert again.status_code == 200 and again.get_json()["results"] == answer.get_json()["results"]
    service.close()


def test_publish_query_add_and_delete_through_the_cli(runner, tmp_path: Path) -> None:
    index = tmp_path / "index"
    articles = tmp_path / "articles"
    shutil.copytree(DEMO_ARTICLES, articles)
    later = articles / "10_ashcombe_tram_strike.md"
    held_back = tmp_path / later.name
    later.rename(held_back)
    build_index([articles], index, HashingEmbedder(dimension=64))
    uri = f"milvus://{tmp_path}/lite.db?collection=cli"
    published = runner.invoke(cli, ["publish", str(index), "--to", uri])
    assert published.exit_code == 0, published.output
    assert "published:" in published.output and "passages:" in published.output

    def top(text: str) -> str:
        result = runner.invoke(
            cli, ["query", "--index", uri, "--model", "hashing-64", text, "--json"]
        )
        assert result.exit_code == 0, result.output
        import json

        found = json.loads(result.output)["results"]
        return found[0]["article"]["id"] if found else ""

    assert top("how long did the tram strike last") != "10_ashcombe_tram_strike"
    added = runner.invoke(
        cli, ["add", str(held_back), "--index", uri, "--model", "hashing-64", "--quiet"]
    )
    assert added.exit_code == 0, added.output
    assert "added: 1" in added.output and "published:" in added.output
    assert top("how long did the tram strike last") == held_back.stem
    deleted = runner.invoke(
        cli, ["delete", held_back.stem, "--index", uri, "--model", "hashing-64"]
    )
    assert deleted.exit_code == 0, deleted.output
    assert top("how long did the tram strike last") != held_back.stem
    # The engine keeps the collection served before the last publish, and drops older ones.
    engine = parse_engine_uri(uri).passages()
    assert len([c for c in engine.collections() if c.startswith("cli__") and c != "cli__meta"]) == 2
    engine.close()


def test_updates_need_the_source_directory(runner, tmp_path: Path, demo_index: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_index, copy, symlinks=True)
    uri = f"milvus://{tmp_path}/lite.db?collection=orphan"
    publish_index(copy, uri)
    shutil.rmtree(copy)
    result = runner.invoke(cli, ["delete", "x", "--index", uri, "--model", "hashing-256"])
    assert result.exit_code != 0 and "which is not there" in result.output


@pytest.mark.slow
def test_the_real_model_answers_the_same_from_both(real_embedder, tmp_path: Path) -> None:
    index = tmp_path / "index"
    build_index([DEMO_ARTICLES], index, real_embedder)
    uri = f"milvus://{tmp_path}/lite.db?collection=real"
    publish_index(index, uri)
    # No time budget: this compares answers, and a loaded machine (a parallel test run) can
    # take a first query past the 2 s default.
    unbounded = {"search_timeout_ms": 0}
    directory = SearchService(index, real_embedder, unbounded)
    engine = SearchService(uri, real_embedder, unbounded)
    for text in [*QUERIES, "who paid for the bridge?", "what did the judge rule on car seizures"]:
        for mode in ("dense", "keyword", "hybrid"):
            for filters in FILTERS[:3]:
                a = directory.search(text, 5, mode=mode, filters=filters)
                b = engine.search(text, 5, mode=mode, filters=filters)
                same_answers(a, b)
                assert [h.article.id for h in a.hits] == [h.article.id for h in b.hits]
    engine.close()
    directory.close()


def test_semsearch_engine_serves_a_unix_socket(demo_index: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    socket = Path(f"/tmp/semsearch-cli-{os.getpid()}.sock")
    command = "from semsearch.cli import main; main()"
    args = ["engine", "--db", str(tmp_path / "e.db"), "--socket", str(socket)]
    process = subprocess.Popen([sys.executable, "-c", command, *args])
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        uri = f"milvus+unix://{socket}?collection=cli"
        publish_index(demo_index, uri, store_dir=tmp_path / "stores")
        service = SearchService(uri, HashingEmbedder(dimension=256), SETTINGS)
        assert service.search("tram strike", 1).hits
        assert_no_tcp()
        service.close()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        socket.unlink(missing_ok=True)


def test_a_new_publish_is_picked_up_while_serving(demo_index: Path, tmp_path: Path) -> None:
    from semsearch.web.served import ServedIndex

    uri = f"milvus://{tmp_path}/lite.db?collection=live"
    publish_index(demo_index, uri)
    live = ServedIndex(uri, {"model": "hashing-256", **SETTINGS}, warm_up=False)
    assert live.load() and live.service is not None and live.service.backend.kind == "engine"
    first = live.service.manifest.version
    assert not live.reload()  # the catalog still names the same version
    # The same version published again is a new collection: servers move to it, so the
    # next publish may drop the old one.
    again = publish_index(demo_index, uri)
    assert live.reload() and live.service.backend.passages.collection == again.collection
    assert live.service.manifest.version == first and not live.reload()
    articles = tmp_path / "articles"
    articles.mkdir()
    for source in sorted(DEMO_ARTICLES.glob("*.md"))[:3]:
        shutil.copy(source, articles / source.name)
    smaller = tmp_path / "smaller"
    build_index([articles], smaller, HashingEmbedder(dimension=256, max_seq_tokens=96))
    publish_index(smaller, uri)
    assert live.reload()
    service = live.service
    assert service.manifest.version != first and service.manifest.counts["articles"] == 3
    assert {h.article.id for h in service.search("bridge", 10).hits} <= {
        p.stem for p in articles.glob("*.md")
    }
    live.stop()
    service.close()


def collections_of(uri: str) -> set[str]:
    engine = parse_engine_uri(uri).passages()
    try:
        return set(engine.collections())
    finally:
        engine.close()


def test_republishing_the_served_version_keeps_it_served(
    demo_index: Path, tmp_path: Path, fake_embedder: HashingEmbedder, monkeypatch
) -> None:
    uri = f"milvus://{tmp_path}/lite.db?collection=again"
    first = publish_index(demo_index, uri)
    serving = SearchService(uri, fake_embedder, SETTINGS)
    before = hit_view(serving.search("tram strike", 3))
    assert before
    # The same version again (what "publish the index again" advises): new names, so the
    # collection and store copy the service answers from are left alone.
    second = publish_index(demo_index, uri)
    assert second.version == first.version and second.collection != first.collection
    assert second.store != first.store and first.store.is_file()
    assert hit_view(serving.search("tram strike", 3)) == before
    fresh = SearchService(uri, fake_embedder, SETTINGS)
    assert fresh.backend.passages.collection == second.collection
    assert hit_view(fresh.search("tram strike", 3)) == before

    # A publish that fails half-way: the catalog is not switched, what it wrote is removed.
    collections, folders = collections_of(uri), sorted(tmp_path.iterdir())
    real = publish._engine_passages

    def failing(version_dir: Path, published: Path) -> Iterator[Any]:
        for i, passage in enumerate(real(version_dir, published)):
            if i == 50:
                raise RuntimeError("the engine went away")
            yield passage

    monkeypatch.setattr(publish, "_engine_passages", failing)
    with pytest.raises(BuildError, match="the engine went away"):
        publish_index(demo_index, uri)
    monkeypatch.undo()
    assert collections_of(uri) == collections and sorted(tmp_path.iterdir()) == folders
    for service in (serving, fresh, SearchService(uri, fake_embedder, SETTINGS)):
        assert hit_view(service.search("tram strike", 3)) == before
    assert SearchService(uri, fake_embedder, SETTINGS).backend.passages.collection == (
        second.collection
    )

    # The next publish keeps the one served until now and drops the one before, with its
    # store copy (item by item: only what the catalog said this index owned).
    third = publish_index(demo_index, uri)
    assert third.dropped == (first.collection,)
    assert not first.store.parent.exists() and second.store.is_file()
    assert collections_of(uri) == (collections - {first.collection}) | {third.collection}
    assert hit_view(fresh.search("tram strike", 3)) == before  # still on the second
    for service in (serving, fresh):
        service.close()


def test_a_publish_drops_only_its_own_index(demo_index: Path, tmp_path: Path) -> None:
    news = f"milvus://{tmp_path}/lite.db?collection=news"
    other = f"milvus://{tmp_path}/lite.db?collection=news__eu"  # shares the prefix "news__"
    kept = publish_index(demo_index, other)
    publish_index(demo_index, news)
    publish_index(demo_index, news)
    last = publish_index(demo_index, news)
    assert len(last.dropped) == 1 and all(not c.startswith("news__eu") for c in last.dropped)
    assert {kept.collection, "news__eu__meta"} <= collections_of(news)
    service = SearchService(other, HashingEmbedder(dimension=256, max_seq_tokens=96), SETTINGS)
    assert service.search("tram strike", 3).hits and kept.store.is_file()
    service.close()
    # Of news, the version served and the one before are left, with their store copies.
    versions = {c for c in collections_of(news) if c.startswith("news__") and "eu" not in c}
    versions.discard("news__meta")
    assert len(versions) == 2 and last.collection in versions
    copies = {p.name for p in tmp_path.iterdir() if p.name.startswith("news__")}
    assert copies == versions | {kept.collection}


def test_closing_one_client_leaves_the_others_connected(
    engine_uri: str, engine_service: SearchService, fake_embedder: HashingEmbedder
) -> None:
    a = SearchService(engine_uri, fake_embedder, SETTINGS)
    b = SearchService(engine_uri, fake_embedder, SETTINGS)
    expected = hit_view(b.search("tram strike", 3))
    a.close()  # what ServedIndex does to the service it replaced, a minute later
    assert hit_view(b.search("tram strike", 3)) == expected  # the first call after, too
    assert hit_view(engine_service.search("tram strike", 3)) == expected
    b.close()
    assert hit_view(engine_service.search("tram strike", 3)) == expected


def test_term_ids_survive_a_cache_cleared_by_another_thread(
    engine_service: SearchService,
) -> None:
    backend = engine_service.backend
    expected = backend._term_ids(["tram", "strike", "zeppelin"])
    assert expected[0] is not None and expected[2] is None

    class ClearedAfterUpdate(dict):  # type: ignore[type-arg]
        """Another thread's clear() right after this one's update."""

        def update(self, *args: Any, **kwargs: Any) -> None:
            super().update(*args, **kwargs)
            self.clear()

    saved, backend._terms = backend._terms, ClearedAfterUpdate()
    try:
        assert backend._term_ids(["tram", "strike", "zeppelin"]) == expected
        assert backend._term_ids(["strike", "tram", "strike"]) == [expected[1], *expected[:2]]
    finally:
        backend._terms = saved


def test_the_language_filter_and_facet_from_the_engine(
    engine_dir: Path, tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    from semsearch.search.query import validate_query
    from tests.search.test_languages import ARTICLES

    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES) + "\n")
    build_index([source], tmp_path / "index", fake_embedder)
    uri = f"milvus://{engine_dir}/lite.db?collection=languages&timeout=3"
    publish_index(tmp_path / "index", uri)
    settings = {"min_score": 0.0}  # the fake embedder's vectors mean nothing here
    directory = SearchService(tmp_path / "index", fake_embedder, settings)
    engine = SearchService(uri, fake_embedder, settings)
    try:
        for mode in ("dense", "keyword", "hybrid"):
            asked = {"q": "Fähren Sturm Brücken", "mode": mode, "facets": "language"}
            for language in ("de", "zh", "en"):
                a = directory.search(validate_query({**asked, "language": language}))
                b = engine.search(validate_query({**asked, "language": language}))
                same_answers(a, b)
                assert {h.article.language for h in b.hits} <= {language}
            german = engine.search(validate_query({**asked, "language": "de"}))
            # "bruecke" and "mislabelled" (German text under a page that says English)
            assert {h.article.id for h in german.hits} == {"bruecke", "mislabelled"}
            assert german.facets["language"]["de"] == 2
        # A collection published before passages carried their language: a 400 saying so.
        engine.backend._language_field = False
        with pytest.raises(BadQueryError, match="needs the index published again"):
            engine.search(validate_query({"q": "Fähren", "language": "de"}))
    finally:
        directory.close()
        engine.close()
