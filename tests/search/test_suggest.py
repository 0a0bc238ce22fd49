"""Search suggestions: titles and the phrases that recur across them, by prefix."""

from __future__ import annotations

import numpy as np

from semsearch.index.storage.suggestions import build_suggestions
from semsearch.search.suggest import MAX_SUGGESTION_CHARS, Suggester, Suggestion

TITLES = [
    "Harbour dredging begins",
    "Harbour dredging ends",
    "Harbour dredging resumes after storm",
    "Harbour festival",
    "Harbour festival",  # the same title twice: one entry of weight 2
    "Hárbour café opens",  # accents fold: found by "harbour"
    "The harbour master retires",
    "Gardens in March",
    "",
]


def test_titles_and_recurring_phrases_by_prefix() -> None:
    found = Suggester(TITLES).suggest("harbour", 10)
    assert found[0] == Suggestion("Harbour dredging", "phrase", 3)  # in three titles
    assert found[1] == Suggestion("Harbour festival", "title", 2)
    # Then the titles of weight 1, shortest first.
    assert [s.text for s in found[2:]] == [
        "Hárbour café opens",
        "Harbour dredging ends",
        "Harbour dredging begins",
        "Harbour dredging resumes after storm",
    ]


def test_prefix_is_folded_and_spaces_collapsed() -> None:
    suggester = Suggester(TITLES)
    assert [s.text for s in suggester.suggest("  HARBOUR   DREDGING  e", 5)] == [
        "Harbour dredging ends"
    ]
    assert [s.text for s in suggester.suggest("harbour ca", 5)] == ["Hárbour café opens"]


def test_a_phrase_must_recur_and_start_and_end_with_a_content_word() -> None:
    suggester = Suggester(TITLES)
    assert suggester.suggest("dredging begins", 5) == []  # in one title only
    assert [s.text for s in suggester.suggest("the", 5)] == ["The harbour master retires"]


def test_one_character_and_no_match() -> None:
    suggester = Suggester(TITLES)
    assert [s.text for s in suggester.suggest("g", 5)] == ["Gardens in March"]
    assert suggester.suggest("zz", 5) == []
    assert suggester.suggest("", 5) == []
    assert len(suggester.suggest("h", 3)) == 3


def test_long_titles_are_cut_at_a_word() -> None:
    title = "word " * 60
    (found,) = Suggester([title]).suggest("word", 1)
    assert len(found.text) <= MAX_SUGGESTION_CHARS and found.text.endswith("word")


def test_several_tables_add_the_same_entrys_weights() -> None:
    """A live index's tables, one a segment: an entry in two tables weighs the sum; one
    only deleted titles held (weight 0 once they are taken off) is not offered."""
    first = build_suggestions(["Harbour festival", "Harbour festival", "Harbour lights"])
    second = build_suggestions(["Harbour festival", "Harbour dredging"])
    # second's weights with "Harbour dredging" taken off (its only article deleted)
    keys = [second.key(n) for n in range(second.size)]
    deleted = np.asarray(second.weights).copy()
    deleted[keys.index(b"harbour dredging")] = 0
    suggester = Suggester(parts=[(first, first.weights), (second, deleted)])
    assert suggester.suggest("harbour", 5) == [
        Suggestion("Harbour festival", "title", 3),  # 2 + 1
        Suggestion("Harbour lights", "title", 1),
    ]
