"""A synthetic article collection for paging, facet and sort tests (and facet latency):
articles that share topic words in varying measure, spread over publications, authors and
years, some undated."""

from __future__ import annotations

import random
from pathlib import Path

from tests.support.corpus import write_jsonl

PUBLICATIONS = ("Harbor Ledger", "Prairie Signal", "The Civic Lantern", "Northwind Review")
AUTHORS = ("Ana Ruiz", "Ben Okoro", "Chen Wei", "Dara Nolan", "Eli Brandt", "Fay Moreau")
TOPICS = (
    "tram strike drivers union wages depot",
    "bridge repair steel cables council budget",
    "tidal turbines harbour energy grid",
    "school air monitors classrooms ventilation",
    "rye bread starter bakery flour",
)
FILLER = [
    "the",
    "city",
    "residents",
    "said",
    "on",
    "tuesday",
    "that",
    "officials",
    "would",
    "meet",
    "again",
    "next",
    "week",
]


def write_articles(path: Path, count: int, seed: int = 0) -> Path:
    """Write `count` articles as JSONL to `path`; every seventh has no date."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)].split()
        sentences = []
        for _ in range(4):
            words = rng.sample(topic, 3) + rng.sample(FILLER, 5) + [f"w{rng.randrange(500)}"]
            rng.shuffle(words)
            sentences.append(" ".join(words).capitalize() + ".")
        record = {
            "id": f"a{i:05d}",
            "title": f"{topic[0].title()} {topic[1]} report {i}",
            "text": " ".join(sentences),
            "author": AUTHORS[i % len(AUTHORS)],
            "publication": PUBLICATIONS[i % len(PUBLICATIONS)],
            "published": None if i % 7 == 3 else f"{2010 + i % 15}-{1 + i % 12:02d}-15",
        }
        records.append(record)
    return write_jsonl(path, records)
