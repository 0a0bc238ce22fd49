"""Question -> paragraph retrieval in every language of XQuAD, through the product's build
and search service (in-process: no HTTP server, to keep the run within the machine's share),
beside plain baselines; and English questions over the other languages' paragraphs.

    .venv/bin/python scripts/multilingual_table.py --questions 150 --out /tmp/xquad-table \
        > /tmp/xquad-table.md 2> /tmp/xquad-table.log

`--served de` checks that the in-process figures are what the API answers: the language's
e5 index (built in `--out` if it is not there) served by a real `semsearch serve` on
127.0.0.1 (its output in `--out`/serve-L.log), the same questions asked over HTTP
(`/api/search?q=...&k=10&group=article&mode=M`), nDCG@10 in process and served side by side.

Per language L (BEIR folders in ../shared/datasets/xquad, read in place):
- `BM25 English`: bm25s over the paragraphs with English analysis (what every text got
  before languages): the plain baseline.
- `BM25 own`: the product's keyword mode over an index of L's paragraphs, each analysed in
  its detected language (Snowball stemmer and stop words, CJK bigrams, Thai words).
- `e5 dense`: the product's dense mode with the packaged multilingual model alone.
- `product, e5`: hybrid (the product) with the multilingual model.
- `product, MiniLM`: hybrid with the default (English) model and per-language analysis.
- `en -> L`: English questions over L's paragraphs, hybrid and dense with e5, hybrid with
  MiniLM.
nDCG@10 over the first `--questions` questions of each language (file order; all 1,190 cost
too much CPU on a shared 2-core machine), results grouped by article (one paragraph each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
XQUAD = Path(os.environ.get("XQUAD", ROOT.parent / "shared" / "datasets" / "xquad"))
LANGUAGES = ("de", "zh", "ru", "ar", "hi", "th", "el", "es", "tr", "vi", "ro", "en")


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def questions(language: str, count: int) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    from semsearch.search.evaluate import read_qrels, read_queries

    queries = read_queries(XQUAD / language / "queries.jsonl")
    qrels = read_qrels(XQUAD / language / "qrels" / "test.tsv")
    judged = [q for q in queries if q in qrels][:count]
    return {q: queries[q] for q in judged}, {q: qrels[q] for q in judged}


def ndcg(
    service: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]], **options: Any
) -> float:
    from semsearch.search.evaluate import ndcg_at

    total = 0.0
    for qid, text in queries.items():
        result = service.search(text, 10, group="article", **options)
        total += ndcg_at([hit.article.id for hit in result.hits], qrels[qid], 10)
    return total / len(queries)


def bm25_english(
    language: str,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    analysis: str = "en",
) -> float:
    """bm25s with the `analysis` language's words over L's paragraphs (no product)."""
    import numpy as np

    from semsearch.index.text.analysis import bm25s_library, index_words, query_words
    from semsearch.search.evaluate import ndcg_at

    corpus = [
        json.loads(line) for line in (XQUAD / language / "corpus.jsonl").open(encoding="utf-8")
    ]
    ids = [doc["_id"] for doc in corpus]
    bm25 = bm25s_library().BM25(k1=1.2, b=0.75)
    texts = [f"{d['title']}\n{d['text']}" for d in corpus]
    bm25.index(index_words(texts, language=analysis), show_progress=False)
    total = 0.0
    for qid, text in queries.items():
        words = [
            w for w in dict.fromkeys(query_words(text, language=analysis)) if w in bm25.vocab_dict
        ]
        if not words:
            continue
        scores = np.asarray(bm25.get_scores(words))
        top = [ids[i] for i in np.argsort(-scores, kind="stable")[:10] if scores[i] > 0]
        total += ndcg_at(top, qrels[qid], 10)
    return total / len(queries)


def build(language: str, model: str, out: Path) -> Any:
    """An index of L's paragraphs with `model` (kept across runs), and its service."""
    from semsearch.index.build.builder import build_index
    from semsearch.index.embed import load_embedder
    from semsearch.search.service import SearchService

    embedder = load_embedder(model)
    index = out / f"{language}-{model.rsplit(':', 1)[-1]}"
    if not (index / "manifest.json").exists():
        started = time.perf_counter()
        build_index([XQUAD / language / "corpus.jsonl"], index, embedder)
        log(f"built {index.name} in {time.perf_counter() - started:.0f} s")
    return SearchService(index, embedder, {"search_timeout_ms": 0})  # not given up under load


