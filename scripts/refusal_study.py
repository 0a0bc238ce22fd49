#!/usr/bin/env python
"""When may hybrid refuse ("no good match")? The evidence of answerable and off-topic questions.

    S=../shared/datasets/scifact Q=scripts/eval/news-questions/queries.jsonl
    R=scripts/eval/news-questions/qrels.tsv
    .venv/bin/python scripts/refusal_study.py --same news,news-one --same scifact,scifact-one \\
        news=IDX/news:$Q:$R news-one=IDX/news-one:$Q:$R \\
        scifact=IDX/scifact:$S/queries.jsonl:$S/qrels/test.tsv \\
        scifact-one=IDX/scifact-one:$S/queries.jsonl:$S/qrels/test.tsv \\
        demo=IDX/demo:scripts/demo/QUESTIONS.md [--json OUT.json] [--check]

(the indexes: `semsearch build` of the collections `scripts/eval/make_collections.py`
makes, as `scripts/relevance_table.py` builds them, and of scripts/demo/articles.)

Each collection is NAME=INDEX:QUERIES[:QRELS], as `scripts/calibrate_min_score.py` reads
them. A set's questions against its own index are answerable; against the other indexes
(except those `--same` names as the same articles) off-topic, and so are the calibration's
everyday probes (`calibration.OFF_TOPIC`) against every index. For each pairing it records
what the refusal can read: the dense top-1 cosine, the index's threshold (the manifest's
calibrated `no_match`, as the service loads it), whether some passage holds every query
word (`has_all_terms`), and the share of the query's IDF that the keyword list's best
passage holds (`idf_coverage`), the dense and keyword lists' first articles and the dense
top-10 cosines. Then, for each candidate rule, the answerable questions it refuses per set
(and the share it would refuse had every top-1 fallen just under the threshold, as on a
set where the model reads the questions worse: what keyword evidence can rescue) and the
off-topic ones it refuses. `--check` also asks the service itself (hybrid, k=10, spelling
correction as served) and counts its refusals. Figures: docs/relevance.md, "No good match".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calibrate_min_score import load_questions  # a sibling script (run from scripts/)

from semsearch.index.embed import load_embedder
from semsearch.search.calibration import OFF_TOPIC
from semsearch.search.evaluate import read_qrels, read_queries
from semsearch.search.service import SearchService
from semsearch.settings import get_setting

#: The margin counted under each set: answerable questions whose top-1 is this close to
#: their index's threshold (where a set not measured here may fall under it).
SHIFT = 0.05
#: How deep the dense and keyword lists are read (for their agreement).
TOP = 10


@dataclass(frozen=True)
class Evidence:
    """What a refusal can read about one question against one index."""

    questions: str  # the set's name, or "probes" for calibration.OFF_TOPIC
    index: str
    answerable: bool
    text: str
    top1: float
    threshold: float
    exact: bool
    idf_coverage: float  # of the keyword list's best passage; 0 when the list is empty
    words: int
    dense_articles: list[str]  # the dense list's top 10 passages' articles, best first
    keyword_articles: list[str]  # the keyword list's
    dense_scores: list[float]  # the dense list's top 10 cosines
    refused_by_service: bool | None = None
    #: The judged relevant articles of an answerable question (empty without judgments).
    relevant: list[str] = field(default_factory=list)


#: A rule: (top-1 cosine, threshold, evidence) -> refused.
Rule = Callable[[float, float, Evidence], bool]


def rules() -> dict[str, Rule]:
    """The candidates: today's (dense alone; hybrid with the exact-match rescue), a lower
    threshold, the keyword list's best passage's IDF share, the two lists' agreement, both,
    a band under the threshold, and how far the top-1 stands out of the dense top 10. Every
    rule but the first two keeps the exact-match rescue."""

    def rescue(keep: Callable[[Evidence], bool]) -> Rule:
        return lambda s, t, e: s < t and not e.exact and not keep(e)

    found: dict[str, Rule] = {
        "dense: top1 < t": lambda s, t, e: s < t,
        "hybrid today: top1 < t, no passage with every word": rescue(lambda e: False),
    }
    for cut in (0.03, 0.05):
        found[f"lower threshold: top1 < t - {cut}"] = lambda s, t, e, c=cut: s < t - c
    for share in (0.3, 0.4, 0.5):
        found[f"IDF share >= {share} rescues"] = rescue(lambda e, c=share: e.idf_coverage >= c)
    for depth in (1, 3):
        found[f"agreement at depth {depth} rescues"] = rescue(lambda e, d=depth: agree(e, d))
    for depth, share in ((1, 0.2), (1, 0.3), (1, 0.4), (3, 0.3), (10, 0.3)):
        found[f"agreement at depth {depth} and IDF share >= {share} rescue"] = rescue(
            lambda e, d=depth, c=share: agree(e, d) and e.idf_coverage >= c
        )
    chosen = rescue(lambda e: agree(e, 1) and e.idf_coverage >= 0.3)  # the service's
    found["top1 < t - 0.1, or as depth 1 and share 0.3"] = lambda s, t, e: (
        s < t - 0.1 or chosen(s, t, e)
    )
    found["top1 - top10 >= 0.15 rescues"] = rescue(
        lambda e: e.dense_scores[0] - e.dense_scores[-1] >= 0.15
    )
    return found


def agree(e: Evidence, depth: int) -> bool:
    """Whether the keyword list's best passage's article is among the articles of the dense
    list's first `depth` passages (`Ranker._lists_agree`)."""
    return bool(e.keyword_articles) and e.keyword_articles[0] in e.dense_articles[:depth]


