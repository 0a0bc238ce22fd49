"""A live index does what a built one does with the articles written to it: each analysed
in its own language, whole-article evidence, copies of stored articles, boilerplate learned
again as a source grows (semsearch.index.live, docs/live-index.md).

Expectations are hand-counted: index words are listed by hand (German Snowball stems, Chinese
character bigrams), BM25 worked out from the formula (bm25s's Lucene variant, k1 1.2, b 0.75).
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.merge import compact
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import STORE_NAME
from semsearch.index.storage.store import ArticleFilter
from semsearch.search.backends.live import LiveBackend

# One passage each; their index words (title, then text):
#   en: oak river stone                                  (3 words)
#   de: haus bruck fluss    ("die", "über", "dem" are German stop words)      (3 words)
#   zh: 大学 学新 新闻 | 北京 京大 大学 学开 开学          (8 words: bigrams of each run)
EN = Article(id="en", title="Oak", text="river stone", language="en")
DE = Article(id="de", title="Häuser", text="Die Brücken über dem Fluss", language="de")
ZH = Article(id="zh", title="大学新闻", text="北京大学开学", language="zh")


def bm25(tf: float, df: int, passages: int, length: float, mean: float) -> float:
    idf = math.log(1 + (passages - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * length / mean))


def statuses(report) -> list[tuple[str, str]]:
    return [(o.id, o.status) for o in report.outcomes]


def test_each_article_is_analysed_in_its_own_language(index, embedder):
    writer = open_writer(index, embedder)
    writer.upsert([EN])
    writer.upsert([DE, ZH])
    backend = LiveBackend(resolve_index_dir(index))
    assert backend.languages() == {"en", "de", "zh"}
    # "Häuser" is "haus" in German, "hauser" in English: only a German query finds it.
    found = backend.keyword_search("Häuser", 10, None, "de")
    assert [backend.store.fetch_chunks([c])[c].article["id"] for c, _ in found] == ["de"]
    assert backend.keyword_search("Häuser", 10, None, "en") == []
    assert backend.keyword_coverage("Häuser Brücken", "de") == 1.0
    assert backend.keyword_coverage("Häuser Brücken", "en") == 0.0
    # "大学" is twice in the Chinese passage of 8 words; 14 words over 3 passages.
    [(chunk, score)] = backend.keyword_search("大学", 10, None, "zh")
    assert score == pytest.approx(bm25(2, 1, 3, 8, 14 / 3), rel=1e-5)
    assert backend.has_all_terms("北京大学", None, "zh")
    assert not backend.has_all_terms("上海大学", None, "zh")  # 上海 is in no passage
    # The query's bigrams 上海 海大 大学: 大学 held, the other two in no passage (counted
    # at the highest IDF).
    held = math.log(1 + (3 - 1 + 0.5) / 1.5)
    missing = math.log(1 + (3 + 0.5) / 0.5)
    assert backend.idf_coverage("上海大学", chunk, "zh") == pytest.approx(
        held / (held + 2 * missing), rel=1e-6
    )
    assert backend.score_bound("上海大学", "zh") == pytest.approx(held + 2 * missing, rel=1e-6)
    writer.delete(["zh"])
    backend.reader.refresh()
    assert backend.languages() == {"en", "de"}
    assert backend.keyword_search("大学", 10, None, "zh") == []
    backend.close()
    writer.close()


def test_whole_article_evidence_is_kept_through_writes_merges_and_deletes(index, embedder):
    # Three articles; whole-article words (title + text), one passage each:
    #   a: alder river river meadow  (4)   b: birch river (2)   c: cedar meadow meadow (3)
    writer = open_writer(index, embedder, {"live_merge_factor": 2})
    writer.upsert([Article(id="a", title="Alder", text="river river meadow", language="en")])
    writer.upsert([Article(id="b", title="Birch", text="river", language="en")])
    writer.upsert([Article(id="c", title="Cedar", text="meadow meadow", language="en")])
    compact(index, {"live_merge_factor": 2})
    backend = LiveBackend(resolve_index_dir(index))
    assert backend.articles is not None
    # One passage an article: the key is the article's own chunk id.
    assert backend.store.article_keys([1, 2, 3]) == {1: 1, 2: 2, 3: 3}
    # "river": in a (tf 2, 4 words) and b (tf 1, 2 words); 3 articles, 9 words.
    scores = dict(backend.articles.keyword_scores("river", [1, 2, 3], "en"))
    assert scores == {
        1: pytest.approx(bm25(2, 2, 3, 4, 3), rel=1e-5),
        2: pytest.approx(bm25(1, 2, 3, 2, 3), rel=1e-5),
    }
    # The pooled vector of a one-passage article is its passage's vector.
    vector = backend.stored_vectors([3])
    assert vector is not None
    dense = dict(backend.articles.dense_scores(vector[0], [1, 2, 3]))
    assert dense[3] == pytest.approx(1.0, abs=1e-5)
    # Deleting b: 2 articles, 7 words; "river" only in a.
    writer.delete(["b"])
    backend.reader.refresh()
    scores = dict(backend.articles.keyword_scores("river", [1, 2, 3], "en"))
    assert scores == {1: pytest.approx(bm25(2, 1, 2, 4, 3.5), rel=1e-5)}
    assert 2 not in dict(backend.articles.dense_scores(vector[0], [1, 2, 3]))
    backend.close()
    writer.close()


STORY = (
    "The harbour authority said on Monday that the night ferry to the islands will run "
    "again from the first of May, after the winter repairs to the northern pier were "
    "finished ahead of time and under budget, and that tickets go on sale next week."
)


def test_a_copy_of_a_stored_article_is_kept_as_its_copy(index, embedder):
    writer = open_writer(index, embedder)
    original = Article(id="orig", title="Ferry", text=STORY, url="https://a.example/ferry")
    writer.upsert([original])
    copy = Article(
        id="copy",
        title="Ferry returns",
        text="From our correspondent.\n" + STORY,
        url="https://b.example/news/ferry",
        publication="B News",
    )
    again = Article(id="again", title="Ferry", text=STORY, url="https://a.example/ferry")
    other = Article(id="other", title="Market", text="The market opens at nine every Sunday.")
    report = writer.upsert([copy, other])
    assert statuses(report) == [("copy", "created"), ("other", "created")]
    assert report.outcomes[0].reason == "stored as a copy of 'orig', not indexed on its own"
    report = writer.upsert([again])
    assert statuses(report) == [("again", "unchanged")]
    assert report.outcomes[0].reason == "the same page as the stored 'orig'"
    store = resolve_index_dir(index) / STORE_NAME
    with sqlite3.connect(store) as db:
        copies = db.execute("SELECT article_id, copy_id, publication FROM copies").fetchall()
        articles = sorted(r[0] for r in db.execute("SELECT id FROM articles"))
    assert copies == [("orig", "copy", "B News")]
    assert articles == ["orig", "other"]
    writer.close()


def test_a_stored_article_changed_into_a_copy_stays_itself(index, embedder):
    """Only new ids are compared with stored articles: an update replaces the article."""
    writer = open_writer(index, embedder)
    writer.upsert([Article(id="orig", title="Ferry", text=STORY)])
    writer.upsert([Article(id="later", title="Market", text="The market opens at nine.")])
    report = writer.upsert([Article(id="later", title="Ferry again", text=STORY)])
    assert statuses(report) == [("later", "updated")]
    with sqlite3.connect(resolve_index_dir(index) / STORE_NAME) as db:
        assert db.execute("SELECT count(*) FROM copies").fetchone()[0] == 0
    writer.close()


def test_band_look_ups_search_the_key_not_the_table(index, embedder):
    """A new article's candidates cost one B-tree search a band, however many are stored."""
    writer = open_writer(index, embedder)
    writer.upsert([Article(id="orig", title="Ferry", text=STORY)])
    with sqlite3.connect(resolve_index_dir(index) / STORE_NAME) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT DISTINCT article_id FROM live_copy_bands "
            "WHERE band IN (?, ?)",
            (1, 2),
        ).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH live_copy_bands USING PRIMARY KEY (band=?)" in details
    assert "SCAN live_copy_bands" not in details
    writer.close()


