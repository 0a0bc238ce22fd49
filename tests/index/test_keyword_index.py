"""BM25 keyword retrieval with bm25s: words, filters, agreement with plain BM25, and the
exact-match check answered from the same index."""

from __future__ import annotations

import json
import math
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest.articles import Article
from semsearch.index.storage.keyword_index import KeywordIndex, write_keyword_index
from semsearch.index.storage.store import StoreWriter
from semsearch.index.text.analysis import index_words, new_stemmer, query_words
from semsearch.index.text.chunking import Chunk
from semsearch.search.keyword import MAX_QUERY_TERMS, content_terms, has_all_terms


def store_of(tmp_path: Path, passages: dict[str, str]) -> Path:
    """A store with one one-passage article per entry (id -> text), ids 1, 2, ... in order."""
    path = tmp_path / "store.sqlite"
    writer = StoreWriter(path)
    for article_id, text in passages.items():
        chunk = Chunk(ordinal=0, start=0, end=len(text), tokens=len(text.split()), text=text)
        writer.add(Article(id=article_id, title="", text=text), [chunk])
    writer.close()
    return path


@pytest.fixture()
def index(tmp_path: Path) -> KeywordIndex:
    store = store_of(
        tmp_path,
        {
            "tides": "The harbour tides rose two metres at the café on Friday.",
            "cells": "T cells and B cells respond to the new vaccine.",
            "bridge": "The council voted to repair the old bridges over the river.",
            "filler": "Nothing much happened in the quiet village this week.",
        },
    )
    write_keyword_index(store, tmp_path / "keyword")
    return KeywordIndex(tmp_path / "keyword")


def test_stems_accents_and_single_letters_match(index: KeywordIndex) -> None:
    assert index.search("bridge repairs", 3)[0][0] == 3  # stems: bridges, repair
    assert index.search("cafe", 3)[0][0] == 1  # accents folded: café
    assert index.search("T", 3)[0][0] == 2  # a single letter is a word: "T cells"


def test_stop_words_and_unknown_words_find_nothing(index: KeywordIndex) -> None:
    assert index.search("the and of", 3) == []
    assert index.search("zeppelin", 3) == []
    assert index.query_words("The zeppelin bridges") == ["bridg"]


def test_filter_runs_before_ranking(index: KeywordIndex) -> None:
    assert [cid for cid, _ in index.search("river tides cells", 4, allowed_chunks=[2, 4])] == [2]
    assert index.search("river", 4, allowed_chunks=[99]) == []
    assert index.search("river", 4, allowed_chunks=[]) == []


