"""The suggestion table of an index version: every distinct title and every phrase of two or
three words that recurs across titles, sorted by folded text, written by the build beside
the store (`suggest/`) and memory-mapped when served (`semsearch.search.suggest` looks
prefixes up in it).

The entries are every distinct title and every phrase of two or three words that starts
and ends with a content word and occurs in at least `MIN_PHRASE_TITLES` titles, each with a
weight (how many titles it is, or is in). Phrases come from titles, not from the passages:
titles are what readers recall, and reading every passage would make the set cost as much
as the keyword index.

Building the table reads and counts every title's phrases: about 100 CPU seconds at a
million titles (docs/benchmarks.md, "Suggestions"), which a server loading the index would
otherwise pay before it answers. Written at build time, loading it is mapping six files.

Layout of `suggest/` (all arrays little-endian numpy `.npy`, the texts raw UTF-8):

    keys.bin, key_offsets.npy      the folded texts, concatenated in sorted order; entry i
                                   is keys[key_offsets[i]:key_offsets[i + 1]]
    shown.bin, shown_offsets.npy   the texts as offered (a title as written)
    kinds.npy                      uint8: 0 a title, 1 a phrase
    weights.npy                    int64: the titles it is, or is in

UTF-8 byte order is code point order, so the keys sorted as text are sorted as bytes, and a
prefix's entries are one range found by binary search over the mapped bytes.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.index.storage.store import ServedStore
from semsearch.index.text.analysis import STOP_WORDS

#: Titles a phrase must occur in to be offered.
MIN_PHRASE_TITLES = 3
#: Phrase lengths, in words.
PHRASE_WORDS = (2, 3)
#: Longest suggestion kept (a longer title is cut at a word before it).
MAX_SUGGESTION_CHARS = 120
#: What each entry is, by its `kinds` code.
KINDS = ("title", "phrase")

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """The text as suggestions compare it: lower case, accents off, spaces collapsed."""
    text = " ".join(text.split()).lower()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text


@dataclass(frozen=True)
class SuggestionTable:
    """The entries, sorted by folded key: in memory after a build, mapped when served."""

    keys: np.ndarray  # uint8
    key_offsets: np.ndarray  # int64, size + 1
    shown: np.ndarray  # uint8
    shown_offsets: np.ndarray  # int64, size + 1
    kinds: np.ndarray  # uint8
    weights: np.ndarray  # int64

    @property
    def size(self) -> int:
        return len(self.kinds)

    def key(self, n: int) -> bytes:
        """Entry n's folded text, as UTF-8."""
        return self.keys[self.key_offsets[n] : self.key_offsets[n + 1]].tobytes()

    def text(self, n: int) -> str:
        """Entry n's text as offered."""
        return self.shown[self.shown_offsets[n] : self.shown_offsets[n + 1]].tobytes().decode()

    def kind(self, n: int) -> str:
        return KINDS[int(self.kinds[n])]


def build_suggestions(titles: Iterable[str]) -> SuggestionTable:
    """The table of these titles (each listed once per article that has it)."""
    shown: dict[str, str] = {}
    title_weight: Counter[str] = Counter()
    kept_titles: list[str] = []
    # Phrases are counted by hash first: most of a large collection's phrases occur once,
    # and a table of all of them as text would take gigabytes at a million titles.
    hashes = array("q")  # 8 bytes a phrase, not a Python int's 36
    for raw in titles:
        title = offered_title(raw)
        if not title:
            continue
        key = fold(title)
        if key not in shown:
            shown[key] = title
            kept_titles.append(title)
        title_weight[key] += 1
        hashes.extend(hash(folded) for _, folded in _phrases(title))
    counted, counts = np.unique(np.frombuffer(hashes, dtype=np.int64), return_counts=True)
    del hashes
    frequent = set(counted[counts >= MIN_PHRASE_TITLES].tolist())
    phrases: Counter[str] = Counter()
    phrase_shown: dict[str, str] = {}
    for key, title in ((fold(t), t) for t in kept_titles):
        repeats = title_weight[key]  # a title listed n times counts its phrases n times
        for phrase, folded in _phrases(title):
            if hash(folded) in frequent:
                phrases[folded] += repeats
                phrase_shown.setdefault(folded, phrase)
    entries: dict[str, tuple[str, int, int]] = {
        key: (shown[key], 0, count) for key, count in title_weight.items()
    }
    for key, count in phrases.items():
        if count >= MIN_PHRASE_TITLES:
            kept = entries.get(key)
            # A phrase that is also a whole title is one entry, as heavy as both.
            weight = count + (kept[2] if kept else 0)
            entries[key] = (kept[0] if kept else phrase_shown[key], 1, weight)
    ordered = sorted(entries)
    keys, key_offsets = _packed(ordered)
    shown_blob, shown_offsets = _packed(entries[k][0] for k in ordered)
    return SuggestionTable(
        keys=keys,
        key_offsets=key_offsets,
        shown=shown_blob,
        shown_offsets=shown_offsets,
        kinds=np.asarray([entries[k][1] for k in ordered], dtype=np.uint8),
        weights=np.asarray([entries[k][2] for k in ordered], dtype=np.int64),
    )


