"""The word index of an index version: where each surface word occurs, passage and position,
in the passages' text and in their articles' titles, so that the search box's phrases,
exclusions and `title:` scopes (`semsearch.search.constraints`) are answered from postings
instead of a scan of the store.

Why a positional index of its own, not the BM25 index: BM25's words are folded, stemmed
with Snowball and without stop words, so they cannot say that a passage holds "of the", nor
that "bad" is not "bade" (a phrase compares words as the highlighter does, `analysis.
highlight_stem`: "bade" and "bad" are one word there, two terms in BM25). Here a word is a
surface word (`analysis.surface_words`) keyed as the highlighter reads it before its stem
(lower case, ’ as '). A query word is looked up as the keys that have its stem: in English
the stem with each suffix the light stem takes off (`analysis.light_stem_forms`, at most
eleven keys), in a language without a stemmer the word itself; in a language with a
Snowball stemmer the words sharing a stem need not share a beginning (German "Häuser" and
"Haus"), so the index cannot list them and says so (`look_up` gives None: the caller
scans). Positions make a phrase a merge of its words' occurrences, as Lucene's
`ExactPhraseMatcher` and tantivy's `PhraseScorer` do: no passage is read to check it.

The lists are fixed-width arrays, not varints, so that a phrase reads only what it needs:
the passages holding its rarest word are looked up in each other word's list by binary
search, and only those passages' positions are read. A phrase's cost is bounded by its
rarest word's passages times its words (`phrase_work`), whatever the other words' counts.

A run of a script written without spaces (Han, kana, Hangul, Thai) is keyed by its
characters and character bigrams too (a `SEGMENT_MARK` before them), passage level only: a
phrase in such a script is a substring, and these keys only narrow the passages to check.

Layout of `words/` (numpy `.npy` and raw UTF-8), for each field F in FIELDS:

    F.keys.bin, F.keys.offsets.npy
                  the keys, sorted (UTF-8 order is code point order), as
                  `index.storage.suggestions` stores its keys, and where each begins
    F.passages.npy, F.passages.offsets.npy
                  each key's passages (uint32 chunk ids, ascending), one list after the
                  other, and where each key's list begins (int64, one more than the keys)
    F.positions.npy, F.positions.offsets.npy
                  the key's positions (surface word numbers, uint16 or uint32) in each of
                  those passages, and where each (key, passage) entry's positions begin
                  (uint32, or uint64 past four billion occurrences; one more than the
                  entries)

A title's words are keyed for every passage of its article. Sizes and build times:
docs/benchmarks.md, "Query syntax filters".
"""

from __future__ import annotations

import bisect
import contextlib
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from semsearch.index.storage.store import StoreReader
from semsearch.index.text.analysis import (
    ENGLISH,
    SURFACE_WORD,
    analysed_language,
    analyzer_for,
    highlight_stem,
    is_segmented,
    light_stem_forms,
)

FIELDS = ("text", "title")
#: Starts the key of a character or bigram of a script written without spaces (no word does).
SEGMENT_MARK = "\x00"
#: A position's share of an occurrence's code (chunk id << POSITION_BITS | position).
POSITION_BITS = 24

IntArray = npt.NDArray[np.int64]


def word_key(word: str) -> str:
    """A surface word as the highlighter reads it before taking its stem."""
    return word.lower().replace("’", "'")


def segment_keys(text: str) -> list[str]:
    """The keys of the characters of a script written without spaces in `text` case folded,
    and of the bigrams of two such characters side by side (each once)."""
    folded = text.casefold()
    marked = [is_segmented(c) for c in folded]
    grams = {c for c, m in zip(folded, marked, strict=True) if m}
    grams.update(folded[i : i + 2] for i in range(len(folded) - 1) if marked[i] and marked[i + 1])
    return [SEGMENT_MARK + gram for gram in sorted(grams)]


# --- writing -----------------------------------------------------------------------------


