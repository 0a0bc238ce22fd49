"""Chunker bounds, property-based: no chunk over the model window, offsets map back exactly."""

from __future__ import annotations

import itertools
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.index.embed import load_fast_tokenizer, resolve_model_path
from semsearch.index.text.chunking import Chunker, split_sentences
from semsearch.settings import DEFAULT_MODEL
from tests.support.fake_embedder import HashingEmbedder

WORDS = st.sampled_from(
    [
        "the",
        "bridge",
        "reopened",
        "after",
        "repairs",
        "costing",
        "$18.4",
        "million",
        ",",
        "engineers",
        "said",
        ".",
        "Dr.",
        "Smith’s",
        "café",
        "naïve",
        "unbelievably-long-hyphenated-word",
        "Supercalifragilisticexpialidocious",
        "2019-04-17",
        "https://example.org/a/b?c=d",
        "42%",
        "“quoted”",
        "—",
        "Ünïcödé",
        "東京",
        "emoji🙂",
        "\n\n",
    ]
)
TEXTS = st.lists(WORDS, min_size=0, max_size=600).map(" ".join)


@cache
def real_tokenizer():
    """The packaged model's own tokenizer, as the embedder loads it (no model weights)."""
    return load_fast_tokenizer(resolve_model_path(DEFAULT_MODEL))


def real_offsets(text: str) -> list[tuple[int, int]]:
    return [tuple(o) for o in real_tokenizer().encode(text, add_special_tokens=False).offsets]


def check_chunks(chunker: Chunker, text: str, title: str, count_tokens) -> None:
    chunks = chunker.chunk(text)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert count_tokens(chunk.text) <= chunker.chunk_tokens
        # The stored sentence spans tile the passage, in order.
        assert chunk.sentences and chunk.sentences[0][0] == 0
        assert chunk.sentences[-1][1] == len(chunk.text)
        assert all(s < e for s, e in chunk.sentences)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(chunk.sentences))
        embedded = chunker.embedding_text(title, chunk.text)
        assert count_tokens(embedded) + 2 <= chunker.window + 2  # + [CLS], [SEP]
    # Every non-space character of the text is inside some chunk: nothing is lost.
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, title=st.text(max_size=300), budget=st.integers(8, 300))
def test_chunks_fit_the_real_tokenizer_window(text: str, title: str, budget: int) -> None:
    chunker = Chunker(real_offsets, 256, chunk_tokens=budget, overlap_tokens=budget // 4)
    check_chunks(chunker, text, title, lambda t: len(real_offsets(t)))


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=2000), title=st.text(max_size=100))
def test_chunks_on_arbitrary_unicode(text: str, title: str) -> None:
    fake = HashingEmbedder(max_seq_tokens=32)
    chunker = Chunker(fake.token_offsets, fake.max_seq_tokens, chunk_tokens=20, overlap_tokens=5)
    check_chunks(chunker, text, title, lambda t: len(fake.token_offsets(t)))


def test_long_article_uses_the_whole_window_and_overlaps() -> None:
    sentence = "The harbour commission approved a new tidal turbine lease on Friday. "
    text = sentence * 80
    chunker = Chunker(real_offsets, 256, chunk_tokens=200, overlap_tokens=32)
    chunks = chunker.chunk(text)
    assert len(chunks) > 5
    assert all(150 <= c.tokens <= 200 for c in chunks[:-1])
    assert all(b.start < a.end for a, b in itertools.pairwise(chunks))  # overlap


def test_short_tail_merges_into_previous_chunk() -> None:
    fake = HashingEmbedder(max_seq_tokens=64)
    chunker = Chunker(
        fake.token_offsets,
        64,
        chunk_tokens=20,
        overlap_tokens=0,
        min_chunk_tokens=6,
        title_tokens=0,
    )
    text = "one two three four five six seven eight nine ten. eleven twelve. thirteen."
    chunks = chunker.chunk(text)
    assert len(chunks) == 1 and chunks[0].text == text


def test_sentences_follow_paragraphs() -> None:
    text = "First one. Second one.\n\nNew paragraph here"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "First one.",
        "Second one.",
        "New paragraph here",
    ]


def test_thai_sentences_end_at_a_space_between_thai_letters() -> None:
    # Written for this test: Bangkok is the capital / it has more than eight million people /
    # the BTS opened in 2542 (a space before a number or a Latin word does not cut).
    text = (
        "กรุงเทพมหานครเป็นเมืองหลวง มีประชากรมากกว่าแปดล้านคน รถไฟฟ้า BTS เปิดให้บริการในปี 2542\n\nย่อหน้าใหม่"
    )
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "กรุงเทพมหานครเป็นเมืองหลวง",
        "มีประชากรมากกว่าแปดล้านคน",
        "รถไฟฟ้า BTS เปิดให้บริการในปี 2542",
        "ย่อหน้าใหม่",
    ]


LONG_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzQXZ0123456789", min_size=20, max_size=99)


@settings(max_examples=100, deadline=None)
@given(words=st.lists(LONG_WORDS, min_size=1, max_size=60), budget=st.integers(4, 40))
def test_words_longer_than_the_budget_are_cut_to_fit(words: list[str], budget: int) -> None:
    """No space to cut at: pieces end inside words and must still fit once re-tokenised."""
    text = " ".join(words) + " " + "".join(words)
    chunker = Chunker(real_offsets, 256, chunk_tokens=budget, overlap_tokens=budget // 3)
    check_chunks(chunker, text, "", lambda t: len(real_offsets(t)))
