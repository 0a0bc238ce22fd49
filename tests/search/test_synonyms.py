"""Synonyms: the Solr/Elasticsearch file format read line by line (bad lines reported with
their number, never a crash), applied to the keyword side of a query, and carried from one
version of an index directory to the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.index.storage.directory import publish, resolve_index_dir, versions_dir
from semsearch.search.service import SearchService
from semsearch.search.synonyms import SynonymProblem, parse_synonyms, read_synonyms
from tests.conftest import NEWS_EMBEDDER

FILE = """\
# comments and blank lines are skipped

tv, television, telly
usa, united states => america
foo => foo bar
foo => baz
comma\\, inside, commainside
a => b => c
tv, , television
the, of
lonely
"""


def test_equivalences_explicit_mappings_and_merges() -> None:
    found = parse_synonyms(FILE)
    # Keys are index words (stemmed): "television" -> "televis".
    assert found.rules[("tv",)] == (("television", "telly"), False)
    assert found.rules[("televis",)] == (("tv", "telly"), False)
    assert found.rules[("usa",)] == (("america",), True)
    assert found.rules[("unit", "state")] == (("america",), True)
    assert found.rules[("foo",)] == (("foo bar", "baz"), True)  # two lines merged
    assert found.rules[("comma", "insid")] == (("commainside",), False)


def test_bad_lines_are_reported_with_their_number() -> None:
    found = parse_synonyms(FILE)
    assert [p.line for p in found.problems] == [8, 9, 10, 11]
    assert "more than one" in found.problems[0].message
    assert "empty term" in found.problems[1].message
    assert "no searchable word" in found.problems[2].message
    assert "one term alone" in found.problems[3].message
    assert str(SynonymProblem(9, "x")) == "line 9: x"


@pytest.mark.parametrize(
    "line",
    ["=>", "a =>", "=> b", ",", "\\", "a\\", "a, b\\", "=> => =>", "\x00, \x01", "é" * 10_000],
)
def test_any_line_is_a_rule_or_a_problem(line: str) -> None:
    found = parse_synonyms(line)
    assert bool(found.rules) or len(found.problems) == 1


def test_expansion_on_the_keyword_side() -> None:
    found = parse_synonyms(FILE)
    assert found.expand("TV schedules") == "TV schedules television telly"
    assert found.expand("Televisions tonight") == "Televisions tonight tv telly"
    assert found.expand("trade with the United States") == "trade with the america"
    assert found.expand("usa trade") == "trade america"
    assert found.expand("nothing to see") == "nothing to see"


def test_a_missing_or_unreadable_file_is_no_rules(tmp_path: Path) -> None:
    assert read_synonyms(tmp_path / "absent.txt").rules == {}
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    found = read_synonyms(binary)
    assert found.rules == {} and found.problems[0].line == 0


def test_keyword_search_finds_through_a_synonym(news_index: Path, tmp_path: Path) -> None:
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("quay, harbour\n", encoding="utf-8")
    plain = SearchService(news_index, NEWS_EMBEDDER, {"min_score": 0.05})
    with_file = SearchService(
        news_index, NEWS_EMBEDDER, {"min_score": 0.05, "synonyms_file": str(synonyms)}
    )
    try:
        assert plain.search("quay", 5, mode="keyword").hits == []
        found = with_file.search("quay", 5, mode="keyword")
        # 12 harbour reports and the festival article hold "harbour": 5 asked for.
        assert len(found.hits) == 5
        assert all("harbour" in h.passage.text.lower() for h in found.hits)
    finally:
        plain.close()
        with_file.close()


def test_the_file_travels_with_new_versions(tmp_path: Path) -> None:
    out = tmp_path / "index"
    first = versions_dir(out) / "v1.partial"
    first.mkdir(parents=True)
    (first / "manifest.json").write_text("{}", encoding="utf-8")
    publish(first, out)
    (out / "synonyms.txt").write_text("tv, television\n", encoding="utf-8")
    second = versions_dir(out) / "v2.partial"
    second.mkdir()
    (second / "manifest.json").write_text("{}", encoding="utf-8")
    publish(second, out)
    assert resolve_index_dir(out).name == "v2"
    assert (out / "synonyms.txt").read_text(encoding="utf-8") == "tv, television\n"


def test_a_reload_reads_the_file_again(tmp_path: Path) -> None:
    from semsearch.index.build.builder import build_index
    from semsearch.web.served import ServedIndex
    from tests.support.corpus import write_jsonl

    write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "q0", "title": "Quay", "text": "The quay was rebuilt in stone."},
            {"id": "q1", "title": "Ferries", "text": "Ferries dock at the quay at dawn."},
            {"id": "q2", "title": "Gulls", "text": "Gulls nest on the old quay wall."},
        ],
    )
    build_index([tmp_path / "a.jsonl"], tmp_path / "idx", NEWS_EMBEDDER)
    settings = {"min_score": 0.05}
    first = SearchService(tmp_path / "idx", NEWS_EMBEDDER, settings)
    served = ServedIndex(tmp_path / "idx", settings, warm_up=False, service=first)
    try:
        assert first.search("wharf", 5, mode="keyword").hits == []
        (tmp_path / "idx" / "synonyms.txt").write_text("wharf => quay\n", encoding="utf-8")
        assert served.reload(force=True)
        assert served.service is not None and served.service is not first
        assert len(served.service.search("wharf", 5, mode="keyword").hits) == 3
    finally:
        first.close()
        if served.service is not None:
            served.service.close()
