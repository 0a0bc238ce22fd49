"""Phrases, exclusions, OR and field scopes filter before ranking, on every backend (the
`news` fixture: twelve "Harbour report N" articles of two passages each, a long festival
article, a garden one; tests/conftest.py). Expectations counted by hand from its texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.errors import BadQueryError
from semsearch.search.service import SearchService


def _articles(result) -> list[str]:
    return sorted(hit.article.id for hit in result.hits)


def test_a_phrase_must_be_in_the_passage(news: SearchService) -> None:
    result = news.search('"dredging report number 3"', 10)
    assert [h.passage.chunk_id for h in result.hits] == [
        h.passage.chunk_id for h in result.hits if "report number 3 " in h.passage.text
    ]
    assert _articles(result) == ["n3"]


def test_a_phrase_gives_k_hits_when_k_passages_hold_it(news: SearchService) -> None:
    # Every harbour report says "silt and tides" once: twelve articles (the copy of n0 is
    # n0's), found whatever the dense side would have ranked first.
    result = news.search('"silt and tides"', 12, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in range(12))
    assert all("silt and tides" in h.passage.text for h in result.hits)


def test_phrase_words_match_as_the_highlighter_reads_them(news: SearchService) -> None:
    # Case and a plural's -s do not matter; word order does.
    result = news.search('"SILT AND TIDE"', 20, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in range(12))
    assert news.search('"tides and silt"', 10).hits == []


def test_an_exclusion_leaves_out_whole_articles(news: SearchService) -> None:
    result = news.search("harbour -dredging", 10, group="article")
    # The reports say dredging in their first passage: all twelve are gone, their weather
    # passages too; the festival (and maybe the garden) remain.
    assert "long" in _articles(result)
    assert not {f"n{i}" for i in range(12)} & set(_articles(result))


def test_an_excluded_phrase(news: SearchService) -> None:
    result = news.search('"silt and tides" -"weather 4" -"weather 5"', 20, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11))


def test_or_between_phrases(news: SearchService) -> None:
    result = news.search('"harbour festival" OR "weather 5"', 10, group="article")
    assert _articles(result) == ["long", "n5"]


def test_title_scope(news: SearchService) -> None:
    assert _articles(news.search('title:"harbour report 7"', 10, group="article")) == ["n7"]
    assert _articles(news.search("title:festival harbour", 10, group="article")) == ["long"]


def test_author_and_publication_scopes(news: SearchService) -> None:
    # Cy Ode wrote reports 9 to 11; the Gazette published the odd ones.
    result = news.search('author:"Cy Ode" harbour', 10, group="article")
    assert _articles(result) == ["n10", "n11", "n9"]
    result = news.search("publication:Gazette report", 20, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in (1, 3, 5, 7, 9, 11))
    result = news.search('-publication:Gazette "silt and tides"', 20, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in (0, 2, 4, 6, 8, 10))


def test_scopes_combine_with_filters(news: SearchService) -> None:
    result = news.search(
        "publication:Gazette report", 20, group="article", filters={"author": "Cy Ode"}
    )
    assert _articles(result) == ["n11", "n9"]


def test_no_passage_holds_the_phrase(news: SearchService) -> None:
    result = news.search('"purple harbour elephants"', 10)
    assert result.hits == []
    assert result.reason is not None and "phrases" in result.reason


def test_understood_as_is_in_the_answer(news: SearchService) -> None:
    result = news.search('harbour  "silt and tides" -weather foo:bar "open', 5)
    assert result.query == 'harbour "silt and tides" -weather foo:bar "open'
    assert result.understood_as == 'harbour "silt and tides" -weather foo:bar open'


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced harbour',
        "harbour - tides",
        "foo:bar harbour",
        "title: harbour",
        "OR harbour OR",
        '-"" harbour',
        'harbour -"',
        "author:- harbour",
    ],
)
def test_malformed_syntax_answers(news: SearchService, query: str) -> None:
    result = news.search(query, 5)
    assert result.hits  # read as words: "harbour" is in most passages


def test_too_many_operators_is_a_bad_query(news: SearchService) -> None:
    with pytest.raises(BadQueryError, match="quoted phrases"):
        news.search(" ".join(f'"harbour {i}"' for i in range(20)), 5)
    with pytest.raises(BadQueryError, match="exclusions"):
        news.search("harbour " + " ".join(f"-w{i}" for i in range(40)), 5)
    with pytest.raises(BadQueryError, match="nothing to search for"):
        news.search("-harbour", 5)


def test_the_article_page_marks_the_words_not_the_exclusions(news: SearchService) -> None:
    # n0's first passage: "The harbour dredging report number 0 covers silt and tides."
    chunk = news.search('"dredging report number 0"', 1).hits[0].passage.chunk_id
    passage = news.passage(chunk, "harbour -dredging")
    assert passage is not None
    assert [passage.text[s:e] for s, e in passage.highlights] == ["harbour"]


def test_the_store_is_scanned_once_per_operator_read_at_most(
    news: SearchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input's cost is bounded by the operators applied, each one pass over the store
    (or one look-up in the version's word index): none for a pasted text, none for a refused
    query, at most two per exclusion."""
    store = news.backend.store
    scanned: list[str] = []
    real = store.texts_containing

    def counted(column: str, fragments, check=None):
        scanned.append(column)
        return real(column, fragments, check)

    monkeypatch.setattr(store, "texts_containing", counted)
    if news.words is not None:  # a version with a word index looks phrases up there instead
        look_up = news.words.look_up

        def looked_up(column: str, words, language):
            scanned.append(column)
            return look_up(column, words, language)

        monkeypatch.setattr(news.words, "look_up", looked_up)
    # 100 phrases: 200 words, past MAX_SYNTAX_WORDS, so plain words and no phrase applied.
    assert news.search(" ".join(f'"harbour {i}"' for i in range(100)), 5).hits
    assert scanned == []
    # 1,000 exclusions and 20 phrases are refused before any scan.
    for query in (
        "harbour " + " ".join(f"-w{i}" for i in range(1000)),
        " ".join(f'"harbour {i}"' for i in range(20)),
    ):
        with pytest.raises(BadQueryError):
            news.search(query, 5)
    assert scanned == []
    # 16 phrases, the most allowed: the first finds nothing, so the rest are not scanned.
    news.search(" ".join(f'"harbour w{i}"' for i in range(16)), 5)
    assert scanned == ["text"]
    scanned.clear()
    # 32 exclusions, the most allowed: the text and the title once each.
    news.search("harbour " + " ".join(f"-w{i}" for i in range(32)), 5)
    assert scanned == ["text", "title"] * 32