def served_check(language: str, count: int, out: Path) -> None:
    """nDCG@10 of one language's e5 index in process and through a served API, per mode."""
    import urllib.parse
    import urllib.request

    from semsearch.bench.runner import served
    from semsearch.index.embed import MULTILINGUAL_MODEL
    from semsearch.search.evaluate import ndcg_at

    queries, qrels = questions(language, count)
    service = build(language, MULTILINGUAL_MODEL, out)
    modes = ("keyword", "dense", "hybrid")
    local = {mode: ndcg(service, queries, qrels, mode=mode) for mode in modes}
    service.close()
    # The server reads its model and budget from the environment (`semsearch serve`'s
    # options have SEMSEARCH_ variables); no budget, as in process: not given up under load.
    os.environ.update({"SEMSEARCH_MODEL": MULTILINGUAL_MODEL, "SEMSEARCH_SEARCH_TIMEOUT_MS": "0"})
    index = out / f"{language}-{MULTILINGUAL_MODEL.rsplit(':', 1)[-1]}"
    remote: dict[str, float] = {}
    with served(index, out / f"serve-{language}.log", threads=2) as (base, pid, _):
        log(f"serving {index.name} at {base} (pid {pid})")
        for mode in modes:
            total = 0.0
            for qid, text in queries.items():
                params = {"q": text, "k": 10, "group": "article", "mode": mode}
                url = f"{base}/api/search?{urllib.parse.urlencode(params)}"
                with urllib.request.urlopen(url, timeout=120) as answer:
                    hits = json.loads(answer.read())["results"]
                total += ndcg_at([hit["article"]["id"] for hit in hits], qrels[qid], 10)
            remote[mode] = total / len(queries)
    print(f"| {language} e5, {len(queries)} questions | in process | served over HTTP |")
    print("|---|---|---|")
    for mode in modes:
        print(f"| {mode} | {local[mode]:.4f} | {remote[mode]:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("/tmp/xquad-table"))
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument(
        "--keyword-only",
        action="store_true",
        help="only the two plain BM25 columns, every question (no model, no build: seconds)",
    )
    parser.add_argument(
        "--served",
        metavar="LANGUAGES",
        help="only check these languages' e5 nDCG in process against a served API",
    )
    args = parser.parse_args()
    if args.served:
        args.out.mkdir(parents=True, exist_ok=True)
        for language in args.served.split(","):
            served_check(language, args.questions, args.out)
        return
    if args.keyword_only:
        print("| lang | questions | BM25, English analysis | BM25, the language's own analysis |")
        print("|---|---|---|---|")
        for language in args.languages.split(","):
            queries, qrels = questions(language, args.questions)
            english = bm25_english(language, queries, qrels)
            own = bm25_english(language, queries, qrels, analysis=language)
            print(f"| {language} | {len(queries)} | {english:.3f} | {own:.3f} |", flush=True)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    from semsearch.index.embed import MULTILINGUAL_MODEL
    from semsearch.settings import DEFAULT_MODEL

    english, _ = questions("en", args.questions)
    print(
        f"XQuAD, nDCG@10, first {args.questions} questions per language; "
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores "
        f"(shared), load {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| lang | BM25 English | BM25 own analysis | e5 dense | product, e5 (hybrid) "
        "| product, MiniLM (hybrid) | en -> L: product e5 | en -> L: e5 dense "
        "| en -> L: product MiniLM |"
    )
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    results = {}
    for language in args.languages.split(","):
        queries, qrels = questions(language, args.questions)
        row: dict[str, float | None] = {"bm25_english": bm25_english(language, queries, qrels)}
        e5 = build(language, MULTILINGUAL_MODEL, args.out)
        row["bm25_own"] = ndcg(e5, queries, qrels, mode="keyword")
        row["e5_dense"] = ndcg(e5, queries, qrels, mode="dense")
        row["product_e5"] = ndcg(e5, queries, qrels, mode="hybrid")
        minilm = build(language, DEFAULT_MODEL, args.out)
        row["product_minilm"] = ndcg(minilm, queries, qrels, mode="hybrid")
        cross = {q: english[q] for q in queries if q in english}
        if language != "en" and cross:
            row["en_product_e5"] = ndcg(e5, cross, qrels, mode="hybrid")
            row["en_e5_dense"] = ndcg(e5, cross, qrels, mode="dense")
            row["en_product_minilm"] = ndcg(minilm, cross, qrels, mode="hybrid")
        results[language] = row
        cells = [
            row.get(k)
            for k in (
                "bm25_english",
                "bm25_own",
                "e5_dense",
                "product_e5",
                "product_minilm",
                "en_product_e5",
                "en_e5_dense",
                "en_product_minilm",
            )
        ]
        print(
            f"| {language} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |",
            flush=True,
        )
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
        log(f"{language} done")
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
