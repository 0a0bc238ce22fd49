#!/usr/bin/env python
"""The relevance table: every judged collection measured the same way, against plain baselines.

    .venv/bin/python scripts/eval/make_collections.py --out /tmp/team/relevance/collections
    .venv/bin/python scripts/relevance_table.py --collections-dir /tmp/team/relevance/collections \
        --out /tmp/team/relevance/table [--collections scifact,news] [--rebuild]

For each collection (made by `scripts/eval/make_collections.py`):

1. the index: built with `semsearch build` and its defaults (fusion tuned, calibration on)
   into `OUT/indexes/NAME`, by the code this script runs on; a cached index is reused
   unless `--rebuild` (or unless the code refuses it: then it is rebuilt);
2. dense, keyword and hybrid through `semsearch.search.evaluate.evaluate`, the code of
   `semsearch eval` (k=100, group=article), each query's ranked articles recorded on the
   way to give paired standard errors;
3. the fusion the build's probes picked (the manifest's `fusion` block, with why), and
   for reference every setting of the tuning grid on the judgments, fused from lists
   drawn once per query (as `scripts/fusion_study.py` does, passage level, each article at
   its best passage; the same depth as the service's first round);
4. whole-article baselines over the same model: one vector per article (title + text, cut
   by the model at its window; FAISS IndexFlatIP), BM25 over each article's title + text
   (bm25s, the product's word analysis and k1/b), and a plain RRF (k=60) of those two.

Writes `OUT/table.md` (the table, the command, date, code version and machine) and
`OUT/figures.json` (every figure), and prints the table. The target: hybrid at least the
better of dense and keyword + 0.01, and at least the whole-article RRF. The judgments are
for measuring only: nothing here feeds back into the product.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from semsearch.errors import SemsearchError
from semsearch.search.backends.directory import directory_backend
from semsearch.search.evaluate import (
    credited_to_kept,
    evaluate,
    mrr_at,
    ndcg_at,
    read_qrels,
    read_queries,
)
from semsearch.search.service import SearchService

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ("scifact", "news", "scifact-one", "news-one", "paragraphs", "paragraphs-short")
MODES = ("dense", "keyword", "hybrid")
K = 100  # what `semsearch eval` asks for
RRF_K = 60
TARGET_MARGIN = 0.01
#: No search time budget: a question given up on a busy machine would score 0 (as `semsearch
#: eval` opens its index).
UNTIMED = {"search_timeout_ms": 0}


class RecordingService:
    """The service as `evaluate` sees it, keeping each query's ranked article ids and the
    date filters it read from the query; `dates=False` asks with infer_dates=false."""

    def __init__(self, service: SearchService, dates: bool = True) -> None:
        self._service = service
        self._dates = dates
        self.ranked: dict[tuple[str, str], list[str]] = {}
        self.inferred: dict[tuple[str, str], str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def search(self, query: str, k: int | None = None, **options: Any) -> Any:
        if not self._dates:  # a search parameter, passed where the filters go
            options["filters"] = {**(options.get("filters") or {}), "infer_dates": "false"}
        result = self._service.search(query, k, **options)
        key = (str(options.get("mode")), query)
        self.ranked[key] = [h.article.id for h in result.hits]
        if result.inferred:
            self.inferred[key] = str(result.inferred.get("phrase"))
        return result


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired(better: list[float], baseline: list[float]) -> tuple[float, float]:
    """Mean paired difference and its standard error."""
    diffs = [a - b for a, b in zip(better, baseline, strict=True)]
    if len(diffs) < 2:
        return mean(diffs), 0.0
    m = mean(diffs)
    return m, math.sqrt(sum((d - m) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs))


def code_version() -> dict[str, Any]:
    """Which code ran: the folder of the `semsearch` package, its commit and changed files."""
    import semsearch

    package = Path(semsearch.__file__).resolve().parents[1]
    record: dict[str, Any] = {"path": str(package)}
    stamp = package / "COMMIT"  # a snapshot made with `git archive` carries its commit
    if stamp.exists():
        record["commit"] = stamp.read_text().strip()
        record["changed"] = []
        return record
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read only: never touch the git index
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, env=env
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "index", "search", "semsearch", "web"],
            cwd=package,
            capture_output=True,
            text=True,
            env=env,
        )
    except OSError:
        return record
    record["commit"] = commit.stdout.strip() or None
    record["changed"] = [line[3:] for line in status.stdout.splitlines()]
    return record


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {os.cpu_count()} cores, load {load:.1f} at the start"


# -- building ---------------------------------------------------------------------------------


def build(collection: dict[str, Any], index: Path, log: Path) -> float:
    """`semsearch build INPUTS --out INDEX` with the defaults, by this Python's semsearch."""
    command = [sys.executable, "-m", "semsearch", "build", *collection["inputs"]]
    command += ["--out", str(index), "--quiet"]
    print(f"  building: {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"the build of {collection['name']} failed; see {log}")
    built_by(index).write_text(json.dumps(code_version()) + "\n", encoding="utf-8")
    return seconds


def built_by(index: Path) -> Path:
    """Where the code version that built a cached index is noted."""
    return index.parent / f"{index.name}.code.json"


def same_code(first: dict[str, Any] | None, second: dict[str, Any]) -> bool:
    """Whether two code versions are surely the same: one commit, no changed files."""
    if not first:
        return False
    return first.get("commit") == second.get("commit") and not (
        first.get("changed") or second.get("changed")
    )


def open_index(
    collection: dict[str, Any], out: Path, rebuild: bool
) -> tuple[SearchService, dict[str, Any]]:
    """The collection's index (built, or the cached one) loaded in a service."""
    index = out / "indexes" / collection["name"]
    log = out / "indexes" / f"{collection['name']}.build.txt"
    index.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"index": str(index), "build_log": str(log)}
    if rebuild or not index.exists():
        info["build_seconds"] = round(build(collection, index, log), 1)
    try:
        service = SearchService.open(index, UNTIMED)
    except SemsearchError as exc:
        if "build_seconds" in info:
            raise
        print(f"  the cached index is refused ({exc}): rebuilding", flush=True)
        info["build_seconds"] = round(build(collection, index, log), 1)
        service = SearchService.open(index, UNTIMED)
    info["cached"] = "build_seconds" not in info
    noted = built_by(index)
    info["built_by"] = json.loads(noted.read_text(encoding="utf-8")) if noted.exists() else None
    # Reused indexes are not rebuilt (builds take minutes), but the table says when the
    # code that measures them is not surely the code that built them.
    info["built_by_other_code"] = not same_code(info["built_by"], code_version())
    if info["cached"] and info["built_by_other_code"]:
        print("  the cached index may be from other code: --rebuild to build it again")
    if log.exists():
        info["build_summary"] = log.read_text(encoding="utf-8").strip().splitlines()[-12:]
    return service, info


