r"""How text becomes words and terms, for every keyword use: one module, so that the keyword
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

Every function takes the text's language (an ISO 639-1 code, `semsearch.index.text.
languages`; English when not given, as every index before format 6 was analysed):

- **English** is analysed exactly as above (the words of English text are the same as they
  always were).
- **Other languages** are lower-cased, split into words that keep their combining marks
  (Devanagari's vowel signs, Thai's tone marks: Python's `\w` alone cuts "नमस्ते" into four
  pieces), stop words dropped (Snowball's lists as bm25s ships them, else stopwords-iso's),
  stemmed by the language's Snowball stemmer where PyStemmer has one, then folded (é -> e,
  Greek tonos and Arabic harakat off).
- **Scripts written without spaces** are segmented whatever the language: Han, kana and
  Hangul runs as overlapping character bigrams (Lucene's CJKBigramFilter; a lone character
  stays a unigram), Thai runs into words by pythainlp's dictionary segmenter (newmm). So a
  Chinese name in an English article and a Chinese query meet on the same terms.
- **Unknown language** (""): words as for other languages, with no stop words and no stem
  (not English's: "Brücken" must not lose its "en" to an English rule).

Highlighting follows the same split: English keeps its light fold; a language with a Snowball
stemmer marks words with the same stem; segmented scripts mark each query bigram or Thai word
where it occurs.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import regex

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

#: The language every index before format 6 was analysed in, and the default of every call.
ENGLISH = "en"
#: ISO 639-1 code -> PyStemmer's Snowball algorithm.
SNOWBALL = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
#: bm25s's stop-word lists (Snowball's, as Lucene's analyzers use), by language.
_BM25S_STOP_LISTS = {
    "da": "STOPWORDS_DANISH",
    "de": "STOPWORDS_GERMAN",
    "es": "STOPWORDS_SPANISH",
    "fr": "STOPWORDS_FRENCH",
    "it": "STOPWORDS_ITALIAN",
    "nl": "STOPWORDS_DUTCH",
    "no": "STOPWORDS_NORWEGIAN",
    "pt": "STOPWORDS_PORTUGUESE",
    "ru": "STOPWORDS_RUSSIAN",
    "sv": "STOPWORDS_SWEDISH",
    "tr": "STOPWORDS_TURKISH",
}
#: Languages written without spaces, segmented by script: no stop-word list applies to
#: bigrams.
_SEGMENTED_LANGUAGES = frozenset({"zh", "ja", "ko"})

#: Scripts written without spaces between words: CJK ideographs, kana (with the prolonged
#: sound mark) and Hangul, segmented as bigrams; Thai, segmented into words.
_CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc"
_SEGMENTED = regex.compile(rf"[{_CJK_CLASS}\p{{Thai}}]")
_CJK_RUN = regex.compile(rf"[{_CJK_CLASS}]+")
_THAI_RUN = regex.compile(r"\p{Thai}+")
#: A word of a language other than English: letters, digits, underscores and combining
#: marks, cut where a segmented script begins or ends.
_TOKENS = regex.compile(
    rf"(?P<cjk>[{_CJK_CLASS}]+)|(?P<thai>\p{{Thai}}+)"
    rf"|(?P<word>(?:(?![{_CJK_CLASS}\p{{Thai}}])[\w\p{{M}}])+)"
)

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


def new_stemmer(language: str = ENGLISH) -> Stemmer:
    """A Snowball stemmer for `language` (English by default); one per thread (PyStemmer's
    are not to be shared)."""
    import Stemmer as pystemmer

    stemmer: Stemmer = pystemmer.Stemmer(SNOWBALL.get(language, "english"))
    return stemmer


_local = threading.local()


def thread_stemmer(language: str = ENGLISH) -> Stemmer:
    """This thread's stemmer for `language`, made on first use."""
    stemmers: dict[str, Stemmer] | None = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    stemmer = stemmers.get(language)
    if stemmer is None:
        stemmer = stemmers[language] = new_stemmer(language)
    return stemmer


@dataclass(frozen=True)
class Analyzer:
    """How one language's text becomes index words: its stop words, and its Snowball
    algorithm (None: words are not stemmed)."""

    language: str
    stop_words: frozenset[str]
    algorithm: str | None


@functools.cache
def _available_algorithms() -> frozenset[str]:
    import Stemmer as pystemmer

    return frozenset(pystemmer.algorithms())


@functools.cache
def analyzer_for(language: str) -> Analyzer:
    """The analyzer of a language code ("" or an unknown code: no stop words, no stem)."""
    if language == ENGLISH:
        return Analyzer(ENGLISH, STOP_WORDS, "english")
    algorithm = SNOWBALL.get(language)
    if algorithm not in _available_algorithms():
        algorithm = None
    return Analyzer(language, _stop_words(language), algorithm)


