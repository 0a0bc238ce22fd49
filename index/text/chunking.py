"""Sentence-aware passages bounded by the embedding model's own tokenizer.

all-MiniLM-L6-v2 silently truncates at 256 word pieces, so a passage that is too long would
lose its end. The chunker counts word pieces with the model's tokenizer and guarantees that
title + passage + the two special tokens fit the model's window. Sentences are packed whole;
a sentence longer than the budget is cut at word-piece boundaries. Each chunk keeps its
character offsets in the article's clean text: `text[start:end]` is the passage.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import blingfire

#: (start, end) character offsets of each word piece of a text, special tokens excluded.
TokenOffsets = Callable[[str], list[tuple[int, int]]]

#: Separator between the title and the passage in the text that is embedded.
TITLE_SEPARATOR = "\n"


@dataclass(frozen=True)
class Chunk:
    """One passage of an article: its position in the clean text, its word-piece count, and
    its sentences as (start, end) offsets in the passage (a cut long sentence: its pieces)."""

    ordinal: int
    start: int
    end: int
    text: str
    tokens: int
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans: paragraphs (blank-line separated) first, then blingfire within each."""
    spans: list[tuple[int, int]] = []
    position = 0
    for paragraph in text.split("\n\n"):
        offset = position
        position += len(paragraph) + 2
        if not paragraph.strip():
            continue
        _, sentence_spans = blingfire.text_to_sentences_and_offsets(paragraph)
        # Sentences tile the paragraph: anything blingfire's spans leave out (control
        # characters, stray symbols) stays attached to a neighbour instead of being lost.
        ends = [end for _, end in sentence_spans[:-1]] + [len(paragraph)]
        covered = 0
        for end in ends:
            if end > covered:
                for start, stop in _spaced_sentences(paragraph, covered, end):
                    spans.append((offset + start, offset + stop))
                covered = end
    return [_strip_span(text, s, e) for s, e in spans if text[s:e].strip()]


#: A space between two Thai or Lao letters: where those scripts end a sentence or clause
#: (they write no spaces between words and rarely a full stop, so blingfire sees one
#: sentence a paragraph, and a best sentence would be the whole passage).
_SPACED_SCRIPT_BREAK = re.compile(
    r"(?<=[\u0e01-\u0e4e\u0e81-\u0edf])\s+(?=[\u0e01-\u0e4e\u0e81-\u0edf])"
)


