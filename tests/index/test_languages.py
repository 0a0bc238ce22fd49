"""Languages: tags, detection, an article's language, a query's, and the analysis each gets."""

from __future__ import annotations

import pytest

from semsearch.index.text.analysis import (
    SURFACE_WORD,
    analyzer_for,
    highlight_terms,
    index_words,
    match_terms,
    query_words,
    surface_words,
)
from semsearch.index.text.languages import (
    UNKNOWN,
    article_language,
    detect_language,
    foreign_script,
    language_code,
    main_language,
    main_script,
    query_language,
    script_of,
    unsure_article_language,
)

GERMAN = (
    "Die Verteidigung der Mannschaft gab in der ganzen Saison nur wenige Punkte ab und "
    "belegte damit den sechsten Platz in der Liga, während sie bei den Ballgewinnen führte. "
    "Der Trainer lobte nach dem letzten Spiel die Geschlossenheit seiner Abwehr."
)


@pytest.mark.parametrize(
    ("tag", "code"),
    [("de-AT", "de"), ("zh_Hans", "zh"), ("EN", "en"), ("deu", "de"), ("x", ""), (None, "")],
)
def test_tags_become_two_letter_codes(tag: object, code: str) -> None:
    assert language_code(tag) == code


def test_detection_reads_long_text_and_declines_short_text() -> None:
    assert detect_language(GERMAN).language == "de"
    assert detect_language("北京是中国的首都").language == "zh"
    assert detect_language("tide").language == UNKNOWN  # one word: not enough to tell


def test_a_declared_language_stands_unless_the_text_is_surely_another() -> None:
    assert article_language("de-DE", "", "Kurz.") == "de"  # too short to overrule
    assert article_language("en", "Saison", GERMAN) == "de"  # a template's wrong tag
    assert article_language(None, "", GERMAN) == "de"
    assert article_language(None, "", "ok") == UNKNOWN


#: The README's quick start article: fastText reads it as Finnish at 0.53.
QUOKKA = ("Quokka census", "Rangers counted four thousand quokkas.")
#: 87 letters of names: no language reaches 0.5.
NAMES = (
    "Anna Berg, Jan Novak, Pierre Dubois, Maria Rossi, Hans Meier, Olga Ivanova, Sean Murphy, "
    "Lars Nilsson, Ana Silva"
)


def test_a_short_unsure_article_takes_the_collections_language() -> None:
    assert detect_language("\n".join(QUOKKA)).language == "fi"
    assert article_language(None, *QUOKKA) == UNKNOWN  # 45 letters, 0.53: unsure
    assert unsure_article_language(*QUOKKA, "en") == "en"
    assert unsure_article_language(*QUOKKA, "de") == "de"
    assert unsure_article_language(*QUOKKA, UNKNOWN) == "fi"  # nothing better known
    assert article_language("en", *QUOKKA) == "en"  # a declared language stands


def test_a_short_article_sure_of_its_language_or_in_another_script_keeps_it() -> None:
    german = ("Neue Brücke", "Der Stadtrat will die Brücke erneuern.")  # "de" at 0.95
    assert article_language(None, *german) == "de"
    assert article_language(None, "Σεισμός στην Κρήτη", "Ένας μικρός σεισμός.") == "el"
    assert article_language(None, "แผ่นดินไหวที่เชียงใหม่", "เมื่อคืนนี้") == "th"
    # Unsure ("zh" at 0.76) or too short to read, but not in the main language's script.
    assert article_language(None, "北京地铁", "新线开通") == UNKNOWN
    assert unsure_article_language("北京地铁", "新线开通", "en") == "zh"
    assert unsure_article_language("", "Ελλάδα", "en") == "el"
    assert unsure_article_language("", "Ελλάδα", "el") == "el"
    assert unsure_article_language("Surf report", "Small waves, cold water.", "ru") == "en"
    # Cyrillic names no one language: the collection's, when detection cannot tell.
    assert unsure_article_language("", "Москва", "en") == "en"


