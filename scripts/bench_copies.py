"""Precision and recall of syndicated copies found at ingest, on a generated collection.

The collection is made here, reproducibly from a seed: original stories of 6-14 paragraphs
of made-up prose; for some of them 1-3 syndicated copies, each under another publication and
URL with its own header (a byline, a dateline), its own footer (a copyright line, a plug)
and, in half of them, one paragraph cut and a few words changed; hard negatives (other
stories of the same event, sharing a quoted paragraph and the headline words); and exact
re-reads (the same page read twice), which must not count as copies. Pairs in one true
group against pairs in one found group (kept article plus its copies) give precision and
recall.

    .venv/bin/python scripts/bench_copies.py [--stories 2000] [--seed 13]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from semsearch.index.ingest.articles import Article
from semsearch.index.ingest.copies import find_copies

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ten",
    "ra",
    "vo",
    "sel",
    "un",
    "dra",
    "pe",
    "is",
    "cor",
    "an",
    "tu",
    "bel",
    "nor",
]


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    """Made-up words, drawn later with Zipf-like weights as real prose is."""
    words = {"".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    chosen = rng.choices(words, weights=weights, k=rng.randint(8, 24))
    return " ".join(chosen).capitalize() + "."


def paragraph(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(sentence(rng, words, weights) for _ in range(rng.randint(2, 5)))


def make_collection(stories: int, seed: int) -> tuple[list[Article], list[set[str]]]:
    """The articles and the true groups of ids (original plus its copies)."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    articles: list[Article] = []
    groups: list[set[str]] = []
    publications = [f"Paper {n}" for n in range(40)]
    for s in range(stories):
        paras = [paragraph(rng, words, weights) for _ in range(rng.randint(6, 14))]
        pub = rng.choice(publications)
        day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        original = Article(
            id=f"s{s}",
            title=f"Story {s}",
            text="\n\n".join(paras),
            publication=pub,
            published=day,
            url=f"https://{pub.replace(' ', '').lower()}.example/s{s}",
            origin="generated",
        )
        articles.append(original)
        group = {original.id}
        if rng.random() < 0.3:
            for c in range(rng.randint(1, 3)):
                other = rng.choice([p for p in publications if p != pub])
                body = list(paras)
                if rng.random() < 0.5:
                    del body[rng.randrange(len(body))]  # a paragraph cut
                    edited = body[0].split()
                    for _ in range(3):  # a few words changed by the copy desk
                        edited[rng.randrange(len(edited))] = rng.choice(words)
                    body[0] = " ".join(edited)
                header = f"By {rng.choice(words).title()} {rng.choice(words).title()}, {other}"
                footer = f"Copyright {day[:4]} {other}. Subscribe to {other} for more news."
                copy = Article(
                    id=f"s{s}c{c}",
                    title=f"Story {s}",
                    text="\n\n".join([header, *body, footer]),
                    publication=other,
                    published=day,
                    url=f"https://{other.replace(' ', '').lower()}.example/syndicated/{s}-{c}",
                    origin="generated",
                )
                articles.append(copy)
                group.add(copy.id)
        if rng.random() < 0.1:
            # Another story of the same event: its own prose, one quoted paragraph shared.
            quoted = rng.choice(paras)
            own = [paragraph(rng, words, weights) for _ in range(rng.randint(6, 12))]
            own.insert(rng.randrange(len(own)), quoted)
            related = Article(
                id=f"s{s}r",
                title=f"Story {s}, another view",
                text="\n\n".join(own),
                publication=rng.choice(publications),
                published=day,
                origin="generated",
                url=f"https://related.example/{s}",
            )
            articles.append(related)
            groups.append({related.id})
        if rng.random() < 0.05:
            articles.append(original)  # the same page read twice: a re-read, not a copy
        groups.append(group)
    rng.shuffle(articles)
    return articles, groups


def pairs(groups: list[set[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    articles, truth = make_collection(args.stories, args.seed)
    start = time.perf_counter()
    kept, copies, report = find_copies(articles)
    took = time.perf_counter() - start
    found = [{a.id, *(c.id for c in copies.get(a.id, []))} for a in kept]
    true_pairs, found_pairs = pairs(truth), pairs(found)
    hit = len(true_pairs & found_pairs)
    precision = hit / len(found_pairs) if found_pairs else 1.0
    recall = hit / len(true_pairs) if true_pairs else 1.0
    rereads = len(articles) - len({id(a) for a in articles})
    print(f"{len(articles):,} articles, {len(true_pairs):,} true copy pairs; {report.summary()}")
    print(
        f"precision {precision:.4f}  recall {recall:.4f}  ({hit:,} of {len(true_pairs):,} pairs; "
        f"{len(found_pairs) - hit} wrong)  {len(articles) / took:,.0f} articles/s  "
        f"re-reads planted {rereads}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