def _spaced_sentences(paragraph: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span [start, end) of `paragraph`, cut after each space between Thai or Lao
    letters (the spans still tile it)."""
    cuts = [m.end() for m in _SPACED_SCRIPT_BREAK.finditer(paragraph, start, end)]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _piece_span(
    start: int, end: int, offsets: list[tuple[int, int]], piece: int, stop: int
) -> tuple[int, int]:
    """Character span of word pieces [piece, stop) of the sentence text[start:end]; a piece
    runs up to where the next one begins, and the last one to the sentence's end."""
    piece_start = start + (0 if piece == 0 else offsets[piece][0])
    piece_end = start + offsets[stop][0] if stop < len(offsets) else end
    return piece_start, piece_end


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class Chunker:
    """Cuts clean article text into passages that fit the model window with the title."""

    def __init__(
        self,
        token_offsets: TokenOffsets,
        max_seq_tokens: int,
        chunk_tokens: int = 200,
        overlap_tokens: int = 32,
        min_chunk_tokens: int = 24,
        title_tokens: int = 32,
    ) -> None:
        if max_seq_tokens < 8:
            raise ValueError(f"max_seq_tokens must be at least 8, got {max_seq_tokens}")
        self.token_offsets = token_offsets
        # [CLS] and [SEP] take two places in the model's window.
        self.window = max_seq_tokens - 2
        self.title_tokens = max(0, min(title_tokens, self.window // 4))
        self.chunk_tokens = max(4, min(chunk_tokens, self.window - self.title_tokens - 1))
        self.overlap_tokens = max(0, min(overlap_tokens, self.chunk_tokens // 2))
        self.min_chunk_tokens = max(0, min(min_chunk_tokens, self.chunk_tokens // 2))

    def settings(self) -> dict[str, int]:
        """The effective settings, recorded in the manifest."""
        return {
            "window_tokens": self.window,
            "chunk_tokens": self.chunk_tokens,
            "overlap_tokens": self.overlap_tokens,
            "min_chunk_tokens": self.min_chunk_tokens,
            "title_tokens": self.title_tokens,
        }

    def short_title(self, title: str) -> str:
        """The title cut to `title_tokens` word pieces, as it is embedded."""
        offsets = self.token_offsets(title)
        if len(offsets) <= self.title_tokens:
            return title.strip()
        if self.title_tokens == 0:
            return ""
        return title[: offsets[self.title_tokens - 1][1]].strip()

    def embedding_text(self, title: str, passage: str) -> str:
        """What is embedded for a passage: the (short) title, then the passage."""
        short = self.short_title(title)
        return f"{short}{TITLE_SEPARATOR}{passage}" if short else passage

    def chunk(self, text: str) -> list[Chunk]:
        """Passages of `text`, in order, overlapping by whole trailing sentences."""
        units = self._units(text)
        if not units:
            return []
        budget = self.chunk_tokens
        spans: list[tuple[int, int]] = []  # (first unit, last unit exclusive)
        i = 0
        while i < len(units):
            first, total = i, 0
            while i < len(units) and total + units[i].tokens <= budget:
                total += units[i].tokens
                i += 1
            # Counted whole, joined pieces of a cut word can differ from the sum of their
            # parts: recount, and give back trailing units until the passage fits.
            while i - first > 1 and self._count(text, units, first, i) > budget:
                i -= 1
            spans.append((first, i))
            if i >= len(units):
                break
            # Step back over whole trailing sentences for the overlap, always moving forward.
            back, overlap = i, 0
            while back - 1 > first and overlap + units[back - 1].tokens <= self.overlap_tokens:
                back -= 1
                overlap += units[back].tokens
            i = back
        if len(spans) > 1 and self._count(text, units, *spans[-1]) < self.min_chunk_tokens:
            merged = (spans[-2][0], spans[-1][1])
            if self._count(text, units, *merged) <= budget:
                spans[-2:] = [merged]
        chunks = []
        for ordinal, (first, end) in enumerate(spans):
            start, stop = units[first].start, units[end - 1].end
            sentences = tuple((u.start - start, u.end - start) for u in units[first:end])
            chunks.append(
                Chunk(
                    ordinal,
                    start,
                    stop,
                    text[start:stop],
                    self._count(text, units, first, end),
                    sentences,
                )
            )
        return chunks

    def _count(self, text: str, units: list[_Unit], first: int, end: int) -> int:
        """Word pieces of the passage made of units[first:end]."""
        return len(self.token_offsets(text[units[first].start : units[end - 1].end]))

    def _piece_end(
        self, text: str, start: int, end: int, offsets: list[tuple[int, int]], piece: int
    ) -> int:
        """Where a piece of an over-long sentence that begins at word piece `piece` ends.

        It holds at most `chunk_tokens` word pieces, cut where a new word starts when it can;
        a cut inside a word re-tokenises differently ("##ing" becomes "ing"), so the piece
        is counted again and shortened until it fits."""
        budget = self.chunk_tokens
        stop = min(piece + budget, len(offsets))
        cut = stop
        while stop < len(offsets) and cut > piece + 1 and offsets[cut][0] == offsets[cut - 1][1]:
            cut -= 1
        if stop < len(offsets) and cut > piece + 1:
            stop = cut
        while stop - piece > 1:
            piece_start, piece_end = _piece_span(start, end, offsets, piece, stop)
            if len(self.token_offsets(text[piece_start:piece_end])) <= budget:
                break
            stop -= 1
        return stop

    def _units(self, text: str) -> list[_Unit]:
        """Sentences with their word-piece counts; over-long sentences cut into pieces."""
        units: list[_Unit] = []
        budget = self.chunk_tokens
        for start, end in split_sentences(text):
            offsets = self.token_offsets(text[start:end])
            if not offsets:
                continue
            if len(offsets) <= budget:
                units.append(_Unit(start, end, len(offsets)))
                continue
            piece = 0
            while piece < len(offsets):
                stop = self._piece_end(text, start, end, offsets, piece)
                piece_start, piece_end = _strip_span(
                    text, *_piece_span(start, end, offsets, piece, stop)
                )
                tokens = len(self.token_offsets(text[piece_start:piece_end]))
                units.append(_Unit(piece_start, piece_end, tokens))
                piece = stop
        return units
