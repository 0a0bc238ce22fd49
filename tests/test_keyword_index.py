"""BM25 keyword retrieval with bm25s: words, filters, and agreement with plain BM25."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.ingest.articles import Article
from semsearch.index.storage.keyword_index import (
    KeywordIndex,
    _stemmer,
    query_tokenize,
    tokenize,
    write_keyword_index,
)
from semsearch.index.storage.store import StoreWriter
from semsearch.index.text.chunking import Chunk


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
    assert query_tokenize(text, _stemmer()) == tokenize([text], _stemmer())[0]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_query_words_are_the_index_words_for_any_text(text: str) -> None:
    assert query_tokenize(text, _stemmer()) == tokenize([text], _stemmer())[0]