def test_a_built_directory_answers_from_its_word_index_and_the_others_scan(
    news: SearchService,
) -> None:
    """The word index is a built version's file: the live index (whose passages change) and
    the engine (whose files are elsewhere) scan the store, with the same answers."""
    assert (news.words is not None) == (news.backend.kind == "directory")
    result = news.search('"silt and tides" -"weather 4" title:report', 20, group="article")
    assert _articles(result) == sorted(f"n{i}" for i in (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11))


def test_a_scan_past_the_time_budget_gives_the_search_up(
    news: SearchService, tmp_path: Path
) -> None:
    """A phrase or an exclusion reads every passage: the search's deadline is looked at by
    the scan inside SQLite and while the candidates are checked (503, as a deep page)."""
    from semsearch.errors import SearchTimeoutError
    from semsearch.index.ingest.articles import Article
    from semsearch.index.storage.store import ServedStore, StoreWriter
    from semsearch.index.text.chunking import Chunk
    from semsearch.search.budget import Deadline
    from semsearch.search.constraints import matching

    writer = StoreWriter(tmp_path / "store.sqlite")
    for i in range(2_000):  # a scan long enough for SQLite to call the handler
        text = f"tide table {i}"
        writer.add(Article(id=f"a{i}", title="t", text=text), [Chunk(0, 0, len(text), text, 3)])
    writer.close()
    big = ServedStore(tmp_path / "store.sqlite")
    calls: list[int] = []

    def out_of_time() -> None:
        calls.append(1)
        raise SearchTimeoutError("out of time")

    # Inside SQLite: the progress handler calls the check, and what it raises comes out.
    with pytest.raises(SearchTimeoutError, match="out of time"):
        big.texts_containing("text", ["tide"], out_of_time)
    assert calls == [1]
    assert len(big.texts_containing("text", ["tide"], lambda: None)) == 2_000  # reads again
    big.close()
    store = news.backend.store
    # While the candidates are checked: a deadline already passed.
    passed = Deadline(budget_ms=1, at=0.0)
    with pytest.raises(SearchTimeoutError):
        matching(store, "text", "dredging report", None, passed)
    assert matching(store, "text", "dredging report", None)  # no deadline: the answer