REPORTS = {
    1: "Library opening hours grow longer this winter after volunteers offered to help.",
    2: "Harbour dredging begins in March, so fishing boats must moor at the east quay.",
    3: "New bus lanes on Kings Road cut the morning commute by four minutes on average.",
    4: "A leaking school roof closed two classrooms; repairs are booked for half term.",
    5: "Farmers at the Saturday market say the late frost halved their strawberry crop.",
    6: "Engineers found rust under the old bridge and asked for a weight limit on lorries.",
    7: "Park rangers counted forty nesting swans along the canal, the most in a decade.",
}


def test_boilerplate_is_learned_again_as_a_source_grows(index, embedder):
    """One article a write never repeats a block within a batch; at 6 stored articles
    (factor 2 times 3) the source's template is learned from the stored ones."""
    writer = open_writer(index, embedder)
    footer = "The Daily Planet, independent news from Metropolis since 1938"

    def story(n: int) -> Article:
        return Article(
            id=f"s{n}",
            title=f"Story {n}",
            text=f"{REPORTS[n]}\n{footer}",
            publication="Daily Planet",
        )

    for n in range(1, 7):
        writer.upsert([story(n)])
    with sqlite3.connect(resolve_index_dir(index) / STORE_NAME) as db:
        texts = dict(db.execute("SELECT id, text FROM articles").fetchall())
        learned = db.execute("SELECT source, learned_at FROM live_sources").fetchall()
    assert footer in texts["s5"]  # stored before the source was learned: kept as it was
    assert texts["s6"] == REPORTS[6]
    assert learned == [("daily planet", 6)]
    writer.upsert([story(7)])
    with sqlite3.connect(resolve_index_dir(index) / STORE_NAME) as db:
        text = db.execute("SELECT text FROM articles WHERE id = 's7'").fetchone()[0]
    assert text == REPORTS[7]
    writer.close()


