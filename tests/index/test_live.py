"""The live index's core (semsearch.index.live): upserts and deletes with their outcomes,
tombstones, the collection's BM25 statistics, merges, two writers, a full disk, a busy lock.

Expectations are hand-counted: BM25 figures are worked out below from the formula (bm25s's
Lucene variant, k1 1.2, b 0.75) on passages whose index words are listed by hand.
"""

from __future__ import annotations

import math
import sqlite3
import threading

import numpy as np
import pytest

from semsearch.errors import StorageFullError, WriterBusyError
from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.catalog import SegmentRow
from semsearch.index.live.merge import compact, plan_merge
from semsearch.index.storage.directory import writer_lock
from semsearch.index.storage.keyword_index import KeywordIndex, write_bm25

# Three one-passage articles; their index words (title, then text; stems are the words):
#   oak: oak river river stone   (4 words)
#   elm: elm river lake          (3 words)
#   ash: ash lake lake lake hill (5 words)
OAK = Article(id="oak", title="Oak", text="river river stone")
ELM = Article(id="elm", title="Elm", text="river lake")
ASH = Article(id="ash", title="Ash", text="lake lake lake hill")


def article(n: int, words: str = "harbour ferry timetable") -> Article:
    return Article(id=f"art-{n}", title=f"Story {n}", text=f"{words} number{n} in town{n}.")


def statuses(report) -> list[tuple[str, str]]:
    return [(o.id, o.status) for o in report.outcomes]


def test_upsert_reports_created_unchanged_updated(index, embedder):
    writer = open_writer(index, embedder)
    first = writer.upsert([OAK, ELM])
    assert statuses(first) == [("oak", "created"), ("elm", "created")]
    assert first.generation == 1
    again = writer.upsert([OAK, ELM])
    assert statuses(again) == [("oak", "unchanged"), ("elm", "unchanged")]
    assert again.generation == 1  # nothing committed
    changed = writer.upsert([Article(id="oak", title="Oak", text="meadow")])
    assert statuses(changed) == [("oak", "updated")]
    assert changed.generation == 2
    reader = open_reader(index)
    assert [c for c, _ in reader.keyword("meadow", 10)] != []
    assert reader.keyword("stone", 10) == []  # the old passage is a tombstone
    writer.close()
    reader.close()


def test_refusals_are_outcomes_and_the_later_of_two_same_ids_wins(index, embedder):
    writer = open_writer(index, embedder, {"live_max_id_length": 5})
    report = writer.upsert(
        [
            Article(id="elm", title="Elm", text="first version"),
            Article(id="toolong", title="T", text="words"),
            Article(id="empty", title="E", text="   "),
            Article(id="elm", title="Elm", text="river lake"),
        ],
        lines=[3, 5, 7, 9],
    )
    outcomes = {(o.line, o.id): (o.status, o.reason) for o in report.outcomes}
    assert outcomes[(3, "elm")][0] == "refused"
    assert "line 9" in outcomes[(3, "elm")][1]
    assert outcomes[(5, "toolong")] == ("refused", "the id is longer than 5 characters")
    assert outcomes[(7, "empty")] == ("refused", "no text")
    assert outcomes[(9, "elm")] == ("created", None)
    reader = open_reader(index)
    assert reader.fetch_article("elm").text == "river lake"
    writer.close()
    reader.close()


def test_delete_is_invisible_at_once_and_unknown_ids_are_refused(index, embedder):
    writer = open_writer(index, embedder, {"live_refresh_seconds": 0})
    writer.upsert([OAK, ELM])
    reader = open_reader(index, {"live_refresh_seconds": 0})
    assert {c for c, _ in reader.keyword("river", 10)} == {1, 2}
    report = writer.delete(["oak", "nope"])
    assert statuses(report) == [("oak", "deleted"), ("nope", "refused")]
    assert [c for c, _ in reader.keyword("river", 10)] == [2]
    assert 1 not in [c for c, _ in reader.dense(embedder.encode_query("oak river"), 10)]
    assert reader.fetch_article("oak") is None
    writer.close()
    reader.close()


