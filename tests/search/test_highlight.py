"""Near-duplicate detection against its definition: Jaccard similarity of word 3-grams."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.search.highlight import NEAR_DUPLICATE, near_duplicate, shingle

WORDS = ["tide", "harbour", "ferry", "storm", "wall", "rock", "the", "of"]


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=40),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=40),
)
def test_near_duplicate_is_jaccard_of_shingles_at_the_threshold(
    first: list[str], second: list[str]
) -> None:
    a, b = shingle(" ".join(first)), shingle(" ".join(second))
    assert near_duplicate(a, b) == (jaccard(a, b) >= NEAR_DUPLICATE)


def test_a_copy_with_one_word_changed_is_a_near_duplicate() -> None:
    text = " ".join(f"word{i}" for i in range(60))
    changed = text.replace("word59", "other")  # 1 of 58 shingles differs: Jaccard 57/59
    assert near_duplicate(shingle(text), shingle(changed))
    half = " ".join(f"word{i}" for i in range(30)) + " " + " ".join(f"x{i}" for i in range(30))
    assert not near_duplicate(shingle(text), shingle(half))
    assert not near_duplicate(set(), shingle(text))


def test_the_threshold_itself_counts_as_a_duplicate() -> None:
    grams = [(f"w{i}", "x", "y") for i in range(5)]
    assert near_duplicate(set(grams[:4]), set(grams))  # Jaccard 4/5, exactly the threshold
    assert not near_duplicate(set(grams[:3]) | {("z", "z", "z")}, set(grams))  # 3/6