def test_a_long_unsure_article_takes_the_main_language_as_before() -> None:
    assert article_language(None, "", NAMES) == UNKNOWN
    assert unsure_article_language("", NAMES, "en") == "en"
    assert unsure_article_language("", NAMES, "el") == "el"  # long: not read by its script


def test_main_language_and_script() -> None:
    assert main_language(["de", "en", "de", ""]) == "de"
    assert main_language(["", ""]) == UNKNOWN
    assert main_script("Ελλάδα") == "Greek" and main_script("東京はラーメン") == "Kana"


def test_a_short_query_falls_back_to_the_collection_or_its_script() -> None:
    assert query_language("Wie viele Punkte gab die Verteidigung ab?", "en") == "de"
    assert query_language("tide", "de") == "de"  # Latin, too short: the collection's
    assert query_language("首都", "en") == "zh"  # Han names its language
    assert query_language("Москва", "en") == UNKNOWN  # Cyrillic: several languages
    assert query_language("harbour tides", "en", {"en", "de"}) == "en"  # "sv" at 0.63
    # detected, but no article is in it: the collection's language
    assert query_language("Wie viele Punkte gab die Verteidigung ab?", "en", {"en"}) == "en"


def test_a_one_language_collection_skips_detection_in_its_own_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import semsearch.index.text.languages as languages

    def refuse(text: str) -> None:
        raise AssertionError(f"detected {text!r}")

    monkeypatch.setattr(languages, "detect_language", refuse)
    assert query_language("Wie viele Punkte gab die Verteidigung ab?", "en", {"en"}) == "en"
    assert query_language("42", "en", {"en"}) == "en"
    assert query_language("Ελλάδα", "el", {"el"}) == "el"
    with pytest.raises(AssertionError):  # another script, or several languages: detected
        query_language("Москва", "en", {"en"})
    with pytest.raises(AssertionError):
        query_language("harbour tides", "en", {"en", "de"})


def test_english_words_are_as_they_were() -> None:
    assert query_words("The zeppelin bridges") == ["zeppelin", "bridg"]
    assert query_words("The zeppelin bridges", language="en") == ["zeppelin", "bridg"]
    assert index_words(["Bridges at the café"]) == [["bridg", "cafe"]]
    assert match_terms("festival's fireworks") == ["festiv", "firework"]


def test_german_is_stemmed_and_stopped_in_german() -> None:
    # wie, die: Snowball's German stop words; Punkte -> punkt, Verteidigung -> verteid.
    assert query_words("Wie viele Punkte gab die Verteidigung ab", language="de") == [
        "viel",
        "punkt",
        "gab",
        "verteid",
        "ab",
    ]


def test_chinese_and_japanese_are_character_bigrams() -> None:
    assert query_words("北京是首都", language="zh") == ["北京", "京是", "是首", "首都"]
    assert query_words("京", language="zh") == ["京"]
    # in an English text too: a Chinese name meets a Chinese query
    assert query_words("Beijing 北京 bridges") == ["beij", "北京", "bridg"]
    assert query_words("ラーメン", language="ja") == ["ラー", "ーメ", "メン"]


def test_thai_is_segmented_into_words() -> None:
    assert query_words("ประเทศไทย", language="th") == ["ประเทศ", "ไทย"]


def test_hindi_words_keep_their_vowel_signs() -> None:
    # Python's \w alone cuts "नमस्ते" at its combining marks; here it stays one word.
    assert len(query_words("नमस्ते", language="hi")) == 1


def test_unknown_language_and_a_language_without_stemmer_are_not_stemmed() -> None:
    assert query_words("Die Brücken", language=UNKNOWN) == ["die", "brucken"]
    assert analyzer_for("sw").algorithm is None  # Swahili: no Snowball stemmer
    assert query_words("Habari za asubuhi", language="sw") == ["habari", "asubuhi"]
    assert query_words("Habari", language="zz") == ["habari"]  # no such language: plain words