def _stop_words(language: str) -> frozenset[str]:
    """A language's stop words: Snowball's list where bm25s ships it, else stopwords-iso's,
    none for languages segmented into bigrams or for an unknown language."""
    if not language or language in _SEGMENTED_LANGUAGES:
        return frozenset()
    if language in _BM25S_STOP_LISTS:
        import bm25s.stopwords

        return frozenset(w.lower() for w in getattr(bm25s.stopwords, _BM25S_STOP_LISTS[language]))
    import stopwordsiso

    if not stopwordsiso.has_lang(language):
        return frozenset()
    return frozenset(w.lower() for w in stopwordsiso.stopwords(language))


def analysed_language(language: str | None) -> str:
    """The analyzer a language code gets: English for None, the code itself otherwise."""
    return ENGLISH if language is None else language


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a run of ideographs, kana or Hangul (Lucene's
    CJKBigramFilter); a run of one character is its own term."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def thai_words(run: str) -> list[str]:
    """The words of a run of Thai text, by pythainlp's dictionary segmenter (newmm)."""
    return [w for w in _thai_tokenize(run) if w.strip()]


@functools.lru_cache(maxsize=50_000)
def _thai_tokenize(run: str) -> tuple[str, ...]:
    from pythainlp.tokenize import word_tokenize

    return tuple(word_tokenize(run, engine="newmm", keep_whitespace=False))


def _segments(word: str) -> Iterator[tuple[str, str]]:
    """The pieces of a word as ("cjk" | "thai" | "word", text)."""
    for match in _TOKENS.finditer(word):
        kind = match.lastgroup or "word"
        yield kind, match.group()


def _analysed(text: str, language: str, stemmer: Stemmer | None) -> list[str]:
    """The index words of one text in a language (see the module's doc), in order."""
    analyzer = analyzer_for(language)
    if language == ENGLISH:
        if not _SEGMENTED.search(text):
            return _english_words(text, stemmer)
        # English with a segmented script in it: English's words, the script segmented.
        pieces = _WORDS(fold_text(text).lower())
    else:
        pieces = [m.group() for m in _TOKENS.finditer(text.lower())]
    words: list[str] = []
    plain: list[tuple[int, str]] = []  # (position in words, word) to stem in one call
    for piece in pieces:
        for kind, part in _segments(piece) if _SEGMENTED.search(piece) else [("word", piece)]:
            if kind == "cjk":
                words.extend(cjk_bigrams(part))
            elif kind == "thai":
                words.extend(w for w in thai_words(part) if w not in analyzer.stop_words)
            elif part not in analyzer.stop_words:
                plain.append((len(words), part))
                words.append(part)
    if plain and analyzer.algorithm:
        chosen = stemmer if stemmer is not None else thread_stemmer(language)
        stems = chosen.stemWords([w for _, w in plain])
        for (at, _), stem in zip(plain, stems, strict=True):
            words[at] = stem
    if language == ENGLISH:
        return words
    # Folded but for the segmented scripts (Thai's vowel signs are combining marks).
    return [w if w.isascii() or _SEGMENTED.search(w) else fold_text(w) for w in words]


def _english_words(text: str, stemmer: Stemmer | None) -> list[str]:
    # bm25s lower-cases the folded text again: NFKD can make capitals (ᴬ -> A).
    words = [w for w in _WORDS(fold_text(text).lower()) if w not in STOP_WORDS]
    stemmed: list[str] = (thread_stemmer() if stemmer is None else stemmer).stemWords(words)
    return stemmed


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


def index_words(
    texts: list[str], stemmer: Stemmer | None = None, language: str | None = None
) -> list[list[str]]:
    """The index words of each text, all in one language (English when None): for English
    text bm25s's tokenizer (the build's bulk path, which stems each distinct word once)."""
    language = analysed_language(language)
    if language != ENGLISH or any(_SEGMENTED.search(t) for t in texts):
        return [_analysed(t, language, stemmer) for t in texts]
    words: list[list[str]] = bm25s_library().tokenize(
        [fold_text(t) for t in texts],
        stopwords=_SORTED_STOP_WORDS,
        stemmer=thread_stemmer() if stemmer is None else stemmer,
        token_pattern=WORD_PATTERN,
        return_ids=False,
        show_progress=False,
    )
    return words


def query_words(
    text: str, stemmer: Stemmer | None = None, language: str | None = None
) -> list[str]:
    """The index words of one text, as `index_words` gives them, without bm25s's per-call
    set-up (its stop-word set, progress wrapper and vocabulary), a sizeable part of a keyword
    search's time (docs/benchmarks.md)."""
    return _analysed(text, analysed_language(language), stemmer)


