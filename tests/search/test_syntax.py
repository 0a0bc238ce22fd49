"""The search box's syntax read by `parse_query`: operators, their canonical form, and
malformed syntax read as words (expectations written by hand from each query)."""

from __future__ import annotations

import pytest

from semsearch.errors import BadQueryError
from semsearch.search.syntax import (
    MAX_EXCLUSIONS,
    MAX_PHRASES,
    FieldScope,
    Term,
    check_limits,
    parse_query,
)


def test_plain_words_are_read_unchanged() -> None:
    parsed = parse_query("tidal power barrage")
    assert parsed.text == "tidal power barrage"
    assert parsed.words == ("tidal", "power", "barrage")
    assert parsed.understood_as == "tidal power barrage"
    assert not parsed.has_conditions


def test_phrase_exclusion_and_scope() -> None:
    parsed = parse_query('"tidal  power" -wind -"wave farm" title:Severn author:"Ann Lee"')
    assert parsed.phrases == ("tidal power",)
    assert parsed.excluded == (Term("wind"), Term("wave farm", quoted=True))
    assert parsed.fields == (
        FieldScope("title", Term("Severn")),
        FieldScope("author", Term("Ann Lee", quoted=True)),
    )
    # Searched: the phrase's words and the title's; not the exclusions nor the byline.
    assert parsed.text == "tidal power Severn"
    assert parsed.understood_as == '"tidal power" -wind -"wave farm" title:Severn author:"Ann Lee"'


@pytest.mark.parametrize(
    "query",
    [
        "Differentiated E2f-1, -2, -3 TKO cells",
        "brine freezes at -21.1 degrees",
        "gain of -3dB",
        "a drop of -1,000 points",
    ],
)
def test_a_minus_before_a_short_number_is_a_sign(query: str) -> None:
    parsed = parse_query(query)
    assert parsed.excluded == ()
    assert parsed.text == query
    assert not parsed.has_conditions


def test_a_year_or_a_word_can_still_be_excluded() -> None:
    assert parse_query("application -2019").excluded == (Term("2019"),)
    assert parse_query("tides -wind2").excluded == (Term("wind2"),)


def test_or_joins_neighbours_into_one_group() -> None:
    parsed = parse_query('tram OR "light rail" OR bus strike')
    assert parsed.any_of == ((Term("tram"), Term("light rail", quoted=True), Term("bus")),)
    assert parsed.words == ("strike",)
    assert parsed.text == "tram light rail bus strike"
    assert parsed.understood_as == '(tram OR "light rail" OR bus) strike'
    assert parsed.required_groups == parsed.any_of  # it holds a phrase


def test_or_of_words_alone_requires_nothing() -> None:
    parsed = parse_query("tram OR bus")
    assert parsed.any_of == ((Term("tram"), Term("bus")),)
    assert parsed.required_groups == ()
    assert not parsed.has_conditions


@pytest.mark.parametrize(
    ("query", "understood"),
    [
        ('"unbalanced quote', "unbalanced quote"),
        ('tidal "power', "tidal power"),
        ("tidal - power", "tidal power"),  # a lone -
        ("-", ""),
        ("foo:bar tides", "foo:bar tides"),  # unknown field: words
        ("title: tides", "title: tides"),  # a scope with no value
        ('title:"" tides', "title: tides"),
        ("OR tides", "or tides"),  # OR with nothing before it
        ("tides OR", "tides or"),
        ("tides OR OR power", "tides or or power"),
        ('""', ""),
        ("well-known tides", "well-known tides"),  # not an exclusion
        ("tides -", "tides"),
    ],
)
def test_malformed_syntax_is_read_as_words(query: str, understood: str) -> None:
    parsed = parse_query(query)
    assert parsed.text == query  # no operator: searched exactly as typed
    assert parsed.understood_as == understood
    assert not parsed.phrases and not parsed.excluded and not parsed.fields


def test_a_long_query_is_plain_text() -> None:
    # A pasted paragraph of 65 words: its quotation marks and dashes are punctuation.
    query = 'He said "the harbour is closed" -again ' + " ".join(["word"] * 58)
    parsed = parse_query(query)
    assert not parsed.has_conditions
    assert parsed.text == parsed.understood_as == query
    short = parse_query('He said "the harbour is closed" -again ' + " ".join(["word"] * 57))
    assert short.phrases == ("the harbour is closed",)


def test_field_names_ignore_case_and_negate() -> None:
    parsed = parse_query("TITLE:harbour -Publication:Gazette tides")
    assert parsed.fields == (
        FieldScope("title", Term("harbour")),
        FieldScope("publication", Term("Gazette"), negated=True),
    )
    assert parsed.understood_as == "title:harbour -publication:Gazette tides"


def test_a_scope_on_a_name_alone_searches_the_name() -> None:
    assert parse_query("author:Lee").text == "Lee"


def test_only_exclusions_is_refused() -> None:
    with pytest.raises(BadQueryError, match="nothing to search for"):
        check_limits(parse_query("-tides -harbour"))


def test_limits_on_operators() -> None:
    check_limits(parse_query(" ".join(f'"w{i} x"' for i in range(MAX_PHRASES))))
    with pytest.raises(BadQueryError, match=f"17 quoted phrases; the limit is {MAX_PHRASES}"):
        check_limits(parse_query(" ".join(f'"w{i} x"' for i in range(MAX_PHRASES + 1))))
    with pytest.raises(BadQueryError, match=f"40 exclusions .* the limit is {MAX_EXCLUSIONS}"):
        check_limits(parse_query("tides " + " ".join(f"-w{i}" for i in range(40))))
    with pytest.raises(BadQueryError, match="17 terms joined by OR; the limit is 16"):
        check_limits(parse_query(" OR ".join(f"w{i}" for i in range(17))))
    with pytest.raises(BadQueryError, match="9 field scopes"):
        check_limits(parse_query(" ".join(f"title:w{i}" for i in range(9))))


def test_operators_in_every_position() -> None:
    parsed = parse_query('-a OR "b c" -title:d OR e:f "g')
    # -a is an exclusion (OR next to it is the word "or"); "b c" is a phrase;
    # -title:d excluded scope; OR then e:f joins nothing before it (a scope), so "or";
    # e:f an unknown field read as a word; the lone quote dropped before g.
    assert parsed.excluded == (Term("a"),)
    assert parsed.phrases == ("b c",)
    assert parsed.fields == (FieldScope("title", Term("d"), negated=True),)
    assert parsed.understood_as == '-a or "b c" -title:d or e:f g'