def open_collections(
    specs: list[str], embedder: Any
) -> tuple[dict[str, SearchService], dict[str, list[str]]]:
    """Each collection's service (NAME=INDEX:QUERIES[:QRELS]) and questions, and the
    calibration's everyday probes as the questions of "probes"."""
    services, questions = {}, {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        index_dir, queries, *qrels = rest.split(":")
        services[name] = SearchService(index_dir, embedder, {"search_timeout_ms": 0})
        questions[name] = load_questions(queries, *qrels or [None])
    questions["probes"] = list(OFF_TOPIC)
    return services, questions


def related(a: str, b: str, same: list[set[str]]) -> bool:
    """Whether two collections hold the same articles (one name, or named together by
    `--same`): one's questions are then neither answerable in the other nor off-topic."""
    return a != b and any({a, b} <= group for group in same)


def gather(
    specs: list[str], same: list[set[str]], check: bool
) -> tuple[list[Evidence], dict[str, float]]:
    embedder = load_embedder(get_setting("model"))
    services, questions = open_collections(specs, embedder)
    relevant: dict[str, dict[str, list[str]]] = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        _, queries, *qrels = rest.split(":")
        if qrels:
            ids = {text: qid for qid, text in read_queries(Path(queries)).items()}
            judged = read_qrels(Path(qrels[0]))
            relevant[name] = {t: sorted(judged.get(ids[t], {})) for t in questions[name]}
    thresholds = {n: s.ranker.settings.min_score for n, s in services.items()}

    found = []
    for q_name, texts in questions.items():
        vectors = [embedder.encode_query(t) for t in texts]
        for i_name, service in services.items():
            if related(q_name, i_name, same):
                continue  # the same articles: neither answerable here nor off-topic
            backend = service.ranker.backend
            article_of = backend.store.chunk_articles()
            for text, vector in zip(texts, vectors, strict=True):
                dense = backend.dense(vector, TOP, None)
                keyword = backend.keyword_search(text, TOP, None, None)
                coverage = backend.idf_coverage(text, keyword[0][0], None) if keyword else 0.0
                refused = None
                if check:
                    result = service.search(text, 10, mode="hybrid")
                    refused = bool(result.reason) and "close enough" in str(result.reason)
                found.append(
                    Evidence(
                        q_name,
                        i_name,
                        q_name == i_name,
                        text,
                        round(float(dense[0][1]) if dense else -1.0, 4),
                        thresholds[i_name],
                        backend.has_all_terms(text, None, None),
                        round(float(coverage or 0.0), 4),
                        len(text.split()),
                        [article_of[cid] for cid, _ in dense],
                        [article_of[cid] for cid, _ in keyword],
                        [round(float(score), 4) for _, score in dense],
                        refused,
                        relevant.get(q_name, {}).get(text, []) if q_name == i_name else [],
                    )
                )
    return found, thresholds


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def report(found: list[Evidence], thresholds: dict[str, float]) -> None:
    indexes = list(thresholds)
    answerable = {n: [e for e in found if e.answerable and e.index == n] for n in indexes}
    off = [e for e in found if not e.answerable]
    print("thresholds: " + ", ".join(f"{n} {t:.3f}" for n, t in thresholds.items()))
    for n, items in answerable.items():
        near = sum(e.top1 < e.threshold + SHIFT for e in items)
        low = min(items, key=lambda e: e.top1)
        print(
            f"{n}: {len(items)} answerable, lowest top1 {low.top1:.3f} (threshold "
            f"{low.threshold:.3f}), {near} within {SHIFT} of the threshold; off-topic "
            f"against it: {sum(e.index == n for e in off)}"
        )
    print(
        "\nanswerable refused: as measured / had every top-1 fallen just under its threshold "
        "(the share a rule leaves without rescue)"
    )
    head = " | ".join(indexes)
    names = ", ".join(indexes)
    print(f"\n| rule | {head} | off-topic refused | off-topic refused, per index ({names}) |")
    print("|---" * (len(indexes) + 3) + "|")
    for name, rule in rules().items():
        cells = []
        for n in indexes:
            items = answerable[n]
            now = sum(rule(e.top1, e.threshold, e) for e in items)
            under = sum(rule(e.threshold - 0.001, e.threshold, e) for e in items)
            cells.append(f"{now} / {percent(under, len(items))}")
        refused = sum(rule(e.top1, e.threshold, e) for e in off)
        per_index = ", ".join(
            percent(
                sum(rule(e.top1, e.threshold, e) for e in off if e.index == n),
                sum(e.index == n for e in off),
            )
            for n in indexes
        )
        print(f"| {name} | {' | '.join(cells)} | {percent(refused, len(off))} | {per_index} |")
    print(
        "\nanswerable questions the service's rule would rescue under the threshold "
        "(agreement at depth 1, IDF share >= 0.3), and those whose agreed article is judged "
        "relevant:"
    )
    for n, items in answerable.items():
        rescued = [e for e in items if agree(e, 1) and e.idf_coverage >= 0.3]
        right = sum(e.keyword_articles[0] in e.relevant for e in rescued)
        judged = "" if not any(e.relevant for e in items) else f", {right} relevant"
        print(f"  {n}: {len(rescued)} of {len(items)}{judged}")
    checked = [e for e in found if e.refused_by_service is not None]
    if checked:
        print("\nthe service itself (hybrid, k=10, spelling correction as served):")
        for n in indexes:
            a = [e for e in checked if e.answerable and e.index == n]
            o = [e for e in checked if not e.answerable and e.index == n]
            print(
                f"  {n}: answerable refused {sum(bool(e.refused_by_service) for e in a)} of "
                f"{len(a)}, off-topic refused "
                f"{percent(sum(bool(e.refused_by_service) for e in o), len(o))}"
            )
        o = [e for e in checked if not e.answerable]
        print(f"  off-topic refused {percent(sum(bool(e.refused_by_service) for e in o), len(o))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="*", help="NAME=INDEX:QUERIES[:QRELS]")
    parser.add_argument("--same", action="append", default=[], help="names of one collection")
    parser.add_argument("--json", type=Path, help="write every question's evidence here")
    parser.add_argument(
        "--from-json", action="store_true", help="report from --json, without searching"
    )
    parser.add_argument("--check", action="store_true", help="also count the service's refusals")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.json.read_text(encoding="utf-8"))
        found = [Evidence(**e) for e in saved["evidence"]]
        thresholds = saved["thresholds"]
    else:
        same = [set(s.split(",")) for s in args.same]
        found, thresholds = gather(args.specs, same, args.check)
        if args.json:
            args.json.write_text(
                json.dumps({"thresholds": thresholds, "evidence": [asdict(e) for e in found]})
            )
    report(found, thresholds)


if __name__ == "__main__":
    main()
