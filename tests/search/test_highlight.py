"""Near-duplicate detection against its definition: Jaccard similarity of word 3-grams."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.index.text.analysis import SURFACE_WORD, highlight_terms, light_stem
from semsearch.search import highlight
from semsearch.search.highlight import NEAR_DUPLICATE, NearDuplicates, near_duplicate, shingle

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


def kept_pairwise(passages: list[set]) -> list[int]:
    """The reference: each passage checked against every one kept before it."""
    kept: list[int] = []
    for i, words in enumerate(passages):
        if not any(near_duplicate(words, passages[j]) for j in kept):
            kept.append(i)
    return kept


VOCABULARY = [f"v{i}" for i in range(30)]
#: Edits of one passage: (position, new word) pairs.
EDITS = st.lists(st.tuples(st.integers(0, 59), st.sampled_from(VOCABULARY)), max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=60),
    st.lists(
        st.one_of(
            EDITS,
            st.lists(st.sampled_from(VOCABULARY), max_size=30),
            st.tuples(st.integers(0, 60), st.lists(st.sampled_from(VOCABULARY), max_size=12)),
        ),
        max_size=30,
    ),
)
def test_near_duplicates_keeps_what_the_pairwise_check_keeps(
    base: list[str], variants: list
) -> None:
    """Passages that are edits of one text, its start with other words after it (Jaccard
    near the threshold either way) and passages of their own."""
    texts = []
    for variant in variants:
        if isinstance(variant, tuple):
            cut, extra = variant
            texts.append(" ".join(base[:cut] + extra))
            continue
        if variant and isinstance(variant[0], str):
            texts.append(" ".join(variant))  # a passage of its own
            continue
        words = list(base)
        for position, word in variant:
            words[position % len(words)] = word
        texts.append(" ".join(words))
    passages = [shingle(text) for text in texts]
    for indexed_after in (0, 3, highlight.INDEXED_AFTER):  # indexed at once, soon, late
        seen = NearDuplicates(indexed_after)
        kept = [i for i, words in enumerate(passages) if seen.add_if_new(words)]
        assert kept == kept_pairwise(passages)
        assert len(seen) == len(kept)


def test_near_duplicates_finds_a_copy_whose_new_shingles_are_a_fifth() -> None:
    """43 words (41 shingles), then the same with 9 words more: 41 of 50 shingles shared,
    Jaccard 0.82; 9 of the copy's shingles are in no kept passage."""
    original = [f"w{i}" for i in range(43)]
    longer = original + [f"x{i}" for i in range(9)]
    seen = NearDuplicates()
    assert seen.add_if_new(shingle(" ".join(original)))
    assert not seen.add_if_new(shingle(" ".join(longer)))


def test_near_duplicates_checks_few_pairs(monkeypatch) -> None:
    """1,000 different passages that share a sentence: the pairwise loop made 499,500
    exact checks; the index checks only the passages that share a shingle of their prefix."""
    calls = []

    def counted(a: set, b: set) -> bool:
        calls.append(1)
        return near_duplicate(a, b)

    monkeypatch.setattr(highlight, "near_duplicate", counted)
    shared = "the government said in a statement on monday that"
    seen = NearDuplicates()
    for i in range(1000):
        own = " ".join(f"w{i}x{j}" for j in range(40))  # words no other passage has
        assert seen.add_if_new(shingle(f"{shared} {own}"))
    assert len(calls) < 1000 * 999 // 2 // 20
    # and a copy of one of them is still found
    assert not seen.add_if_new(shingle(f"{shared} " + " ".join(f"w7x{j}" for j in range(40))))


def _every_word(text: str, query: str) -> list[tuple[int, int]]:
    """The spans checking every surface word of `text` gives: what find_highlights promises."""
    terms = highlight_terms(query, "en")
    return [m.span() for m in SURFACE_WORD.finditer(text) if light_stem(m.group()) in terms]


def test_find_highlights_marks_words_by_their_light_stem() -> None:
    text = "Bridges were repaired; the bridge deck (BRIDGE) and a footbridge were not."
    spans = highlight.find_highlights(text, "bridge repairs")
    assert [text[a:b] for a, b in spans] == ["Bridges", "repaired", "bridge", "BRIDGE"]
    # "don't" holds no word "t", and "’" is an apostrophe like "'".
    assert highlight.find_highlights("don’t stop", "don’t") == [(0, 5)]
    assert highlight.find_highlights("I don't", "t cells") == []


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="abcde '’_-.1É", max_size=60),
    st.text(alphabet="abcde '’É", min_size=1, max_size=14),
)
def test_find_highlights_is_checking_every_word(text: str, query: str) -> None:
    assert highlight.find_highlights(text, query) == _every_word(text, query)