# -- the measures -----------------------------------------------------------------------------


def product_modes(
    service: SearchService,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    dates: bool = True,
) -> tuple[dict[str, Any], dict[str, list[float]], list[str]]:
    """`semsearch eval`'s figures per mode, and each judged query's nDCG@10 per mode; with
    `dates` off, the same with infer_dates=false."""
    recorder = RecordingService(service, dates)
    owners = service.copy_owners()
    judged = [q for q in qrels if q in queries]
    reports, per_query = {}, {}
    for mode in MODES:
        report = evaluate(cast(SearchService, recorder), queries, qrels, mode)
        scores = [
            ndcg_at(recorder.ranked[(mode, queries[q])], credited_to_kept(qrels[q], owners), 10)
            for q in judged
        ]
        # The recorded lists must be the ones eval scored, or the paired figures mean nothing.
        if abs(mean(scores) - report.ndcg_10) > 1e-9:
            raise SystemExit(f"{mode}: recorded nDCG@10 {mean(scores)} != eval's {report.ndcg_10}")
        reports[mode] = {
            "ndcg_10": round(report.ndcg_10, 4),
            "recall_10": round(report.recall_10, 4),
            "recall_100": round(report.recall_100, 4),
            "mrr_10": round(report.mrr_10, 4),
            "p50_ms": round(report.p50_ms, 1),
            "queries": report.queries,
            "dates_inferred": sum(m == mode for m, _ in recorder.inferred),
        }
        per_query[mode] = scores
    return reports, per_query, judged


def first_depth(service: SearchService) -> int:
    """How deep the service's first round draws each list for k=100 grouped by article."""
    from semsearch.settings import get_setting

    return max(int(get_setting("candidates", service.settings)), 4 * K, 10 * K)


