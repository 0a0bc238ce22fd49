"""Calibrate "no good match" (`min_score`) at build time, for this model and this collection.

A cosine of 0.25 means "unrelated" for all-MiniLM-L6-v2 and nothing for a model whose cosines
all sit above 0.7, so the threshold is measured on the index itself, with two sets of probes:
- on-topic: sentences of the collection's own articles with their rarest words dropped (as
  the fusion probes are, `semsearch.search.tuning.paraphrase_like`), searched with every
  chunk that holds the sentence removed, so a probe must be answered by *other* passages:
  what a question about the collection's subject looks like to the model, without the
  flattery of finding its own words;
- off-topic: `OFF_TOPIC`, a built-in sample of everyday questions and phrases about subjects
  chosen far from one another, so most of them are far from any one collection.
The top-1 cosine of every probe is recorded. The threshold refuses three quarters of the
off-topic probes (`OFF_TOPIC_QUANTILE`), but never more than the on-topic probes' low tail
(`ON_TOPIC_QUANTILE`): refusing a question the collection answers is worse than showing a
weak passage, and held-out, reworded probes score below real questions, so that tail is
already a margin (figures: docs/relevance.md). The manifest keeps the
threshold with both distributions (`no_match`); a `min_score` the user sets wins over it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.index.embed import Embedder
from semsearch.index.storage.vectors import search_vectors
from semsearch.search.backends.directory import directory_backend
from semsearch.search.service import SearchService

log = logging.getLogger(__name__)

#: Everyday questions and phrases on subjects spread wide (cooking, sport, gardening, pets,
#: travel, household repairs, music, games, fashion, cars, crafts...), written for this
#: project. A collection about one of them lifts a few scores, not the median.
OFF_TOPIC: tuple[str, ...] = (
    "how long should I boil an egg for a runny yolk",
    "best way to remove red wine stains from a carpet",
    "what time does the football match start on saturday",
    "easy chords for a beginner on the ukulele",
    "how often should I water tomato plants in summer",
    "why does my cat knock things off the table",
    "cheap hotels near the beach with free parking",
    "how to fix a dripping kitchen tap",
    "recipe for chocolate chip cookies without eggs",
    "what size bike frame do I need for my height",
    "how to knit a scarf for beginners",
    "lyrics of a famous christmas song",
    "tips for potty training a puppy",
    "which board games are fun for a family of four",
    "how to change a flat tyre on a car",
    "what to pack for a weekend camping trip",
    "how to make sourdough starter at home",
    "the rules of chess castling",
    "best houseplants for a dark room",
    "how to tie a tie in a windsor knot",
    "is it safe to swim after eating",
    "how to clean a cast iron pan",
    "what colour curtains go with a grey sofa",
    "how many players are on a volleyball team",
    "good names for a goldfish",
    "how to stop a squeaky door hinge",
    "directions to the nearest petrol station",
    "how to play the opening of a famous piano sonata",
    "what is the best season to plant tulip bulbs",
    "how to fold a fitted sheet",
    "wedding speech ideas for the best man",
    "how to get rid of ants in the kitchen",
    "what shoes are good for running a marathon",
    "how to make a paper aeroplane that flies far",
    "how long do you roast a chicken",
    "which way to hang toilet paper",
    "how to learn to juggle three balls",
    "birthday party games for seven year olds",
    "how to sharpen a kitchen knife with a stone",
    "my washing machine smells musty, what do I do",
)
#: The on-topic probes' low tail that the threshold stays under, with MARGIN to spare. With
#: all-MiniLM-L6-v2 the lowest real answerable question scored 0.07 to 0.18 above it on
#: SciFact, the news questions and the demo (docs/relevance.md).
ON_TOPIC_QUANTILE = 5.0
MARGIN = 0.0
#: The share of off-topic probes (percentile) the threshold aims to refuse.
OFF_TOPIC_QUANTILE = 75.0
MIN_PROBES = 30


def top_scores(
    service: SearchService, texts: list[str], excluded: list[frozenset[int]]
) -> np.ndarray:
    """The best cosine of each text against the index, its `excluded` chunks left out."""
    vectors = directory_backend(service.backend).vectors
    scores = []
    for text, skip in zip(texts, excluded, strict=True):
        hits = search_vectors(vectors, service.embedder.encode_query(text), len(skip) + 1)
        kept = [score for chunk_id, score in hits if chunk_id not in skip]
        scores.append(kept[0] if kept else -1.0)
    return np.asarray(scores, dtype=np.float64)


def _summary(scores: np.ndarray) -> dict[str, float]:
    return {
        "n": len(scores),
        "min": round(float(scores.min()), 4),
        "p5": round(float(np.percentile(scores, 5)), 4),
        "median": round(float(np.median(scores)), 4),
        "p95": round(float(np.percentile(scores, 95)), 4),
        "max": round(float(scores.max()), 4),
    }


def choose_threshold(on_topic: np.ndarray, off_topic: np.ndarray) -> tuple[float, str]:
    """The threshold from the two distributions, and which bound set it."""
    aim = float(np.percentile(off_topic, OFF_TOPIC_QUANTILE))
    ceiling = float(np.percentile(on_topic, ON_TOPIC_QUANTILE)) - MARGIN
    if aim <= ceiling:
        return aim, f"off-topic p{OFF_TOPIC_QUANTILE:g}"
    return ceiling, f"on-topic p{ON_TOPIC_QUANTILE:g} - {MARGIN}"


def calibrate_no_match(
    service: SearchService, count: int = 200, seed: int = 1
) -> dict[str, Any] | None:
    """The calibrated `min_score` of a loaded index with its evidence; None when the
    collection gives too few probes (the `min_score` setting then applies)."""
    from semsearch.search.tuning import make_probes  # the tuner imports the service too

    # Small collections give several sentences per article, so there are enough probes.
    per_article = max(1, math.ceil(count / max(1, service.manifest.counts["articles"])))
    probes = make_probes(
        service, count=count, seed=seed, drop=0.3, single_passage=True, per_article=per_article
    )
    if len(probes) < MIN_PROBES:
        log.info("no-match threshold not calibrated: %d probes, need %d", len(probes), MIN_PROBES)
        return None
    on_topic = top_scores(service, [p.text for p in probes], [p.excluded for p in probes])
    off_topic = top_scores(service, list(OFF_TOPIC), [frozenset()] * len(OFF_TOPIC))
    threshold, bound = choose_threshold(on_topic, off_topic)
    return {
        "min_score": round(threshold, 4),
        "set_by": bound,
        "on_topic": _summary(on_topic),
        "off_topic": _summary(off_topic),
        "off_topic_refused": round(float(np.mean(off_topic < threshold)), 4),
        "on_topic_refused": round(float(np.mean(on_topic < threshold)), 4),
    }


def build_calibrator(embedder: Embedder) -> Callable[[Path], dict[str, Any] | None]:
    """The build's calibration hook (`builder.Calibrator`): load the staged index, probe it."""

    def calibrate(staging: Path) -> dict[str, Any] | None:
        return calibrate_no_match(SearchService(staging, embedder))

    return calibrate
