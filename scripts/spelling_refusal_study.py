#!/usr/bin/env python
"""When should "did you mean" answer for a correction? Off-topic queries refused as typed,
against answerable questions with one typo, and the rules that decide.

    .venv/bin/python scripts/spelling_refusal_study.py --same news,news-one \\
        --same scifact,scifact-one NAME=INDEX:QUERIES[:QRELS] ...

(the collections as `scripts/refusal_study.py` takes them; docs/relevance.md, "Did you mean
and refusals", has the command and the figures.) Off-topic: each set's questions against
the other sets' indexes (not those `--same` names as the same articles) and the build's
everyday probes (`calibration.OFF_TOPIC`) against every index. Answerable: the first
`--answerable` questions of each set against its own index, each with one typo (two
letters swapped or one dropped, seeded) in the word the keyword index holds least. For each
query refused as typed (hybrid, k=10), the correction the speller offers, the best cosine of
the query and of the correction, and whether the correction is answered; then, for each
rule, how many of each kind would be answered for their correction.
"""

from __future__ import annotations

import argparse
import collections
import random
from collections.abc import Callable

from refusal_study import open_collections, related  # a sibling script (run from scripts/)

from semsearch.index.embed import load_embedder
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

Row = tuple[bool, str, float, float, float, bool]  # answerable, index, typed, corrected, t, hits


def typo(text: str, service: SearchService, rng: random.Random) -> str | None:
    """`text` with a typo in its rarest word of five letters or more; None without one."""
    words = [w for w in text.split() if w.isalpha() and len(w) >= 5]
    if not words:
        return None
    word = min(words, key=lambda w: (service.backend.keyword_coverage(w, None), w))
    at = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5:
        wrong = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    else:
        wrong = word[:at] + word[at + 1 :]
    return text.replace(word, wrong, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collections", nargs="+", help="NAME=INDEX:QUERIES[:QRELS]")
    parser.add_argument("--same", action="append", default=[], help="NAME,NAME: one article set")
    parser.add_argument("--answerable", type=int, default=60)
    args = parser.parse_args()
    same = [set(group.split(",")) for group in args.same]
    embedder = load_embedder(get_setting("model"))
    services, questions = open_collections(args.collections, embedder)
    rng = random.Random(5)

    def closest(service: SearchService, text: str) -> float:
        found = service.backend.dense(embedder.encode_query(text), 1, None)
        return float(found[0][1]) if found else -1.0

    rows: list[Row] = []
    for q_name, texts in questions.items():
        for i_name, service in services.items():
            if related(q_name, i_name, same):
                continue
            answerable = q_name == i_name
            for text in texts[: args.answerable] if answerable else texts:
                asked = typo(text, service, rng) if answerable else text
                if asked is None or service.speller is None:
                    continue
                typed = service._search_as_typed(asked, 10, mode="hybrid")
                if typed.hits:
                    continue  # answered as typed: nothing to correct for
                suggestion = service.speller.correct(asked, typed.language)
                if not suggestion or suggestion == asked:
                    continue
                again = service._search_as_typed(suggestion, 10, mode="hybrid")
                threshold = service.ranker.settings.min_score
                before, after = closest(service, asked), closest(service, suggestion)
                rows.append((answerable, i_name, before, after, threshold, bool(again.hits)))
                if answerable:
                    print(f"typo: {asked!r} -> {suggestion!r} ({before:.3f} -> {after:.3f})")

    rules: dict[str, Callable[[float, float, float], bool]] = {
        "any correction that finds something": lambda a, b, t: True,
        **{f"gain >= {g}": (lambda a, b, t, g=g: b - a >= g) for g in (0.05, 0.1)},
        **{f"corrected >= threshold + {m}": (lambda a, b, t, m=m: b >= t + m) for m in (0, 0.05)},
    }
    print("\nrule | off-topic answered for a correction | answerable (typo) answered")
    for name, rule in rules.items():
        answered: collections.Counter[bool] = collections.Counter()
        for answerable, _, before, after, threshold, hits in rows:
            answered[answerable] += hits and rule(before, after, threshold)
        print(f"{name} | {answered[False]} | {answered[True]}")


if __name__ == "__main__":
    main()