class _FieldWriter:
    """The occurrences of one field, gathered passage by passage in chunk id order."""

    def __init__(self) -> None:
        self.key_of: dict[str, int] = {}  # surface word as written -> key id
        self.key_id: dict[str, int] = {}  # key -> key id
        self.keys: array[int] = array("I")  # key id of each occurrence
        self.positions: array[int] = array("I")
        self.counts: array[int] = array("I")  # occurrences of each passage
        self.chunk_ids: array[int] = array("q")

    def _id(self, key: str) -> int:
        found = self.key_id.get(key)
        if found is None:
            found = self.key_id[key] = len(self.key_id)
        return found

    def words(self, text: str) -> tuple[list[int], list[int]]:
        """The key ids of `text`'s occurrences and their positions."""
        key_of = self.key_of
        ids: list[int] = []
        for word in SURFACE_WORD.findall(text):
            found = key_of.get(word)
            if found is None:
                found = key_of[word] = self._id(word_key(word))
            ids.append(found)
        positions = list(range(len(ids)))
        # Half the bits: a phrase's start plus its length stays inside the passage's codes.
        if len(ids) >= 1 << (POSITION_BITS - 1):
            raise ValueError(f"a passage of {len(ids)} words: at most {1 << (POSITION_BITS - 1)}")
        if is_segmented(text):
            grams = [self._id(k) for k in segment_keys(text)]
            ids.extend(grams)
            positions.extend([0] * len(grams))
        return ids, positions

    def add(self, chunk_id: int, words: tuple[list[int], list[int]]) -> None:
        if chunk_id >= 1 << 32:
            raise ValueError(f"chunk id {chunk_id}: the word index holds ids below 2**32")
        ids, positions = words
        self.keys.extend(ids)
        self.positions.extend(positions)
        self.counts.append(len(ids))
        self.chunk_ids.append(chunk_id)

    def write(self, folder: Path, field: str) -> None:
        keys = sorted(self.key_id)
        rank = np.empty(len(keys), dtype=np.int64)  # key id -> its place in sorted order
        rank[[self.key_id[k] for k in keys]] = np.arange(len(keys))
        _write_texts(folder, f"{field}.keys", keys)
        key_ranks = rank[np.frombuffer(self.keys, dtype=np.uint32)] if keys else rank[:0]
        del self.keys
        # Stable: each key's occurrences stay in passage order, then position order.
        order = np.argsort(key_ranks, kind="stable")
        ranks = key_ranks[order]
        del key_ranks
        counts = np.frombuffer(self.counts, dtype=np.uint32)
        chunk_ids = np.frombuffer(self.chunk_ids, dtype=np.int64)
        chunks = np.repeat(chunk_ids, counts)[order]
        positions = np.frombuffer(self.positions, dtype=np.uint32)[order]
        del order
        total = len(ranks)
        # A (key, passage) entry starts where the key or the passage changes.
        starts = np.ones(total, dtype=bool)
        if total:
            starts[1:] = (ranks[1:] != ranks[:-1]) | (chunks[1:] != chunks[:-1])
        entry_at = np.flatnonzero(starts)
        del starts
        passage_offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ranks[entry_at], minlength=len(keys)), out=passage_offsets[1:])
        np.save(folder / f"{field}.passages.npy", chunks[entry_at].astype(np.uint32))
        np.save(folder / f"{field}.passages.offsets.npy", passage_offsets)
        most = int(positions.max()) if total else 0
        np.save(folder / f"{field}.positions.npy", positions.astype(_width(most)))
        offsets = np.append(entry_at, total)
        np.save(folder / f"{field}.positions.offsets.npy", offsets.astype(_width(total)))


