"""Relevance evaluation on BEIR-format judgments: nDCG@10, Recall@10/100, MRR@10, latency.

Results are grouped by article, so the ranked list is of article ids, which are the corpus
ids of the input: document-level judgments score directly.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from semsearch.search.service import SearchService


@dataclass(frozen=True)
class EvalReport:
    """Mean metrics over the judged queries, and per-query latency."""

    mode: str
    queries: int
    ndcg_10: float
    recall_10: float
    recall_100: float
    mrr_10: float
    p50_ms: float
    p95_ms: float


def read_queries(path: Path) -> dict[str, str]:
    """BEIR queries.jsonl: {"_id": ..., "text": ...} per line."""
    queries = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                queries[str(record["_id"])] = str(record["text"])
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV with a header: query-id, corpus-id, score."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3 and row[0].strip():
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """nDCG@k with linear gains (as pytrec_eval and BEIR compute it)."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {doc for doc, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def credited_to_kept(relevant: dict[str, int], owners: dict[str, str]) -> dict[str, int]:
    """The judgments with each syndicated copy's grade given to the article indexed for it
    (the best grade where several are judged): the index shows one story once, so the
    judged copies are one document, found when that article is."""
    credited: dict[str, int] = {}
    for doc, grade in relevant.items():
        kept = owners.get(doc, doc)
        credited[kept] = max(credited.get(kept, grade), grade)
    return credited


def evaluate(
    service: SearchService,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    mode: str,
    depth: int = 100,
) -> EvalReport:
    """Run every judged query through the service in `mode` and average the metrics."""
    judged = [qid for qid in qrels if qid in queries]
    if not judged:
        raise ValueError("no query id in the qrels is in the queries file")
    totals = {"ndcg": 0.0, "r10": 0.0, "r100": 0.0, "mrr": 0.0}
    timings = []
    owners = service.copy_owners()
    for qid in judged:
        started = time.perf_counter()
        result = service.search(queries[qid], depth, mode=mode, group="article")
        timings.append((time.perf_counter() - started) * 1000)
        ranked = [hit.article.id for hit in result.hits]
        relevant = credited_to_kept(qrels[qid], owners)
        totals["ndcg"] += ndcg_at(ranked, relevant, 10)
        totals["r10"] += recall_at(ranked, relevant, 10)
        totals["r100"] += recall_at(ranked, relevant, 100)
        totals["mrr"] += mrr_at(ranked, relevant, 10)
    n = len(judged)
    timings.sort()
    return EvalReport(
        mode=mode,
        queries=n,
        ndcg_10=totals["ndcg"] / n,
        recall_10=totals["r10"] / n,
        recall_100=totals["r100"] / n,
        mrr_10=totals["mrr"] / n,
        p50_ms=statistics.median(timings),
        p95_ms=timings[min(n - 1, int(0.95 * n))],
    )