def fusion_grid(
    service: SearchService,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    judged: list[str],
) -> dict[str, float]:
    """nDCG@10 of every setting of the tuning grid, fused from lists drawn once per query."""
    from semsearch.index.storage.vectors import search_vectors
    from semsearch.search.fusion import fuse
    from semsearch.search.tuning import GRID, question_scale

    depth = first_depth(service)
    owners = service.copy_owners()
    with closing(service.backend.store.connect()) as db:
        chunk_article = dict(db.execute("SELECT id, article_id FROM chunks").fetchall())
    totals = dict.fromkeys(GRID, 0.0)
    for qid in judged:
        text = queries[qid]
        dense = search_vectors(
            directory_backend(service.backend).vectors, service.embedder.encode_query(text), depth
        )
        keyword_index = directory_backend(service.backend).keyword
        keyword = keyword_index.search(text, depth)
        scale = question_scale(keyword_index, text, service.ranker.settings.cosine_floor)
        relevant = credited_to_kept(qrels[qid], owners)
        for fusion in GRID:
            seen: dict[str, None] = {}
            for chunk_id, _ in fuse(dense, keyword, fusion, scale):
                seen.setdefault(chunk_article[chunk_id], None)
                if len(seen) >= 10:
                    break
            totals[fusion] += ndcg_at(list(seen), relevant, 10)
    return {f"{f.method}:{f.dense_weight}": round(t / len(judged), 4) for f, t in totals.items()}