def test_highlight_terms_follow_the_language() -> None:
    assert highlight_terms("Die Verteidigung", "de") == {"verteid"}
    assert highlight_terms("北京首都", "zh") == {"北京", "京首", "首都"}


def test_the_best_sentence_in_scripts_without_spaces() -> None:
    from semsearch.index.text.chunking import split_sentences
    from semsearch.search.highlight import best_sentence, find_highlights

    chinese = "上海地铁很长。北京地铁是中国首都的轨道交通。第一条线路于一九六九年开通。"
    spans = split_sentences(chinese)
    assert len(spans) == 3
    # 地铁 in the first sentence; 北京地铁 in the second, its bigrams merged into one mark
    assert find_highlights(chinese, "北京地铁", "zh") == [(2, 4), (7, 11)]
    best = best_sentence(chinese, "北京地铁", spans, language="zh")
    assert best is not None and chinese[best[0] : best[1]] == "北京地铁是中国首都的轨道交通。"
    # Thai: the Bangkok sentence, not the whole passage (the Thai split at spaces).
    thai = "เชียงใหม่มีภูเขาสวยงาม กรุงเทพมหานครมีรถไฟฟ้าหลายสาย"
    best = best_sentence(thai, "รถไฟฟ้ากรุงเทพมหานคร", split_sentences(thai), language="th")
    assert best is not None and thai[best[0] : best[1]] == "กรุงเทพมหานครมีรถไฟฟ้าหลายสาย"


def test_surface_words_split_as_the_pattern_does() -> None:
    """The fast path of `surface_words` gives exactly SURFACE_WORD's words, in ASCII text
    and beyond."""
    import random

    samples = [
        "Don't stop: it's 'quoted' rock'n'roll, a''b, o'-clock, x_y z__ 3.5% -- end'",
        "tabs\tand\nnew\x0blines\x1cand\x1f controls",
        "naïve café — Zürich’s façade",  # not ASCII: the pattern itself
        "",
    ]
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)] + ["'"] * 30 + list("ab ") * 20
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(40))) for _ in range(3000)
    ]
    # Letters, marks, digits, spaces and punctuation beyond ASCII ("’", NBSP, ideographic
    # space, en dash, "µ", "²", a combining accent, Thai, Han).
    wider = alphabet + list("é’\u00a0\u3000–µ²\u0301กข北京\u2028Ωß")
    samples += ["".join(rng.choice(wider) for _ in range(rng.randrange(40))) for _ in range(3000)]
    for text in samples:
        assert surface_words(text) == SURFACE_WORD.findall(text), repr(text)


def test_a_query_in_a_script_no_passage_is_written_in() -> None:
    question = "When did the Normans conquer England?"
    assert foreign_script(question, {"th"})
    assert foreign_script(question, {"el", "zh"})
    assert foreign_script("Πότε κατέκτησαν οι Νορμανδοί την Αγγλία;", {"en", "de"})
    assert not foreign_script(question, {"de"})  # German is written in Latin letters too
    assert not foreign_script(question, {"th", "en"})  # some passages are English
    assert not foreign_script("Πότε;", {"el"})


def test_a_script_that_cannot_be_told_is_not_foreign() -> None:
    question = "When did the Normans conquer England?"
    assert not foreign_script("1066", {"th"})  # no letters
    assert not foreign_script(question, set())  # no passages
    assert not foreign_script(question, {"th", UNKNOWN})  # unknown passages: any script
    # Bengali's script is not known here: never read as Latin.
    assert script_of("bn") == ""
    assert not foreign_script("নর্মানরা কখন ইংল্যান্ড জয় করেছিল?", {"bn"})
    assert (script_of("vi"), script_of("th"), script_of("ka")) == ("Latin", "Thai", "Georgian")