def test_bm25_uses_the_collections_statistics_across_segments(index, embedder):
    writer = open_writer(index, embedder, {"live_refresh_seconds": 0})
    for item in (OAK, ELM, ASH):  # one segment each
        writer.upsert([item])
    reader = open_reader(index, {"live_refresh_seconds": 0})
    # N 3, mean length 12 / 3 = 4, df(river) 2: idf = ln(1 + 1.5 / 2.5) = ln 1.6.
    # oak: tf 2, length 4: 2 / (2 + 1.2) = 0.625; elm: tf 1, length 3:
    # 1 / (1 + 1.2 * (0.25 + 0.75 * 3 / 4)) = 1 / 1.975.
    found = dict(reader.keyword("river", 10))
    assert found[1] == pytest.approx(math.log(1.6) * 0.625, rel=1e-5)
    assert found[2] == pytest.approx(math.log(1.6) / 1.975, rel=1e-5)
    assert set(found) == {1, 2}
    # Ash deleted: N 2, mean 7 / 2, df(river) 2: idf = ln(1 + 0.5 / 2.5) = ln 1.2;
    # oak: 2 / (2 + 1.2 * (0.25 + 0.75 * 4 / 3.5)).
    writer.delete(["ash"])
    found = dict(reader.keyword("river", 10))
    assert found[1] == pytest.approx(math.log(1.2) * 2 / (2 + 1.2 * (0.25 + 0.75 * 4 / 3.5)))
    writer.close()
    reader.close()


def test_bm25_equals_a_one_shot_index_of_the_same_passages(index, embedder, tmp_path):
    items = [article(n, words) for n, words in enumerate(["red fox den"] * 3 + ["blue jay"] * 4)]
    writer = open_writer(index, embedder, {"live_refresh_seconds": 0})
    for start in range(0, len(items), 2):  # four segments
        writer.upsert(items[start : start + 2])
    writer.delete(["art-0"])
    reader = open_reader(index, {"live_refresh_seconds": 0})
    kept = items[1:]
    folder = tmp_path / "one-shot"
    write_bm25(list(range(2, 8)), [f"{a.title}\n{a.text}" for a in kept], folder)
    one_shot = dict(KeywordIndex(folder).search("fox jay number3", 10))
    live = dict(reader.keyword("fox jay number3", 10))
    assert set(live) == set(one_shot)
    for chunk_id, score in one_shot.items():
        assert live[chunk_id] == pytest.approx(score, rel=1e-5)
    writer.close()
    reader.close()