def strip_clitics(text: str) -> str:
    """`text` without English clitics ("Severn's" -> "Severn", "don't" -> "don")."""
    return _CLITIC.sub("", text)


def match_terms(query: str, language: str | None = None) -> list[str]:
    """The distinct index words of the query's content words, in order, clitics off (in
    English): what the exact-match check requires a passage to hold. The passages keep their
    clitics as words of their own ("festival's" -> festiv, s), so "festival's" still finds
    them."""
    language = analysed_language(language)
    text = strip_clitics(query.lower()) if language == ENGLISH else query
    return list(dict.fromkeys(query_words(text, language=language)))


#: Every ASCII character that is neither a word character (`\w`: letters, digits, "_") nor
#: an apostrophe, as a space: ASCII text splits into SURFACE_WORD's words at C speed. A
#: bytes table: `bytes.translate` is ten times `str.translate`'s speed.
_ASCII_SEPARATORS = bytes(
    c if c >= 128 or chr(c).isalnum() or chr(c) in "_'" else ord(" ") for c in range(256)
)


def surface_words(text: str) -> list[str]:
    """The surface words of `text`, as written, inner apostrophes kept."""
    # The pattern's words, several times faster: a match never spans a separator (an ASCII
    # character that is neither a word character nor an apostrophe), so the pattern's
    # matches are those of each run between separators, and a run without an apostrophe is
    # one word.
    if not text.isascii():
        return SURFACE_WORD.findall(text)
    runs = text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    if "'" not in text:
        return runs
    return [word for run in runs for word in (SURFACE_WORD.findall(run) if "'" in run else (run,))]


def light_stem_forms(stem: str) -> tuple[str, ...]:
    """Every lower-case word whose `light_stem` may be `stem`: the stem itself and the stem
    with each suffix it takes off (a word index looks these up, `index.storage.word_index`)."""
    return (stem, *(stem + suffix for suffix in _SUFFIXES))


@functools.lru_cache(maxsize=100_000)
def light_stem(word: str) -> str:
    """The highlighter's crude stem: lower case, one common suffix off, kept at three
    letters or more ("liberated" -> "liberat", as "liberate" is)."""
    word = word.lower().replace("’", "'")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight_terms(query: str, language: str | None = None) -> set[str]:
    """The light stems of the query's surface content words (two letters or more); in a
    language other than English, their `highlight_stem`s; in a segmented script, its bigrams
    (or Thai words), as `segmented_terms` gives them."""
    language = analysed_language(language)
    if language == ENGLISH and not _SEGMENTED.search(query):
        return {
            light_stem(w)
            for w in SURFACE_WORD.findall(query)
            if w.lower() not in STOP_WORDS and len(w) > 1
        }
    stop_words = analyzer_for(language).stop_words
    terms = set(segmented_terms(query, stop_words))
    for word in SURFACE_WORD.findall(_SEGMENTED_RUNS.sub(" ", query)):
        if word.lower() not in stop_words and len(word) > 1:
            terms.add(highlight_stem(word, language))
    return terms


_SEGMENTED_RUNS = regex.compile(rf"[{_CJK_CLASS}]+|\p{{Thai}}+")


def segmented_terms(text: str, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """The bigrams of the text's CJK runs and the words of its Thai runs, lower case."""
    terms: list[str] = []
    for match in _SEGMENTED_RUNS.finditer(text.lower()):
        run = match.group()
        if _THAI_RUN.fullmatch(run):
            terms.extend(w for w in thai_words(run) if w not in stop_words)
        else:
            terms.extend(cjk_bigrams(run))
    return terms


def is_segmented(term: str) -> bool:
    """Whether a highlight term is a piece of a script written without spaces."""
    return bool(_SEGMENTED.search(term))


def highlight_stem(word: str, language: str | None = None) -> str:
    """How highlighting compares a surface word: English's `light_stem`; the Snowball stem
    of the lower-cased word in a language that has a stemmer; else the lower-cased word."""
    language = analysed_language(language)
    if language == ENGLISH:
        return light_stem(word)
    return _snowball_stem(word.lower().replace("’", "'"), language)


@functools.lru_cache(maxsize=100_000)
def _snowball_stem(word: str, language: str) -> str:
    if analyzer_for(language).algorithm is None:
        return word
    with _HIGHLIGHT_LOCK:  # one shared stemmer per language behind a lock: the cache
        stems = _highlight_stemmer(language).stemWords([word])  # answers most calls
    return str(stems[0])


_HIGHLIGHT_LOCK = threading.Lock()


@functools.cache
def _highlight_stemmer(language: str) -> Stemmer:
    return new_stemmer(language)
