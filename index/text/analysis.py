"""How text becomes words and terms, for every keyword use: one module, so that the keyword
index, its queries, the exact-match check, the highlighter and the build's probes agree on
what a word is.

Two kinds of word, on purpose:

- **Index words** (`index_words`, `query_words`, `match_terms`): what BM25 ranks on and what
  the exact-match check requires. Lower case, accents folded (é -> e), every run of letters,
  digits or underscores (single letters too: "T cells"), stop words dropped, then Snowball
  English stems (PyStemmer): "bridges" and "bridge" are one term, "café" and "cafe" too.
- **Surface words** (`surface_words`, `highlight_terms`, `light_stem`): what the page marks.
  A word as written, inner apostrophes kept ("festival's" is one mark, not "festival" and
  "s"), case-insensitive, accents kept, with only a light suffix fold ("bridges" marks
  "bridge"). Highlighting marks spans a reader sees; Snowball's stems join words a reader
  would not call the same ("university" and "universe" are both "univers"), and a marked
  single letter ("T") would be noise, so highlighting keeps words of two letters or more.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from types import ModuleType
from typing import Protocol

#: Function words: dropped from keyword queries and the keyword index, never highlighted.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)

_SORTED_STOP_WORDS = sorted(STOP_WORDS)

#: An index word: a run of letters, digits or underscores (bm25s's `token_pattern`, so the
#: build's tokenizer and the query's split alike).
WORD_PATTERN = r"(?u)\b\w+\b"
_WORDS = re.compile(WORD_PATTERN).findall

#: A surface word, as highlighting marks it: letters and digits with inner apostrophes.
SURFACE_WORD = re.compile(r"\w+(?:['’]\w+)*")

#: English clitics: without them "Severn's" or "don't" would require a passage holding "s" or
#: "t" (single letters elsewhere, "T cells", are content).
_CLITIC = re.compile(r"['’](?:s|t|d|m|ll|re|ve)\b")

#: Suffixes `light_stem` takes off, longest first.
_SUFFIXES = ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s", "e")


class Stemmer(Protocol):
    """What PyStemmer's `Stemmer.Stemmer` offers (and bm25s calls)."""

    def stemWords(self, words: list[str]) -> list[str]: ...


def new_stemmer() -> Stemmer:
    """A Snowball English stemmer; one per thread (PyStemmer's are not to be shared)."""
    import Stemmer as pystemmer

    stemmer: Stemmer = pystemmer.Stemmer("english")
    return stemmer


_local = threading.local()


def thread_stemmer() -> Stemmer:
    """This thread's stemmer, made on first use."""
    stemmer: Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = new_stemmer()
    return stemmer


@functools.cache
def bm25s_library() -> ModuleType:
    """The bm25s library, imported on first use; it sets its own logger to DEBUG at import,
    which would print a line per build through the application's handlers."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    library: ModuleType = bm25s
    return library


def fold_text(text: str) -> str:
    """Lower case with accents taken off (é -> e), as FTS5's unicode61 tokenizer did."""
    if text.isascii():  # nothing to take off: skip the per-character pass
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_case(text: str) -> str:
    """Unicode case folding, for comparing metadata ("ÄRZTE" = "ärzte"); accents stay."""
    return text.casefold()


def split_words(text: str) -> list[str]:
    """The runs of letters, digits or underscores of `text`, as written (no folding)."""
    return _WORDS(text)


def index_words(texts: list[str], stemmer: Stemmer | None = None) -> list[list[str]]:
    """The index words of each text (bm25s's tokenizer: the build's bulk path, which stems
    each distinct word once)."""
    words: list[list[str]] = bm25s_library().tokenize(
        [fold_text(t) for t in texts],
        stopwords=_SORTED_STOP_WORDS,
        stemmer=thread_stemmer() if stemmer is None else stemmer,
        token_pattern=WORD_PATTERN,
        return_ids=False,
        show_progress=False,
    )
    return words


def query_words(text: str, stemmer: Stemmer | None = None) -> list[str]:
    """The index words of one text, as `index_words` gives them, without bm25s's per-call
    set-up (its stop-word set, progress wrapper and vocabulary), a sizeable part of a keyword
    search's time (docs/benchmarks.md)."""
    # bm25s lower-cases the folded text again: NFKD can make capitals (ᴬ -> A).
    words = [w for w in _WORDS(fold_text(text).lower()) if w not in STOP_WORDS]
    stemmed: list[str] = (thread_stemmer() if stemmer is None else stemmer).stemWords(words)
    return stemmed


def strip_clitics(text: str) -> str:
    """`text` without English clitics ("Severn's" -> "Severn", "don't" -> "don")."""
    return _CLITIC.sub("", text)


def match_terms(query: str) -> list[str]:
    """The distinct index words of the query's content words, in order, clitics off: what
    the exact-match check requires a passage to hold. The passages keep their clitics as
    words of their own ("festival's" -> festiv, s), so "festival's" still finds them."""
    return list(dict.fromkeys(query_words(strip_clitics(query.lower()))))


def surface_words(text: str) -> list[str]:
    """The surface words of `text`, as written, inner apostrophes kept."""
    return SURFACE_WORD.findall(text)


@functools.lru_cache(maxsize=100_000)
def light_stem(word: str) -> str:
    """The highlighter's crude stem: lower case, one common suffix off, kept at three
    letters or more ("liberated" -> "liberat", as "liberate" is)."""
    word = word.lower().replace("’", "'")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight_terms(query: str) -> set[str]:
    """The light stems of the query's surface content words (two letters or more)."""
    return {
        light_stem(w)
        for w in SURFACE_WORD.findall(query)
        if w.lower() not in STOP_WORDS and len(w) > 1
    }