def test_scores_are_bm25(index: KeywordIndex) -> None:
    """One word in one passage: Lucene's BM25, idf * tf / (tf + k1 * (1 - b + b * len/avg)),
    idf = ln(1 + (N - df + 0.5) / (df + 0.5))."""
    lengths = [
        len(index.query_words(text))
        for text in (
            "The harbour tides rose two metres at the café on Friday.",
            "T cells and B cells respond to the new vaccine.",
            "The council voted to repair the old bridges over the river.",
            "Nothing much happened in the quiet village this week.",
        )
    ]  # query_words keeps each word once: fine here, no passage repeats a word but cells
    average = (sum(lengths) + 1) / 4  # "cells" twice in passage 2
    idf = math.log(1 + (4 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 1 / (1 + 1.2 * (1 - 0.75 + 0.75 * lengths[2] / average))
    assert index.search("river", 1)[0][1] == pytest.approx(expected, rel=1e-3)


QUERIES = [
    "What did the Minister say about INTEREST rates in 2019?",
    "T cells and the café's naïve résumé — ÉCOLE",
    "don't won’t l'été x_y snake_case 3.14 42nd",
    "the of and",  # stop words only
    "",
    "Straße İstanbul ﬁnance Ⅻ ½",
    "日本語 テキスト and العربية",
]


@pytest.mark.parametrize("text", QUERIES)
def test_query_words_are_the_index_words(text: str) -> None:
    """The query path splits and stems without bm25s; it must give the words the index
    has for the same text, or a query would miss passages it matches."""
    assert query_words(text, new_stemmer()) == index_words([text], new_stemmer())[0]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_query_words_are_the_index_words_for_any_text(text: str) -> None:
    assert query_words(text, new_stemmer()) == index_words([text], new_stemmer())[0]


def test_query_words_are_the_index_words_for_every_code_point() -> None:
    """Each assigned code point alone and inside a word, a thousand to a text: folding
    (NFKD, case) and splitting must agree with bm25s's tokenizer wherever Unicode has a
    corner. Unassigned ones (Cn) have no case, decomposition or word class to differ on,
    and surrogates (Cs) cannot reach a store."""
    points = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs")
    ]
    texts = [
        " ".join(f"{c} a{c}b" for c in points[start : start + 1000])
        for start in range(0, len(points), 1000)
    ]
    stemmer = new_stemmer()
    for text, expected in zip(texts, index_words(texts, stemmer), strict=True):
        words = query_words(text, stemmer)
        if words != expected:
            first = next(
                (i for i, (x, y) in enumerate(zip(words, expected, strict=False)) if x != y),
                min(len(words), len(expected)),
            )
            pytest.fail(f"{words[first : first + 3]} != {expected[first : first + 3]}")


def test_the_exact_match_check_wants_every_content_word(index: KeywordIndex) -> None:
    assert has_all_terms(index, "harbour tides on Friday")
    assert has_all_terms(index, "Harbour TIDE at the CAFE")  # case, stems, accents folded
    assert has_all_terms(index, "bridge repairs")  # Snowball stems: bridges, repair
    assert has_all_terms(index, "T cells")  # a single letter is a content word
    assert has_all_terms(index, "river's bridges")  # the clitic is not a word to find
    assert not has_all_terms(index, "harbour bridges")  # words in two different passages
    assert not has_all_terms(index, "harbour zeppelin")
    assert not has_all_terms(index, "the and of")  # no content word: no exact match
    assert not has_all_terms(index, "")


def test_the_exact_match_check_keeps_to_the_allowed_passages(index: KeywordIndex) -> None:
    assert has_all_terms(index, "vaccine cells", allowed=[2])
    assert not has_all_terms(index, "vaccine cells", allowed=[1, 3, 4])
    assert not has_all_terms(index, "vaccine cells", allowed=[])
    assert not has_all_terms(index, "vaccine cells", allowed=[99, -5])


def test_content_terms_are_distinct_stems_in_order_and_bounded() -> None:
    assert content_terms("Festival's fireworks, the festival; don't FIREWORK") == [
        "festiv",
        "firework",
        "don",
    ]
    many = " ".join(f"word{i}" for i in range(100))
    assert content_terms(many) == [f"word{i}" for i in range(MAX_QUERY_TERMS)]


def test_snowball_keeps_apart_words_porter_joined(tmp_path: Path) -> None:
    """FTS5's Porter stems made "news" find "new" and "generous" find "general"; the
    keyword index's Snowball stems do not (the one difference the check's move made)."""
    store = store_of(tmp_path, {"a": "A new general rule.", "b": "The university opened."})
    write_keyword_index(store, tmp_path / "keyword")
    index = KeywordIndex(tmp_path / "keyword")
    assert has_all_terms(index, "new general")
    assert not has_all_terms(index, "news")
    assert not has_all_terms(index, "generous")
    assert has_all_terms(index, "universities")  # universiti, as "university"
    assert not has_all_terms(index, "universe")


def test_an_index_of_no_words_matches_nothing(tmp_path: Path) -> None:
    store = store_of(tmp_path, {"a": "The and of.", "b": "It is so."})
    write_keyword_index(store, tmp_path / "keyword")
    index = KeywordIndex(tmp_path / "keyword")
    assert not has_all_terms(index, "and")
    assert not has_all_terms(index, "\x00")
    assert index.document_frequency("\x00") == 0


def test_document_frequencies_count_passages_holding_the_word(index: KeywordIndex) -> None:
    assert index.document_frequency("cell") == 1  # twice in one passage: one passage
    assert index.document_frequency("bridg") == 1
    assert index.document_frequency("bridges") == 0  # an index word, not a surface word
    assert index.document_frequency("zeppelin") == 0


def test_exact_match_check_over_many_allowed_chunks_stays_fast(tmp_path: Path) -> None:
    """The allowed-id list must filter the matches, not drive one look-up per id (40k ids
    took ~6 s that way with FTS5; now a few milliseconds, so the generous bound cannot
    flake)."""
    path = tmp_path / "store.sqlite"
    writer = StoreWriter(path)
    for a in range(400):  # 40k passages in 400 articles: the store is not what is timed
        texts = [f"harbour report {(a * 100 + i + 1) % 97} about tides" for i in range(100)]
        chunks = [Chunk(i, 0, len(t), t, 5) for i, t in enumerate(texts)]
        writer.add(Article(id=f"a{a}", title="t", text="x"), chunks)
    writer.close()
    write_keyword_index(path, tmp_path / "keyword")
    index = KeywordIndex(tmp_path / "keyword")
    started = time.perf_counter()
    assert has_all_terms(index, "harbour tides 42", allowed=range(1, 40_001))
    assert not has_all_terms(index, "harbour tides 42", allowed=range(1, 40))
    assert time.perf_counter() - started < 2.0


#: The FTS5 table stores had before the keyword index answered the exact-match check.
LEGACY_FTS = """
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, title, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def test_an_index_with_the_old_fts5_table_loads_answers_and_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores built before hold a filled `chunks_fts`: the service ignores it, and an
    update drops it from the copy it publishes (kept, it would go stale)."""
    import sqlite3

    from semsearch.index.build.builder import build_index
    from semsearch.index.build.update import update_index
    from semsearch.index.storage import store as store_module
    from semsearch.index.storage.manifest import MANIFEST_NAME, STORE_NAME
    from semsearch.search.service import SearchService
    from tests.support.fake_embedder import HashingEmbedder

    insert = StoreWriter._insert

    def insert_with_fts(self: StoreWriter, article: Article, chunks: list[Chunk]) -> list[int]:
        ids = insert(self, article, chunks)
        self.db.executemany(
            "INSERT INTO chunks_fts(rowid, text, title) VALUES (?,?,?)",
            [(i, c.text, article.title) for i, c in zip(ids, chunks, strict=True)],
        )
        return ids

    records = [
        {"id": "fest", "title": "Festival", "text": "The festival's fireworks lit the harbour."},
        {"id": "bees", "title": "Bees", "text": "Rooftop beehives produce honey in the city."},
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    embedder = HashingEmbedder(dimension=64)
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "SCHEMA", store_module.SCHEMA + LEGACY_FTS)
        patch.setattr(StoreWriter, "_insert", insert_with_fts)
        build_index([tmp_path / "a.jsonl"], tmp_path / "idx", embedder)
    manifest_path = tmp_path / "idx" / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format_version": 3}))  # as it was written

    def fts_rows() -> int | None:
        db = sqlite3.connect((tmp_path / "idx").resolve() / STORE_NAME)
        try:
            return int(db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0])
        except sqlite3.OperationalError:  # no such table
            return None
        finally:
            db.close()

    assert fts_rows() == 2
    strict = SearchService(tmp_path / "idx", embedder, {"min_score": 0.99})
    assert strict.search("festival's fireworks", 3, mode="hybrid").hits
    assert not strict.search("fireworks honey", 3, mode="hybrid").hits

    more = {"id": "rail", "title": "Rail", "text": "Sleeper trains returned to Vienna."}
    (tmp_path / "b.jsonl").write_text(json.dumps(more) + "\n")
    update_index(tmp_path / "idx", embedder, add=[tmp_path / "b.jsonl"], delete=["bees"])
    assert fts_rows() is None
    assert json.loads(manifest_path.read_text())["format_version"] == 6
    strict = SearchService(tmp_path / "idx", embedder, {"min_score": 0.99})
    assert strict.search("sleeper trains", 3, mode="hybrid").hits
    assert not strict.search("rooftop honey", 3, mode="hybrid").hits