def test_merges_keep_every_answer_and_drop_tombstones(index, embedder):
    settings = {"live_merge_factor": 3, "live_refresh_seconds": 0}
    writer = open_writer(index, embedder, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    for n in range(9):
        writer.upsert([article(n)])
    writer.delete(["art-4"])
    reader = open_reader(index, settings)
    query = embedder.encode_query("harbour ferry number7")
    before_dense = reader.dense(query, 5)
    before_keyword = reader.keyword("ferry number7", 5)
    assert len(reader.view().segments) == 9
    assert compact(index, settings) >= 1
    view = reader.view()
    assert len(view.segments) < 9
    after_dense = reader.dense(query, 5)
    after_keyword = reader.keyword("ferry number7", 5)
    assert [c for c, _ in after_dense] == [c for c, _ in before_dense]
    assert [s for _, s in after_dense] == pytest.approx([s for _, s in before_dense])
    assert [c for c, _ in after_keyword] == [c for c, _ in before_keyword]
    assert [s for _, s in after_keyword] == pytest.approx([s for _, s in before_keyword])
    assert 5 not in [c for c, _ in after_dense]  # art-4's passage, deleted
    with sqlite3.connect(writer.version_dir / "store.sqlite") as db:
        assert db.execute("SELECT count(*) FROM live_tombstones").fetchone()[0] == 0
    writer.close()
    reader.close()


def test_plan_merge_takes_a_full_tier_and_reclaims_deletes():
    small = [SegmentRow(i, 100, "inline") for i in range(1, 4)]
    assert plan_merge(small, {}, factor=3, max_segment=1000, hnsw_from=5000) == [1, 2, 3]
    assert plan_merge(small[:2], {}, factor=3, max_segment=1000, hnsw_from=5000) == []
    big = [SegmentRow(7, 90, "folder")]
    assert plan_merge(big, {7: 31}, factor=3, max_segment=1000, hnsw_from=5000) == [7]
    assert plan_merge(big, {7: 30}, factor=3, max_segment=1000, hnsw_from=5000) == []


def _merged(rows: list[SegmentRow], plan: list[int], new_id: int) -> list[SegmentRow]:
    """The segment list after a merge of `plan` (what run_merge swaps in), for the policy
    tests below: the inputs out, one folder segment of their passages in."""
    size = sum(r.passages for r in rows if r.id in plan)
    return [r for r in rows if r.id not in plan] + [SegmentRow(new_id, size, "files")]


def test_plan_merge_gives_flat_segments_a_graph_once_they_reach_the_threshold():
    # Nine writes of 11,500 passages, the 100k bench's fill: at factor 10 none would merge
    # by tiers alone (they were searched exactly, every row). With the threshold at 20,000:
    # found all at once, the nine flat segments become one graph segment of 103,500 ...
    nine = [SegmentRow(i, 11_500, "inline") for i in range(1, 10)]
    plan = plan_merge(nine, {}, factor=10, max_segment=250_000, hnsw_from=20_000)
    assert plan == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    # ... and arriving one by one, each merge run after a write, they pair up into graph
    # segments of 23,000 and the ninth stays flat (11,500 < 20,000).
    rows: list[SegmentRow] = []
    plans = []
    for write in nine:
        rows.append(write)
        if plan := plan_merge(rows, {}, factor=10, max_segment=250_000, hnsw_from=20_000):
            plans.append(plan)
            rows = _merged(rows, plan, 100 + len(plans))
    assert plans == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert [(r.passages, r.kind) for r in rows] == [(23_000, "files")] * 4 + [(11_500, "inline")]


def test_plan_merge_counts_only_flat_alive_rows_toward_the_threshold():
    # A graph segment (a folder of 30,000) is not flat; 5,000 flat rows stay flat.
    assert (
        plan_merge(
            [SegmentRow(1, 30_000, "files"), SegmentRow(2, 5_000, "inline")],
            {},
            factor=10,
            max_segment=250_000,
            hnsw_from=20_000,
        )
        == []
    )
    # A flat folder (15,000 < 20,000) and a write of 6,000: 21,000 flat rows.
    assert plan_merge(
        [SegmentRow(1, 15_000, "files"), SegmentRow(2, 6_000, "inline")],
        {},
        factor=10,
        max_segment=250_000,
        hnsw_from=20_000,
    ) == [1, 2]
    # 12,000 with 3,000 dead (a quarter: no reclaim) and 10,000: 19,000 alive, under.
    assert (
        plan_merge(
            [SegmentRow(1, 12_000, "inline"), SegmentRow(2, 10_000, "inline")],
            {1: 3_000},
            factor=10,
            max_segment=250_000,
            hnsw_from=20_000,
        )
        == []
    )
    # One write of 25,000 passages is rewritten alone, with a graph.
    assert plan_merge(
        [SegmentRow(4, 25_000, "inline")], {}, factor=10, max_segment=250_000, hnsw_from=20_000
    ) == [4]
    # Never past max_segment: 9,000 + 9,000 = 18,000; a third would make 27,000 > 20,000.
    assert plan_merge(
        [SegmentRow(i, 9_000, "inline") for i in (1, 2, 3)],
        {},
        factor=10,
        max_segment=20_000,
        hnsw_from=15_000,
    ) == [1, 2]


def test_merges_build_graphs_for_flat_rows_and_keep_the_answers(index, embedder):
    settings = {"live_hnsw_from": 3, "live_refresh_seconds": 0}
    writer = open_writer(index, embedder, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    merges = 0
    for n in range(7):
        writer.upsert([article(n)])  # one passage each
        merges += compact(index, settings)
    # Writes 1-3 reach 3 flat rows: one graph segment; 4-6 another; 7 stays flat.
    assert merges == 2
    reader = open_reader(index, settings)
    view = reader.view()
    assert [len(s) for s in view.segments] == [3, 3, 1]
    assert [hasattr(s.graph, "hnsw") for s in view.segments] == [True, True, False]
    query = embedder.encode_query("harbour ferry number5")
    # Through the graphs, the same order as every stored vector compared with the query.
    ids = np.concatenate([np.asarray(s.ids) for s in view.segments])
    vectors = np.concatenate([np.asarray(s.vectors) for s in view.segments])
    exact = ids[np.argsort(-(vectors @ query), kind="stable")].tolist()
    found = reader.dense(query, 7)
    assert [c for c, _ in found] == exact
    # The graphs walk 8-bit codes; the scores are the float vectors' cosines all the same.
    assert type(view.segments[0].graph).__name__ == "IndexHNSWSQ"
    cosine = dict(zip(ids.tolist(), (vectors @ query).tolist(), strict=True))
    assert [s for _, s in found] == pytest.approx([cosine[c] for c in exact], abs=1e-6)
    writer.close()
    reader.close()


def test_writes_while_a_merge_runs_stay_and_its_deletes_stay_deleted(index, embedder, monkeypatch):
    from semsearch.index.live import merge

    settings = {"live_merge_factor": 3, "live_refresh_seconds": 0}
    writer = open_writer(index, embedder, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    for n in range(3):
        writer.upsert([article(n)])  # chunk ids 1, 2, 3: three segments, a full tier
    merge_for_real = merge.merge_segments
    calls = []

    def merge_while_writing(*args, **kwargs):
        merged = merge_for_real(*args, **kwargs)
        if not calls:  # after the merge read its inputs, before its swap
            writer.delete(["art-1"])  # chunk 2, inside the segment being made
            writer.upsert([article(9)])  # chunk 4, a new segment
        calls.append(1)
        return merged

    monkeypatch.setattr(merge, "merge_segments", merge_while_writing)
    assert compact(index, settings) == 1
    reader = open_reader(index, settings)
    view = reader.view()
    assert [len(s) for s in view.segments] == [3, 1]  # the merge kept chunk 2's row ...
    assert view.state.passages == 3
    with sqlite3.connect(writer.version_dir / "store.sqlite") as db:
        # ... so its tombstone stays until a merge drops the row
        assert db.execute("SELECT chunk_id FROM live_tombstones").fetchall() == [(2,)]
    assert reader.keyword("number1", 10) == []
    assert [c for c, _ in reader.keyword("number9", 10)] == [4]
    assert sorted(c for c, _ in reader.dense(embedder.encode_query("harbour"), 10)) == [1, 3, 4]
    writer.close()
    reader.close()


def test_a_merge_on_a_full_disk_leaves_the_index_serving(index, embedder, monkeypatch):
    import errno

    from semsearch.index.live import merge

    settings = {"live_merge_factor": 3, "live_refresh_seconds": 0}
    writer = open_writer(index, embedder, settings)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by hand below
    for n in range(3):
        writer.upsert([article(n)])
    write_for_real = merge.write_folder

    def full_disk(segment, folder, graph):
        folder.mkdir(parents=True, exist_ok=True)  # the merge wrote its vectors there
        (folder / "ids.npy").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(merge, "write_folder", full_disk)
    with pytest.raises(OSError, match="No space left"):
        compact(index, settings)
    segments = writer.version_dir / "segments"
    assert [p.name for p in segments.iterdir()] == ["4.partial"]
    reader = open_reader(index, settings)
    assert len(reader.view().segments) == 3  # the inputs, still served
    assert sorted(c for c, _ in reader.keyword("harbour", 10)) == [1, 2, 3]
    reader.close()
    monkeypatch.setattr(merge, "write_folder", write_for_real)
    assert compact(index, settings) == 1  # space again: the half-written folder goes
    assert [p.name for p in segments.iterdir()] == ["5"]
    reader = open_reader(index, settings)
    assert [len(s) for s in reader.view().segments] == [3]
    assert sorted(c for c, _ in reader.keyword("harbour", 10)) == [1, 2, 3]
    writer.close()
    reader.close()


def test_two_writers_at_once_lose_nothing(index, embedder):
    first = open_writer(index, embedder)
    second = open_writer(index, embedder)
    errors: list[BaseException] = []

    def write(writer, offset: int) -> None:
        try:
            for n in range(offset, offset + 10):
                writer.upsert([article(n)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(first, 0)),
        threading.Thread(target=write, args=(second, 100)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    reader = open_reader(index)
    assert reader.view().state.passages == 20
    for n in (0, 9, 100, 109):
        assert reader.fetch_article(f"art-{n}") is not None
    first.close()
    second.close()
    reader.close()


def test_a_full_disk_fails_the_write_and_keeps_the_acknowledged(index, embedder):
    writer = open_writer(index, embedder)
    writer.upsert([OAK])
    db = writer._store.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite answers SQLITE_FULL past it
    with pytest.raises(StorageFullError):
        writer.upsert([Article(id=f"big{n}", title="Big", text="word " * 400) for n in range(20)])
    reader = open_reader(index)
    assert reader.fetch_article("oak") is not None
    assert reader.fetch_article("big0") is None
    assert reader.generation == 1
    db.execute("PRAGMA max_page_count = 1073741823")
    assert statuses(writer.upsert([ELM])) == [("elm", "created")]
    writer.close()
    reader.close()


def test_a_writer_lock_held_too_long_is_a_503(index, embedder):
    writer = open_writer(index, embedder, {"live_lock_timeout": 0.2})
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with writer_lock(index):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    try:
        with pytest.raises(WriterBusyError) as caught:
            writer.upsert([OAK])
        assert caught.value.status == 503
    finally:
        release.set()
        thread.join()
    assert statuses(writer.upsert([OAK])) == [("oak", "created")]
    writer.close()


def test_filters_restrict_before_ranking(index, embedder):
    writer = open_writer(index, embedder)
    writer.upsert([article(n) for n in range(6)])
    reader = open_reader(index)
    query = embedder.encode_query("harbour ferry")
    assert {c for c, _ in reader.dense(query, 10, allowed=[2, 5])} == {2, 5}
    assert {c for c, _ in reader.keyword("ferry", 10, allowed=[3])} == {3}
    assert reader.has_all_terms(["ferri", "number4"], allowed=[5])
    assert not reader.has_all_terms(["ferri", "number4"], allowed=[4])
    vectors = reader.stored_vectors([1, 2])
    assert vectors is not None and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    writer.close()
    reader.close()


def test_merge_segments_lays_out_alive_word_counts_and_vectors_in_its_folder(tmp_path):
    from semsearch.index.live import merge
    from semsearch.index.live.segments import make_segment

    # Two inputs whose chunk ids interleave; chunk 4 is tombstoned.
    #   input A: chunk 1 "oak oak river", chunk 4 "river lake", chunk 5 "hill"
    #   input B: chunk 2 "lake", chunk 3 "oak stone stone stone"
    vectors = np.eye(5, 4, dtype=np.float32)  # chunk n's vector: row n - 1 of this
    a = make_segment(
        1,
        np.array([1, 4, 5]),
        vectors[[0, 3, 4]],
        [["oak", "oak", "river"], ["river", "lake"], ["hill"]],
    )
    b = make_segment(
        2, np.array([2, 3]), vectors[[1, 2]], [["lake"], ["oak", "stone", "stone", "stone"]]
    )
    alive_a = np.array([True, False, True])
    folder = tmp_path / "7.partial"
    merged = merge.merge_segments(7, [a, b], [alive_a, None], folder)

    assert merged.ids.tolist() == [1, 2, 3, 5]  # rows 0..3
    assert np.load(folder / "vectors.npy").tolist() == vectors[[0, 1, 2, 4]].tolist()
    assert merged.lengths.tolist() == [3, 1, 4, 1]

    def column(word):
        rows, counts = merged.word_rows(word)
        return sorted(zip(rows.tolist(), counts.tolist(), strict=True))

    assert column("oak") == [(0, 2.0), (2, 1.0)]
    assert column("river") == [(0, 1.0)]  # chunk 4's river is gone with it
    assert column("lake") == [(1, 1.0)]
    assert column("stone") == [(2, 3.0)]
    assert column("hill") == [(3, 1.0)]
    assert merged.rows.dtype == np.int32 and len(merged.rows) == 6
