#!/usr/bin/env python
"""Calibrate `min_score` (the "no good match" threshold) for a model, from several collections.

    S=../shared/datasets/scifact
    .venv/bin/semsearch build $S/corpus.jsonl --out /tmp/scifact-onnx
    .venv/bin/semsearch build scripts/demo/articles --out /tmp/demo-onnx
    # news: /tmp/hp.jsonl made as scripts/eval/news-questions/README.md says
    .venv/bin/semsearch build ../shared/seeds /tmp/hp.jsonl --out /tmp/hp-onnx
    .venv/bin/python scripts/calibrate_min_score.py \\
        scifact=/tmp/scifact-onnx:$S/queries.jsonl:$S/qrels/test.tsv \\
        news=/tmp/hp-onnx:scripts/eval/news-questions/queries.jsonl \\
        demo=/tmp/demo-onnx:scripts/demo/QUESTIONS.md

Each collection is NAME=INDEX:QUERIES[:QRELS] (BEIR queries.jsonl, only the judged ones when
QRELS is given; or a QUESTIONS.md list). A collection's queries against its own index are
answerable; against the other indexes, off-topic. Prints the top-1 cosine of each pairing
and, for a range of thresholds, the share of answerable and off-topic queries refused; then
the same shares with each index's own threshold as the build calibrates it
(`semsearch.search.calibration`, recomputed here so indexes built before it count too).
The model is the `model` setting (SEMSEARCH_MODEL).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from semsearch.index.embed import load_embedder
from semsearch.index.storage.vectors import read_vector_index, search_vectors
from semsearch.search.calibration import calibrate_no_match
from semsearch.search.evaluate import read_qrels, read_queries
from semsearch.search.service import SearchService
from semsearch.settings import get_setting


def load_questions(queries: str, qrels: str | None) -> list[str]:
    path = Path(queries)
    if path.suffix == ".md":
        return re.findall(r"^\d+\. (.+?) -> `", path.read_text(encoding="utf-8"), re.MULTILINE)
    texts = read_queries(path)
    if qrels:
        return [texts[q] for q in read_qrels(Path(qrels)) if q in texts]
    return list(texts.values())


def main(specs: list[str]) -> None:
    if len(specs) < 2:
        sys.exit(__doc__)
    embedder = load_embedder(get_setting("model"))
    indexes, questions, calibrated = {}, {}, {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        index_dir, queries, *qrels = rest.split(":")
        service = SearchService(index_dir, embedder)
        indexes[name] = read_vector_index(service.version_dir / "vectors.faiss")
        calibrated[name] = calibrate_no_match(service)
        questions[name] = [
            embedder.encode_query(q) for q in load_questions(queries, *qrels or [None])
        ]
    top = {
        (q, i): np.array([search_vectors(indexes[i], v, 1)[0][1] for v in questions[q]])
        for q in questions
        for i in indexes
    }
    for (q, i), scores in top.items():
        kind = "answerable" if q == i else "off-topic "
        print(
            f"{q:>10} queries -> {i:<10} {kind} n={len(scores):4d} min {scores.min():.3f} "
            f"p5 {np.percentile(scores, 5):.3f} median {np.median(scores):.3f} "
            f"max {scores.max():.3f}"
        )
    answerable = np.concatenate([top[(n, n)] for n in questions])
    off_topic = np.concatenate([s for (q, i), s in top.items() if q != i])
    print(f"answerable {len(answerable)}, off-topic {len(off_topic)}")
    for threshold in (0.2, 0.22, 0.24, 0.25, 0.26, 0.28, 0.3, 0.35):
        print(
            f"min_score {threshold:.2f}: answerable refused {np.mean(answerable < threshold):6.1%}"
            f"  off-topic refused {np.mean(off_topic < threshold):6.1%}"
        )
    own = {n: (c or {}).get("min_score", 0.25) for n, c in calibrated.items()}
    print("calibrated per index: " + ", ".join(f"{n} {t:.3f}" for n, t in own.items()))
    answerable_refused = np.concatenate([top[(n, n)] < own[n] for n in questions])
    off_topic_refused = np.concatenate([s < own[i] for (q, i), s in top.items() if q != i])
    print(
        f"calibrated: answerable refused {np.mean(answerable_refused):6.1%}"
        f"  off-topic refused {np.mean(off_topic_refused):6.1%}"
    )
    for n, c in calibrated.items():
        print(f"  {n}: {c}")


if __name__ == "__main__":
    main(sys.argv[1:])