def _width(most: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest of uint16, uint32 and uint64 that holds `most`."""
    for width in (np.uint16, np.uint32):
        if most <= np.iinfo(width).max:
            return width
    return np.uint64


def write_word_index(store: Path, folder: Path) -> None:
    """The word index of every stored passage and its article's title, into `folder`."""
    fields = {field: _FieldWriter() for field in FIELDS}
    reader = StoreReader(store)
    with contextlib.closing(reader.connect()) as db:
        title_of: tuple[str, tuple[list[int], list[int]]] | None = None
        for chunk in reader.iter_chunks(db):
            fields["text"].add(chunk.chunk_id, fields["text"].words(chunk.text))
            if title_of is None or title_of[0] != chunk.article["id"]:
                title_of = (chunk.article["id"], fields["title"].words(chunk.article["title"]))
            fields["title"].add(chunk.chunk_id, title_of[1])
    folder.mkdir(parents=True, exist_ok=True)
    for field, writer in fields.items():
        writer.write(folder, field)


def _write_texts(folder: Path, name: str, texts: list[str]) -> None:
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    (folder / f"{name}.bin").write_bytes(b"".join(encoded))
    np.save(folder / f"{name}.offsets.npy", offsets)


# --- reading -----------------------------------------------------------------------------


class _Field:
    """One field's mapped files."""

    def __init__(self, folder: Path, field: str) -> None:
        self.keys = _mapped(folder / f"{field}.keys.bin")
        self.key_offsets = _load(folder / f"{field}.keys.offsets.npy")
        self.passages = _load(folder / f"{field}.passages.npy")
        self.passage_offsets = _load(folder / f"{field}.passages.offsets.npy")
        self.positions = _load(folder / f"{field}.positions.npy")
        self.position_offsets = _load(folder / f"{field}.positions.offsets.npy")
        self.size = len(self.key_offsets) - 1

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, n: int) -> str:
        return bytes(self.keys[self.key_offsets[n] : self.key_offsets[n + 1]]).decode()

    def find(self, key: str) -> int | None:
        """The number of `key`; None when no passage holds it."""
        n = bisect.bisect_left(self, key)
        return n if n < self.size and self[n] == key else None

    def count(self, key: int) -> int:
        """How many passages hold key number `key`."""
        return int(self.passage_offsets[key + 1] - self.passage_offsets[key])

    def passages_of(self, key: int) -> npt.NDArray[Any]:
        """The chunk ids of the passages that hold key number `key`, ascending (mapped)."""
        return self.passages[self.passage_offsets[key] : self.passage_offsets[key + 1]]

    def entries(self, key: int, chunk_ids: IntArray) -> tuple[npt.NDArray[np.bool_], IntArray]:
        """Which of `chunk_ids` (ascending) hold key number `key` (a mask), and the number
        of each one's (key, passage) entry: a binary search in the key's list each."""
        listed = self.passages_of(key)
        held = _members(chunk_ids, listed)
        at = np.searchsorted(listed, chunk_ids[held]).astype(np.int64)
        return held, at + int(self.passage_offsets[key])

    def occurrences(self, key: int, chunk_ids: IntArray) -> IntArray:
        """Each occurrence of key number `key` in the passages `chunk_ids` (ascending) as
        chunk id << POSITION_BITS | position; only those passages' positions are read."""
        held, entries = self.entries(key, chunk_ids)
        begins = self.position_offsets[entries].astype(np.int64)
        counts = self.position_offsets[entries + 1].astype(np.int64) - begins
        if not len(counts):
            return np.zeros(0, dtype=np.int64)
        # Each entry's positions, side by side: begin + 0, 1, ... count - 1.
        skip = np.repeat(begins - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        at = skip + np.arange(int(counts.sum()))
        codes: IntArray = (np.repeat(chunk_ids[held], counts) << POSITION_BITS) | self.positions[
            at
        ].astype(np.int64)
        return codes


class WordIndex:
    """A version's word index, memory-mapped; thread-safe (it only reads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fields = {field: _Field(folder, field) for field in FIELDS}

    def holds(self, field: str, word: str) -> bool:
        """Whether some passage (field "text") or title ("title") holds this surface word."""
        return self._fields[field].find(word_key(word)) is not None

    def look_up(self, field: str, words: list[str], language: str | None) -> list[list[int]] | None:
        """The key numbers of each of the surface words `words`: the keys of `field` with
        the word's `highlight_stem` in `language` (an empty list: no passage holds it); None
        when the index cannot list them (a language with a Snowball stemmer other than
        English: the caller scans)."""
        index = self._fields[field]
        language = analysed_language(language)
        if language == ENGLISH:

            def forms(word: str, stem: str) -> tuple[str, ...]:
                return light_stem_forms(stem)

        elif analyzer_for(language).algorithm is None:

            def forms(word: str, stem: str) -> tuple[str, ...]:
                return (word_key(word),)

        else:
            return None
        keys: list[list[int]] = []
        for word in words:
            stem = highlight_stem(word, language)
            found = (index.find(form) for form in dict.fromkeys(forms(word, stem)))
            keys.append(
                [n for n in found if n is not None and highlight_stem(index[n], language) == stem]
            )
        return keys

    def phrase_work(self, field: str, keys: list[list[int]]) -> int:
        """What `phrase_chunks` reads at most for a phrase of more than one word, in
        passages looked up: its rarest word's passages times its distinct words (0 for a
        single word, whose passages are the answer)."""
        if len(keys) < 2:
            return 0
        index = self._fields[field]
        rarest = min(sum(index.count(k) for k in ks) for ks in keys)
        return rarest * len({tuple(ks) for ks in keys})

    def phrase_chunks(
        self, field: str, keys: list[list[int]], check: Callable[[], None] | None = None
    ) -> frozenset[int]:
        """The chunk ids whose `field` holds the words `keys` (each word's key numbers, from
        `look_up`) side by side, in order: the rarest word's occurrences give the phrase's
        possible starts; each other word, rarest first, is looked up (a binary search in its
        list) only in the passages still holding one, and keeps the starts it follows."""
        index = self._fields[field]
        if not keys or any(not ks for ks in keys):
            return frozenset()
        counts = [sum(index.count(k) for k in ks) for ks in keys]
        rarest = int(np.argmin(counts))
        held = _union([np.asarray(index.passages_of(k), dtype=np.int64) for k in keys[rarest]])
        if len(keys) == 1:
            return frozenset(held.tolist())
        mask = (1 << POSITION_BITS) - 1
        starts: IntArray | None = None
        for ks in sorted({tuple(ks) for ks in keys}, key=lambda ks: counts[keys.index(list(ks))]):
            if check is not None:
                check()
            codes = _union([index.occurrences(k, held) for k in ks])
            for offset in (i for i, word in enumerate(keys) if tuple(word) == ks):
                if starts is None:
                    starts = codes[(codes & mask) >= offset] - offset
                else:
                    starts = starts[_members(starts + offset, codes)]
            assert starts is not None
            held = _distinct(starts >> POSITION_BITS)
            if len(held) == 0:
                return frozenset()
        return frozenset(held.tolist())

    def segment_candidates(self, field: str, folded: str) -> frozenset[int] | None:
        """The chunk ids whose `field` may hold `folded` (case folded) as a substring: those
        holding each of its characters and bigrams of a script written without spaces; None
        without one."""
        index = self._fields[field]
        found = [index.find(key) for key in segment_keys(folded)]
        if not found:
            return None
        if any(n is None for n in found):
            return frozenset()
        numbers = sorted((n for n in found if n is not None), key=index.count)
        held = np.asarray(index.passages_of(numbers[0]), dtype=np.int64)
        for n in numbers[1:]:
            held = held[index.entries(n, held)[0]]
        return frozenset(held.tolist())


def _members(values: IntArray, table: IntArray) -> npt.NDArray[np.bool_]:
    """Which of `values` are in `table` (ascending): a binary search each, no sort."""
    at = np.searchsorted(table, values)
    inside = at < len(table)
    found = np.zeros(len(values), dtype=bool)
    found[inside] = table[at[inside]] == values[inside]
    return found


def _union(ascending: list[IntArray]) -> IntArray:
    """The distinct values of ascending arrays, ascending (a sort, not numpy's hashing
    `unique`, several times slower on millions of codes)."""
    if len(ascending) == 1:
        return _distinct(ascending[0])
    return _distinct(np.sort(np.concatenate(ascending)))


def _distinct(ascending: IntArray) -> IntArray:
    """The distinct values of an ascending array."""
    if len(ascending) == 0:
        return ascending
    keep = np.ones(len(ascending), dtype=bool)
    keep[1:] = ascending[1:] != ascending[:-1]
    return ascending[keep]


def open_word_index(folder: Path) -> WordIndex | None:
    """The word index a build wrote in `folder`; None when there is none."""
    return WordIndex(folder) if (folder / f"{FIELDS[0]}.keys.bin").exists() else None


def _mapped(path: Path) -> npt.NDArray[np.uint8]:
    if path.stat().st_size == 0:  # numpy cannot map an empty file
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _load(path: Path) -> npt.NDArray[Any]:
    """A `.npy` file, memory-mapped (read in full when it is empty: numpy cannot map it)."""
    try:
        loaded: npt.NDArray[Any] = np.load(path, mmap_mode="r")
    except ValueError:
        loaded = np.load(path)
    return loaded
