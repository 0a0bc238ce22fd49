"""The Milvus passage backend (index/storage/milvus/) on Milvus Lite's real engine:
dense and BM25 candidates against brute force (the engine's BM25 and the product's weights
as sparse vectors), filters applied before ranking (k hits under a narrow filter) with the
store's meaning (case folding, substrings, date prefixes), quoting in filter values, updates
and deletes, and the engine process listening on no TCP port (a unix socket only)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from semsearch.errors import IndexUnavailableError
from semsearch.index.build.distributed import check_loopback_only, listening_sockets, process_tree
from semsearch.index.storage.milvus.catalog import read_record, write_record
from semsearch.index.storage.milvus.client import (
    EngineFilter,
    EnginePassage,
    MilvusPassages,
    milvus_string,
    published_number,
)
from tests.support.fake_embedder import HashingEmbedder

pytestmark = pytest.mark.process

DIMENSION = 32
TOPICS = ["harbour storm", "council budget", "vaccine trial", "river flood", "school exam"]
PUBLICATIONS = ["Tribune", "Herald", 'The "Quoted" O\'Brien Post']


def make_passages(n: int = 200) -> list[EnginePassage]:
    """Passages over five topics, ten publications-by-author combinations and dated days."""
    embedder = HashingEmbedder(dimension=DIMENSION)
    texts = [
        f"{TOPICS[i % 5]} report number {i} from the {TOPICS[(i * 3) % 5]} desk" for i in range(n)
    ]
    vectors = embedder.encode_documents(texts)
    return [
        EnginePassage(
            chunk_id=1000 + i,
            article_id=f"art-{i // 2}",
            text=texts[i],
            vector=vectors[i],
            published=None if i % 17 == 0 else f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            publications=(PUBLICATIONS[i % 3], *(["Gazette"] if i % 10 == 0 else [])),
            author=f"Author {i % 7}",
            weights={1 + (i % 5): 1.0 + i / 100, 10 + (i % 3): 0.5 + i / 1000},
        )
        for i in range(n)
    ]


def engine_pids() -> list[int]:
    """The Milvus Lite engine processes this test process started."""
    return [p for p in process_tree() if psutil.Process(p).name() == "milvus"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[MilvusPassages, list[EnginePassage]]]:
    backend = MilvusPassages(str(tmp_path / "engine.db"), keyword_mode="engine")
    backend.create(DIMENSION)
    passages = make_passages()
    assert backend.write(passages) == len(passages)
    # The real C++ engine runs as a child process, and listens on no TCP port at all.
    pids = engine_pids()
    assert pids, "Milvus Lite started no engine process"
    assert listening_sockets(pids) == []
    check_loopback_only(process_tree())
    yield backend, passages
    backend.close()


def test_filter_expressions_quote_values() -> None:
    assert published_number("2024-03-05T10:00:00Z") == 20240305
    assert published_number(None) == 0 and published_number("2024") == 0
    assert milvus_string('O"Brien\\') == '"O\\"Brien\\\\"'
    expression = EngineFilter(
        published_from="2024-01", publication='A") or chunk_id > 0 or ("'
    ).expression()
    assert expression == (
        'published >= "2024-01" and published != "" and '
        'array_contains(publications, "a\\") or chunk_id > 0 or (\\"")'
    )
    # An author is a substring: its own % and _ are not wildcards.
    assert EngineFilter(author="50%_X").expression() == 'author like "%50\\\\%\\\\_x%"'
    assert EngineFilter().expression() == ""
    assert EngineFilter(language="de").expression() == 'language == "de"'


def test_dense_candidates_are_the_exact_nearest(engine) -> None:
    backend, passages = engine
    assert backend.count() == len(passages)
    query = HashingEmbedder(dimension=DIMENSION).encode_query("storm at the harbour")
    hits = backend.dense(query, 10)
    matrix = np.stack([p.vector for p in passages])
    scores = matrix @ query
    assert len(hits) == 10
    assert np.allclose([h.score for h in hits], np.sort(scores)[::-1][:10], atol=1e-5)
    by_id = {p.chunk_id: p for p in passages}
    for hit in hits:
        assert hit.article_id == by_id[hit.chunk_id].article_id
        assert abs(float(by_id[hit.chunk_id].vector @ query) - hit.score) < 1e-5


def test_keyword_candidates_are_stemmed_bm25(engine) -> None:
    backend, passages = engine
    # "storms" and "floods" meet "storm" and "flood" through the English stemmer.
    hits = backend.keyword("storms", 10)
    assert len(hits) == 10
    by_id = {p.chunk_id: p for p in passages}
    assert all("storm" in by_id[h.chunk_id].text for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    assert backend.keyword("zeppelin", 10) == []


def test_filters_apply_before_ranking(engine) -> None:
    backend, passages = engine
    query = HashingEmbedder(dimension=DIMENSION).encode_query("harbour storm")
    quoted = PUBLICATIONS[2]
    # About 1 passage in 21: a filter after ranking would return far fewer than k.
    narrow = EngineFilter(publication=quoted.upper(), author="OR 3")
    allowed = {
        p.chunk_id for p in passages if p.publications[0] == quoted and p.author == "Author 3"
    }
    assert len(allowed) >= 9
    for hits in (backend.dense(query, 5, narrow), backend.keyword("report", 5, narrow)):
        assert len(hits) == 5 and {h.chunk_id for h in hits} <= allowed
    dated = EngineFilter(published_from="2024-03", published_to="2024-03")
    in_march = {p.chunk_id for p in passages if p.published and p.published.startswith("2024-03")}
    hits = backend.dense(query, 50, dated)
    assert {h.chunk_id for h in hits} == in_march
    one = EngineFilter(article_ids=("art-7",))
    assert {h.chunk_id for h in backend.keyword("report", 10, one)} == {1014, 1015}
    # A copy's publication finds the article too, as the store's SQL does.
    copies = EngineFilter(publication="gazette")
    assert {h.chunk_id for h in backend.dense(query, 50, copies)} == {
        p.chunk_id for p in passages if "Gazette" in p.publications
    }


def test_updates_and_deletes_reach_the_engine(engine) -> None:
    backend, passages = engine
    backend.delete_articles(["art-0", "art-1"])
    assert backend.count() == len(passages) - 4
    assert not {1000, 1001, 1002, 1003} & {h.chunk_id for h in backend.keyword("report", 200)}
    changed = EnginePassage(
        chunk_id=1010,
        article_id="art-5",
        text="zeppelin sighted over the harbour",
        vector=HashingEmbedder(dimension=DIMENSION).encode_documents(["zeppelin"])[0],
        published="2025-01-02",
        publications=("Herald",),
    )
    backend.write([changed])
    assert backend.count() == len(passages) - 4
    assert [h.chunk_id for h in backend.keyword("zeppelins", 5)] == [1010]


def test_a_killed_engine_is_an_unavailable_index(engine) -> None:
    backend, _ = engine
    backend.timeout = 3
    for pid in engine_pids():
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(IndexUnavailableError, match="did not answer"):
        backend.keyword("storm", 5)


def test_product_weights_score_exactly(tmp_path: Path) -> None:
    backend = MilvusPassages(str(tmp_path / "product.db"))
    backend.create(DIMENSION)
    passages = make_passages(60)
    backend.write(passages)
    query = {1: 1.0, 10: 1.0}
    expected = sorted(
        ((p.chunk_id, sum(p.weights.get(t, 0.0) for t in query)) for p in passages),
        key=lambda cs: (-cs[1], cs[0]),
    )
    expected = [(c, s) for c, s in expected if s > 0][:15]
    hits = backend.sparse(query, 15)
    assert [h.chunk_id for h in hits] == [c for c, _ in expected]
    assert np.allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-6)
    assert backend.has_all_terms([1, 10])  # passages 0, 15, 30, 45 hold both
    assert not backend.has_all_terms([1, 2])  # no passage holds both
    assert not backend.has_all_terms([1, 10], EngineFilter(author="author 6"))
    assert backend.vectors([1000])[1000] == pytest.approx(passages[0].vector, abs=1e-6)
    backend.close()


def test_catalog_records_switch_whole(tmp_path: Path) -> None:
    catalog = MilvusPassages(str(tmp_path / "catalog.db"), "idx")
    assert read_record(catalog, "current") is None
    big = {"n": 1, "text": "x" * 150_000}  # three parts
    write_record(catalog, "current", big)
    assert read_record(catalog, "current") == big
    meta = catalog.with_collection("idx__meta")

    def part_keys() -> set[str]:
        rows = meta.call("t", "query", meta.collection, filter='key != ""', output_fields=["key"])
        return {r["key"] for r in rows} - {"current"}

    first = part_keys()
    assert len(first) == 3 and all(k.count("/") == 2 for k in first)  # current/<nonce>/<i>
    write_record(catalog, "current", {"n": 2})
    assert read_record(catalog, "current") == {"n": 2}
    assert first <= part_keys()  # a reader that read the old head can still finish
    write_record(catalog, "current", {"n": 3})
    assert read_record(catalog, "current") == {"n": 3}
    assert not first & part_keys() and len(part_keys()) == 2  # the second's and the third's
    # A head whose parts are another record's, or unreadable: unavailable, never a mix.
    head = meta.call("t", "get", meta.collection, ids=["current"])[0]["value"]
    for broken in ('{"parts": 2, "nonce": "' + json.loads(head)["nonce"] + '"}', "{not json"):
        meta.call(
            "t",
            "upsert",
            meta.collection,
            [{"key": "current", "value": broken, "vector": [0.0, 0.0]}],
        )
        with pytest.raises(IndexUnavailableError, match="catalog record 'current'"):
            read_record(catalog, "current")
    # A record written before nonces ("current/0", ...) still reads.
    legacy = [
        {"key": "current/0", "value": '{"n": ', "vector": [0.0, 0.0]},
        {"key": "current/1", "value": "4}", "vector": [0.0, 0.0]},
        {"key": "current", "value": '{"parts": 2}', "vector": [0.0, 0.0]},
    ]
    meta.call("t", "upsert", meta.collection, legacy)
    assert read_record(catalog, "current") == {"n": 4}
    write_record(catalog, "current", {"n": 5})
    assert read_record(catalog, "current") == {"n": 5}
    catalog.close()


def test_clients_of_one_engine_close_alone(tmp_path: Path) -> None:
    one = MilvusPassages(str(tmp_path / "shared.db"))
    one.create(DIMENSION)
    one.write(make_passages(20))
    other = MilvusPassages(one.uri)
    assert other.count() == 20
    one.close()  # pymilvus's shared alias would have closed `other`'s connection too
    assert other.count() == 20
    other.close()