def test_a_built_index_made_live_keeps_languages_and_article_rows(tmp_path, embedder):
    from semsearch.index.build.builder import build_index
    from semsearch.index.live.snapshot import make_live

    source = tmp_path / "articles.jsonl"
    import json

    source.write_text(
        "\n".join(
            json.dumps({"id": a.id, "title": a.title, "text": a.text, "language": a.language})
            for a in (EN, DE, ZH)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "built"
    build_index([source], out, embedder)
    make_live(out, embedder)
    backend = LiveBackend(resolve_index_dir(out))
    assert backend.languages() == {"en", "de", "zh"}
    [(chunk, score)] = backend.keyword_search("大学", 10, None, "zh")
    assert score == pytest.approx(bm25(2, 1, 3, 8, 14 / 3), rel=1e-5)
    assert backend.articles is not None
    key = backend.store.article_keys([chunk])[chunk]
    [(found, article_score)] = backend.articles.keyword_scores("大学", [key], "zh")
    assert found == key and article_score == pytest.approx(score, rel=1e-6)
    reader = open_reader(out)
    vector = reader.stored_vectors([chunk])
    assert vector is not None
    assert np.allclose(backend.articles.dense_scores(vector[0], [key])[0][1], 1.0, atol=1e-5)
    reader.close()
    backend.close()


def test_a_format_1_index_is_upgraded_in_place(index, embedder, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from semsearch.cli import cli
    from semsearch.index.live import catalog
    from semsearch.index.live.snapshot import upgrade_live

    # A live index as the code before format 2 made it: every passage analysed as English,
    # no article rows, no languages.
    monkeypatch.setattr(catalog, "FORMAT", 1)
    writer = open_writer(index, embedder)
    writer.upsert([EN])
    writer.upsert([DE, ZH])
    writer.delete(["zh"])  # a tombstone and a chunk id the upgrade must not hand out again
    writer.close()
    old = resolve_index_dir(index)
    backend = LiveBackend(old)
    assert backend.reader.view().state.format == 1 and backend.articles is None
    assert backend.keyword_search("Haus", 10, None, "de") == []  # "Häuser" is "hauser" here
    ids = sorted(backend.store.chunk_ids_matching(ArticleFilter()))
    vectors = backend.stored_vectors(ids)
    next_chunk = backend.reader.view().state.next_chunk_id
    backend.close()
    monkeypatch.undo()

    # An upgrade that fails before its publish leaves the old version serving, no staging.
    import semsearch.index.live.snapshot as snapshot

    def fail(*_args):
        raise OSError("the disk went away")

    monkeypatch.setattr(snapshot, "publish", fail)
    with pytest.raises(OSError):
        upgrade_live(index, embedder)
    monkeypatch.undo()
    assert resolve_index_dir(index) == old
    assert [p.name for p in old.parent.iterdir()] == [old.name]

    result = CliRunner().invoke(cli, ["live", "--upgrade", str(index), "--model", "hashing-32"])
    assert result.exit_code == 0, result.output
    assert "is upgraded" in result.output
    new = resolve_index_dir(index)
    assert new != old  # a new version, published atomically
    backend = LiveBackend(new)
    state = backend.reader.view().state
    assert (state.format, state.passages, state.articles) == (2, 2, 2)  # en and de
    assert state.next_chunk_id == next_chunk
    assert backend.languages() == {"en", "de"}
    found = backend.keyword_search("Haus", 10, None, "de")  # "Häuser" is "haus" now
    assert [backend.store.fetch_chunks([c])[c].article["id"] for c, _ in found] == ["de"]
    assert backend.articles is not None
    assert sorted(backend.store.chunk_ids_matching(ArticleFilter())) == ids
    assert np.array_equal(backend.stored_vectors(ids), vectors)  # the same vectors
    backend.close()
    assert upgrade_live(index, embedder) is None  # current: nothing to do

    writer = open_writer(index, embedder)  # writes go on, chunk ids after the old ones
    assert statuses(writer.upsert([ZH])) == [("zh", "created")]
    writer.close()
    backend = LiveBackend(resolve_index_dir(index))
    [(chunk, _)] = backend.keyword_search("大学", 10, None, "zh")
    assert chunk >= next_chunk
    backend.close()