def test_a_text_outside_the_index_scores_as_the_same_text_inside_it(index: KeywordIndex) -> None:
    # score_text is how the build's probes score a passage with their sentence held out: for
    # a passage that is in the index it must give the index's own score.
    passage = "\nThe council voted to repair the old bridges over the river."
    for query in ("council bridges", "repair river bridge vote", "the old bridges"):
        found = dict(index.search(query, 10))
        expected = found.get(3, 0.0)
        assert index.score_text(query, passage) == pytest.approx(expected, rel=1e-5)
    assert index.score_text("penguins", passage) == 0.0
    assert index.can_score_texts


def test_an_index_without_its_stats_cannot_score_texts(tmp_path: Path, index: KeywordIndex) -> None:
    (tmp_path / "keyword" / "stats.json").unlink()
    older = KeywordIndex(tmp_path / "keyword")
    assert not older.can_score_texts
    with pytest.raises(ValueError, match="rebuild"):
        older.score_text("council", "the council")


def test_idf_coverage_is_the_share_of_the_query_idf_a_passage_holds(index: KeywordIndex) -> None:
    # Four passages; "bridg" and "vaccin" are in one each: equal IDF, half each.
    assert index.idf_coverage("bridge vaccine", 3) == pytest.approx(0.5)
    assert index.idf_coverage("bridges over the river", 3) == pytest.approx(1.0)
    # A word no passage holds counts at the highest IDF: log(1 + 4.5 / 0.5) = log 10,
    # against log(1 + 3.5 / 1.5) for "bridg".
    held, missing = math.log(1 + 3.5 / 1.5), math.log(10)
    assert index.idf_coverage("bridge zeppelin", 3) == pytest.approx(held / (held + missing))
    assert index.idf_coverage("the and", 3) == 0.0
    assert index.idf_coverage("bridge", 99) == 0.0  # no such passage


def test_the_score_bound_is_the_query_idf_and_no_passage_reaches_it(index: KeywordIndex) -> None:
    """Bounded fusion divides BM25 by the most a query could score: the sum of its words'
    IDFs (a word no passage holds at the highest), above every passage's score."""
    held, missing = math.log(1 + 3.5 / 1.5), math.log(10)
    assert index.score_bound("bridge zeppelin") == pytest.approx(held + missing)
    assert index.score_bound("the and") == 0.0
    for query in ("bridges over the river", "council repair vote bridge", "bridge bridge"):
        bound = index.score_bound(query)
        scores = [score for _, score in index.search(query, 10)]
        assert scores and max(scores) < bound
    # A word one passage holds once scores about half its IDF (Lucene's BM25 gives a word its
    # whole IDF only as its count grows without end).
    [(_, best)] = index.search("vaccine", 1)
    assert 0.3 < best / index.score_bound("vaccine") < 0.6