def whole_articles(
    service: SearchService,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    judged: list[str],
    cache: Path,
) -> dict[str, list[float]]:
    """Per-query nDCG@10 (and MRR@10) of whole-article dense, BM25 and their RRF."""
    import faiss

    from semsearch.index.storage.keyword_index import K1, B
    from semsearch.index.text.analysis import bm25s_library, index_words, new_stemmer, query_words

    with closing(service.backend.store.connect()) as db:
        articles = db.execute("SELECT id, title, text FROM articles ORDER BY id").fetchall()
    ids = [a[0] for a in articles]
    texts = [f"{title}\n{text}" for _, title, text in articles]
    name = f"article-vectors-{service.manifest.version}.npy"
    cached = cache / name
    if cached.exists():
        vectors = np.load(cached)
    else:
        started = time.perf_counter()
        vectors = np.asarray(service.embedder.encode_documents(texts), dtype=np.float32)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
        print(f"  {len(texts)} article vectors in {time.perf_counter() - started:.0f} s")
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    stemmer = new_stemmer()
    bm25 = bm25s_library().BM25(k1=K1, b=B)
    bm25.index(index_words(texts, stemmer), show_progress=False)
    depth = min(first_depth(service), len(ids))
    owners = service.copy_owners()
    out: dict[str, list[float]] = {"dense": [], "bm25": [], "rrf": [], "rrf_mrr": []}
    for qid in judged:
        text = queries[qid]
        vector = service.embedder.encode_query(text)[None, :].astype(np.float32)
        _, rows = flat.search(vector, depth)
        dense_rows = [int(r) for r in rows[0] if r >= 0]
        words = [w for w in dict.fromkeys(query_words(text, stemmer)) if w in bm25.vocab_dict]
        keyword_rows: list[int] = []
        if words:
            scores = np.asarray(bm25.get_scores(words))
            top = np.argsort(-scores, kind="stable")[:depth]
            keyword_rows = [int(r) for r in top if scores[r] > 0]
        fused: dict[int, float] = {}
        for ranked in (dense_rows, keyword_rows):
            for rank, row in enumerate(ranked, start=1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
        rrf_rows = sorted(fused, key=lambda r: (-fused[r], r))
        relevant = credited_to_kept(qrels[qid], owners)
        out["dense"].append(ndcg_at([ids[r] for r in dense_rows], relevant, 10))
        out["bm25"].append(ndcg_at([ids[r] for r in keyword_rows], relevant, 10))
        out["rrf"].append(ndcg_at([ids[r] for r in rrf_rows], relevant, 10))
        out["rrf_mrr"].append(mrr_at([ids[r] for r in rrf_rows], relevant, 10))
    return out


# -- one collection ---------------------------------------------------------------------------


def probes_picked(fusion: dict[str, Any] | None, summary: list[str]) -> str:
    """The manifest's fusion block in a few words: what was picked, and why (for an index
    the build did not tune, the build summary's reason)."""
    if not fusion:
        said = [line for line in summary if line.startswith("hybrid fusion:")]
        return said[-1].removeprefix("hybrid fusion: ") if said else "not tuned: defaults"
    method, weight = fusion.get("method"), fusion.get("dense_weight")
    text = f"{method} {weight}"
    best = fusion.get("best_probe_setting")
    gain, error = fusion.get("best_gain_over_default"), fusion.get("best_gain_standard_error")
    reason, kind = fusion.get("reason"), fusion.get("probe_kind")
    if isinstance(reason, str):  # the tuner says why in words: its own account wins
        text += f" ({fusion.get('probes')} {kind + ' ' if kind else ''}probes): {reason}"
    elif best is not None and gain is not None and error is not None:
        if best == f"{method}:{weight}" and gain == 0:
            text += " (the probes' best, and the default"
        elif best == f"{method}:{weight}":
            text += f" (the probes' best, {gain:+.4f} ± {error:.4f} over the default"
        else:
            text += f" (default kept: best {best} only {gain:+.4f} ± {error:.4f}"
        text += f", {fusion.get('probes')} probes)"
    # Shown above, or said by the reason (chosen_by); any other words the tuner adds follow.
    known = {"method", "dense_weight", "best_probe_setting", "grid", "reason", "probe_kind"}
    known |= {"chosen_by"}
    for key, value in fusion.items():
        if isinstance(value, str) and key not in known:
            text += f"; {key}: {value}"
    return text


def measure(collection: dict[str, Any], out: Path, rebuild: bool) -> dict[str, Any]:
    name = collection["name"]
    print(f"{name}:", flush=True)
    service, info = open_index(collection, out, rebuild)
    queries = read_queries(Path(collection["queries"]))
    qrels = read_qrels(Path(collection["qrels"]))
    counts = service.manifest.counts
    started = time.perf_counter()
    modes, per_query, judged = product_modes(service, queries, qrels)
    eval_seconds = time.perf_counter() - started
    # A long query often names a year ("in 2012"): read as a date filter, it can rule out
    # the answer. Measured again without that where it happened.
    undated = None
    if any(m["dates_inferred"] for m in modes.values()):
        undated, _, _ = product_modes(service, queries, qrels, dates=False)
    grid = fusion_grid(service, queries, qrels, judged)
    baselines = whole_articles(service, queries, qrels, judged, out / "cache" / name)
    fusion = service.manifest.fusion
    picked = service.fusion()
    picked_key = f"{picked.method}:{picked.dense_weight}"
    best_key = max(grid, key=lambda key: grid[key])
    hybrid = modes["hybrid"]["ndcg_10"]
    better_single = max(("dense", "keyword"), key=lambda m: modes[m]["ndcg_10"])
    rrf = round(mean(baselines["rrf"]), 4)
    over_single = paired(per_query["hybrid"], per_query[better_single])
    over_rrf = paired(per_query["hybrid"], baselines["rrf"])
    meets_single = hybrid >= modes[better_single]["ndcg_10"] + TARGET_MARGIN
    meets_rrf = hybrid >= rrf
    service.close()
    figures = {
        "name": name,
        "notes": collection.get("notes", ""),
        "queries": len(judged),
        "articles": counts.get("articles"),
        "chunks": counts.get("chunks"),
        "passages_per_article": round(counts["chunks"] / counts["articles"], 2),
        "modes": modes,
        "modes_infer_dates_off": undated,
        "fusion_manifest": fusion,
        "fusion_used": picked_key,
        "probes_picked": probes_picked(fusion, info.get("build_summary", [])),
        "no_match": {
            k: v for k, v in (service.manifest.no_match or {}).items() if not isinstance(v, dict)
        },
        "grid": grid,
        "grid_at_used": grid.get(picked_key),
        "grid_best": {"setting": best_key, "ndcg_10": grid[best_key]},
        "whole_article": {
            "dense": round(mean(baselines["dense"]), 4),
            "bm25": round(mean(baselines["bm25"]), 4),
            "rrf": rrf,
            "rrf_mrr_10": round(mean(baselines["rrf_mrr"]), 4),
        },
        "hybrid_minus_better_single": {
            "single": better_single,
            "gain": round(over_single[0], 4),
            "standard_error": round(over_single[1], 4),
        },
        "hybrid_minus_whole_article_rrf": {
            "gain": round(over_rrf[0], 4),
            "standard_error": round(over_rrf[1], 4),
        },
        "target": {"over_single": meets_single, "over_rrf": meets_rrf},
        "eval_seconds": round(eval_seconds, 1),
        **info,
    }
    print(
        f"  hybrid {hybrid:.4f} dense {modes['dense']['ndcg_10']:.4f} keyword "
        f"{modes['keyword']['ndcg_10']:.4f}; whole-article RRF {rrf:.4f}",
        flush=True,
    )
    return figures


# -- the table --------------------------------------------------------------------------------


def target_cell(figures: dict[str, Any]) -> str:
    target = figures["target"]
    if target["over_single"] and target["over_rrf"]:
        return "**yes**"
    misses = []
    if not target["over_single"]:
        single = figures["hybrid_minus_better_single"]
        misses.append(f"{single['gain']:+.4f} over {single['single']}")
    if not target["over_rrf"]:
        misses.append(f"{figures['hybrid_minus_whole_article_rrf']['gain']:+.4f} vs RRF")
    return "no (" + "; ".join(misses) + ")"


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| collection | passages/article | dense | keyword | hybrid (tuned) | probes picked "
        "| grid best | whole-article dense | whole-article BM25 | whole-article RRF "
        "| target met? |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m, w = r["modes"], r["whole_article"]
        lines.append(
            f"| {r['name']} ({r['queries']} q, {r['articles']:,} articles) "
            f"| {r['passages_per_article']:.2f} | {m['dense']['ndcg_10']:.4f} "
            f"| {m['keyword']['ndcg_10']:.4f} | **{m['hybrid']['ndcg_10']:.4f}** "
            f"| {r['probes_picked']} "
            f"| {r['grid_best']['setting']} {r['grid_best']['ndcg_10']:.4f} "
            f"| {w['dense']:.4f} | {w['bm25']:.4f} | {w['rrf']:.4f} | {target_cell(r)} |"
        )
    lines += [
        "",
        "| collection | hybrid − better single (± s.e.) | hybrid − whole-article RRF (± s.e.) "
        "| grid at the setting used | calibrated min_score | queries read as dated "
        "| dense / keyword / hybrid, infer_dates=false |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s, a = r["hybrid_minus_better_single"], r["hybrid_minus_whole_article_rrf"]
        used, undated = r["grid_at_used"], r["modes_infer_dates_off"]
        dated = r["modes"]["hybrid"]["dates_inferred"]
        lines.append(
            f"| {r['name']} | {s['gain']:+.4f} ± {s['standard_error']:.4f} ({s['single']}) "
            f"| {a['gain']:+.4f} ± {a['standard_error']:.4f} "
            f"| {r['fusion_used']} {'n/a' if used is None else f'{used:.4f}'} "
            f"| {r['no_match'].get('min_score', 'n/a')} | {dated} | "
            + (
                " / ".join(f"{undated[m]['ndcg_10']:.4f}" for m in MODES) + " |"
                if undated
                else "(as above) |"
            )
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--collections-dir",
        type=Path,
        default=Path("/tmp/team/relevance/collections"),
        help="where scripts/eval/make_collections.py wrote the collections",
    )
    parser.add_argument(
        "--collections", default=None, help="comma-separated names [default: all made]"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/team/relevance/table"))
    parser.add_argument("--rebuild", action="store_true", help="build even where cached")
    args = parser.parse_args()
    wanted = (
        [n.strip() for n in args.collections.split(",") if n.strip()]
        if args.collections
        else [n for n in COLLECTIONS if (args.collections_dir / n / "collection.json").exists()]
    )
    started = datetime.now(UTC)
    header: dict[str, Any] = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "code": code_version(),
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in wanted:
        path = args.collections_dir / name / "collection.json"
        if not path.exists():
            raise SystemExit(f"{path} is absent: run scripts/eval/make_collections.py first")
        results.append(
            measure(json.loads(path.read_text(encoding="utf-8")), args.out, args.rebuild)
        )
        # Written after each collection: a long run leaves what it has measured.
        (args.out / "figures.json").write_text(
            json.dumps({**header, "collections": results}, indent=2) + "\n", encoding="utf-8"
        )
    code = header["code"]
    changed = f", {len(code.get('changed', []))} files changed" if code.get("changed") else ""
    table = render(results)
    text = (
        f"{table}\n\n`{header['command']}`, {header['date']}, code {code.get('commit')}"
        f"{changed} ({code['path']}), {header['machine']}.\n"
    )
    stale = [r for r in results if r["cached"] and r["built_by_other_code"]]
    for r in stale:
        by = r["built_by"] or {}
        text += (
            f"\nWarning: the {r['name']} index was cached, built by code {by.get('commit')} "
            f"with {len(by.get('changed') or [])} files changed (unknown if none is noted); "
            "--rebuild builds it with the code measuring it.\n"
        )
    (args.out / "table.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