def write_suggestions(table: SuggestionTable, folder: Path) -> None:
    """Write the table's files into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keys.bin").write_bytes(table.keys.tobytes())
    (folder / "shown.bin").write_bytes(table.shown.tobytes())
    np.save(folder / "key_offsets.npy", table.key_offsets)
    np.save(folder / "shown_offsets.npy", table.shown_offsets)
    np.save(folder / "kinds.npy", table.kinds)
    np.save(folder / "weights.npy", table.weights)


def write_index_suggestions(store: Path, folder: Path) -> None:
    """Build the table of a store's titles and write it into `folder` (a version's)."""
    served = ServedStore(store)
    try:
        titles = served.titles()
    finally:
        served.close()
    write_suggestions(build_suggestions(titles), folder)


def open_suggestions(folder: Path) -> SuggestionTable:
    """The table written in `folder`, memory-mapped (nothing is read until looked up)."""
    return SuggestionTable(
        keys=_mapped_bytes(folder / "keys.bin"),
        key_offsets=np.load(folder / "key_offsets.npy", mmap_mode="r"),
        shown=_mapped_bytes(folder / "shown.bin"),
        shown_offsets=np.load(folder / "shown_offsets.npy", mmap_mode="r"),
        kinds=np.load(folder / "kinds.npy", mmap_mode="r"),
        weights=np.load(folder / "weights.npy", mmap_mode="r"),
    )


def _mapped_bytes(path: Path) -> np.ndarray:
    # numpy cannot map an empty file (an index whose articles have no titles).
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _packed(texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts as one UTF-8 array and the offsets of each (one more than texts)."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def offered_title(raw: str) -> str:
    """A title as the table offers it (spaces collapsed, cut at a word); its entry's key is
    its `fold`."""
    return _shortened(" ".join(raw.split()))


def _shortened(title: str) -> str:
    """The title, cut at a word boundary to MAX_SUGGESTION_CHARS."""
    if len(title) <= MAX_SUGGESTION_CHARS:
        return title
    cut = title[:MAX_SUGGESTION_CHARS].rsplit(" ", 1)[0]
    return cut or title[:MAX_SUGGESTION_CHARS]


def _phrases(title: str) -> list[tuple[str, str]]:
    """The title's phrases of PHRASE_WORDS words that start and end with a content word,
    as written and folded (each once per title)."""
    words = _WORD.findall(title)
    folded = _WORD.findall(fold(title))
    if len(folded) != len(words):  # folding joined or split a word: fold word by word
        folded = [fold(w) for w in words]
    found: dict[str, str] = {}
    for size in PHRASE_WORDS:
        for start in range(len(words) - size + 1):
            first, last = folded[start], folded[start + size - 1]
            if first in STOP_WORDS or last in STOP_WORDS or first.isdigit() or last.isdigit():
                continue
            key = " ".join(folded[start : start + size])
            if key not in found:
                found[key] = " ".join(words[start : start + size])
    return [(phrase, key) for key, phrase in found.items()]
