"""Did you mean: corrections towards frequent words of the index, offered always, answered
for only when the query as typed finds nothing, and said so."""

from __future__ import annotations

from typing import cast

import pytest

from semsearch.search.query import validate_query
from semsearch.search.results import Hit, SearchResult, Spelling
from semsearch.search.service import SearchService
from semsearch.search.spelling import TYPO_GAIN, Speller, edit_distance, typo_gain, with_spelling

#: Stems and how many passages hold them, as a keyword index would list them.
WORDS = {
    "climat": 50,
    "govern": 90,
    "electr": 40,
    "receiv": 30,
    "tunnel": 80,
    "bridg": 70,
    "bride": 3,
    "harbour": 5,
    "cost": 100,
}


@pytest.mark.parametrize(
    ("typed", "corrected"),
    [
        ("clmate change", "climate change"),  # a letter left out
        ("goverment", "government"),
        ("electrcity prices", "electricity prices"),
        ("recieve", "receive"),  # a transposition
        ("tunel repairs", "tunnel repairs"),
        ("Brigde cost", "Bridge cost"),  # the case typed is kept
        ("habour", "harbour"),
        ("hharbourr", "harbour"),  # two letters too many
        ("-tunel", "-tunnel"),  # what is around a word stays
    ],
)
def test_corrections(typed: str, corrected: str) -> None:
    assert Speller(WORDS).correct(typed) == corrected


@pytest.mark.parametrize(
    "typed",
    [
        "cost bridge",  # known words
        "xqzt",  # nothing close
        "ab",  # too short to correct
        "2019",  # numbers are left alone
        "the of",  # stop words
        "harbourmaster",  # too far from anything
        "TUNEL",  # an acronym (capitals past the first letter)
        "TuNel",
        "Tunel3",  # a code with a digit
        "tunel-2",
        "habour's",  # a piece of a word with an apostrophe inside
        "l'habour",
    ],
)
def test_no_correction(typed: str) -> None:
    assert Speller(WORDS).correct(typed) is None


class _Holds:
    """A backend stand-in whose passages hold every word (coverage 1.0)."""

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        return 1.0


def test_a_rare_word_some_passage_holds_needs_a_much_more_frequent_correction() -> None:
    speller = Speller(WORDS, _Holds())  # type: ignore[arg-type]
    # Every typed word is held somewhere: a correction needs 60 passages or more.
    assert speller.correct("tunnek") == "tunnel"  # 80 passages
    assert speller.correct("harbor") is None  # "harbour" has 5 passages, fewer than 60


def test_a_correction_is_a_word_some_passage_spells() -> None:
    speller = Speller(WORDS)
    assert speller.correct("goverment") == "government"
    # Where the index can tell which surface words its passages hold, a correction that
    # analyses to a frequent stem but that no passage writes is not offered.
    speller.surface_held = lambda word: word in {"governs", "governed"}
    assert speller.correct("goverment") is None
    speller.surface_held = lambda word: word == "government"
    assert speller.correct("goverment") == "government"


def test_a_correction_is_as_close_to_the_typed_word_as_to_its_stem() -> None:
    # "condolences" stems to "condol", one letter from the frequent "condom": the words
    # themselves are five edits apart, so nothing is offered.
    speller = Speller({"condom": 50})
    speller.surface_held = lambda word: word == "condom"  # as a word index would say
    assert speller.correct("condolences") is None
    assert speller.correct("condon") == "condom"


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("recieve", "receive", 2) == 1
    assert edit_distance("abc", "abcdefg", 2) == 3  # past the limit: limit + 1


def test_a_suggestion_is_offered_when_the_query_finds_something(news: SearchService) -> None:
    result = news.search("habour dredging", 5, mode="keyword")
    assert result.hits  # "dredging" is in every harbour report
    if news.backend.kind == "engine":
        assert result.spelling is None  # the engine does not list its words
        return
    assert result.spelling == Spelling("habour dredging", "harbour dredging", applied=False)
    assert result.query == "habour dredging"


def test_the_correction_is_answered_when_the_query_finds_nothing(news: SearchService) -> None:
    result = news.search("habour", 5, mode="keyword")
    if news.backend.kind == "engine":
        assert result.hits == [] and result.spelling is None
        return
    assert result.spelling == Spelling("habour", "harbour", applied=True)
    assert result.query == "harbour"
    assert len(result.hits) == 5
    assert all("harbour" in hit.passage.text.lower() for hit in result.hits)


def test_spell_false_answers_the_query_as_typed(news: SearchService) -> None:
    result = news.search(validate_query({"q": "habour", "k": 5, "mode": "keyword", "spell": "0"}))
    assert result.hits == []
    if news.backend.kind != "engine":
        assert result.spelling == Spelling("habour", "harbour", applied=False)


def test_nothing_close_leaves_the_answer_alone(news: SearchService) -> None:
    result = news.search("qqqqzzzz", 5, mode="keyword")
    assert result.hits == [] and result.spelling is None
    assert result.reason == "no passage contains any of the query's words"


def _answer(query: str, closest: float | None, found: bool) -> SearchResult:
    hits = [cast(Hit, object())] if found else []
    return SearchResult(query, 10, 1.0, hits, "v1", 100, closest=closest)


@pytest.mark.parametrize(
    ("typed_closest", "corrected_closest", "applied"),
    [
        (0.257, 0.436, True),  # "Aterioles": the typo was why nothing was close
        (0.249, 0.303, False),  # an off-topic question's words "corrected" into the index's
        (None, None, True),  # keyword mode: no passage held any word as typed
    ],
)
def test_a_refused_query_is_answered_for_its_correction_only_when_it_comes_closer(
    typed_closest: float | None, corrected_closest: float | None, applied: bool
) -> None:
    speller = Speller(WORDS)
    typed = _answer("tunel repairs", typed_closest, found=False)
    result = with_spelling(speller, typed, lambda text: _answer(text, corrected_closest, True))
    assert result.spelling is not None and result.spelling.applied is applied
    assert result.query == ("tunnel repairs" if applied else "tunel repairs")


def test_typo_gain_is_a_third_of_the_calibrated_gap() -> None:
    no_match = {"on_topic": {"median": 0.55}, "off_topic": {"median": 0.25}}
    assert typo_gain(no_match) == pytest.approx(0.1)
    assert typo_gain(None) == TYPO_GAIN
