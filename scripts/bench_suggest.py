"""Search suggestions and "did you mean" at a million passages: build cost, memory, latency.

Suggestions (`semsearch.index.storage.suggestions`, `semsearch.search.suggest.Suggester`):
the table built and written as a build does, then mapped as a server loads it. The titles:
SciFact's 5,183 real ones, plus filler titles made from them as the serving benchmark makes
its filler vectors (recombined around the real ones): each a real title with about half its
words swapped for words drawn from the collection's own word frequencies. One title per
passage, `--titles` of them (default 1,000,000: a 1M-passage index has fewer articles than
passages, so this is the pessimistic end). Latency is timed per prefix length over prefixes
of real titles, wall time and the process's CPU time (steadier on a shared machine).

A live index (`--live`, `semsearch.index.live.suggestions`): the same titles laid out as a
live index of that many passages holds them at rest, one table a segment (the merges' graph
segments of `live_max_segment` titles, mapped from their folders, plus `--inline` tables of
100 titles, as writes make them), with 1% of each segment's articles deleted since it was
made; the first large table made as a merge makes it (from 25 inputs' tables), then the same
prefixes looked up in every table, the weights of an entry added.

Did you mean (`semsearch.search.spelling.Speller`): the vocabulary of SciFact's passages
(index words, document frequencies) grown to `--words` words held by at least three
passages (filler words are real words with letters added, as a larger collection's rarer
terms look), then real words with one or two letters deleted, doubled or swapped corrected.

    .venv/bin/python scripts/bench_suggest.py
    .venv/bin/python scripts/bench_suggest.py --titles 100000 --words 50000
    .venv/bin/python scripts/bench_suggest.py --words 0      # suggestions only
    .venv/bin/python scripts/bench_suggest.py --words 0 --live  # as a live index holds them

Figures go to docs/benchmarks.md ("Suggestions", "Did you mean").
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil

from semsearch.index.live.suggestions import (
    ViewSuggestions,
    merged_suggestions,
    read_segment_suggestions,
    segment_suggestions,
    write_segment_suggestions,
)
from semsearch.index.storage.suggestions import build_suggestions, write_suggestions
from semsearch.index.text.analysis import query_words
from semsearch.search.spelling import MIN_PASSAGES, Speller
from semsearch.search.suggest import Suggester, Suggestion
from semsearch.settings import get_setting

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
PREFIX_LENGTHS = (1, 2, 3, 5, 8, 15, 30)


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1e6


def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    titles, texts = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            titles.append(str(record.get("title") or ""))
            texts.append(str(record.get("text") or ""))
    return titles, texts


def filler_titles(real: list[str], total: int, rng: random.Random) -> list[str]:
    """`total` titles: the real ones, then real ones with about half their words swapped
    for words drawn by the collection's word frequencies."""
    counts = Counter(w for t in real for w in t.split())
    words, weights = list(counts), np.asarray(list(counts.values()), dtype=np.float64)
    drawn = iter(
        np.random.default_rng(7).choice(len(words), size=total * 8, p=weights / weights.sum())
    )
    titles = list(real)
    while len(titles) < total:
        base = real[rng.randrange(len(real))].split()
        titles.append(
            " ".join(w if rng.random() < 0.5 else words[next(drawn)] for w in base) or "untitled"
        )
    return titles


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = np.asarray(values)
    return {
        "p50": round(float(np.percentile(ordered, 50)), 3),
        "p95": round(float(np.percentile(ordered, 95)), 3),
        "p99": round(float(np.percentile(ordered, 99)), 3),
        "max": round(float(ordered.max()), 3),
    }


def bench_suggestions(
    real: list[str], total: int, queries: int, rng: random.Random, folder: Path
) -> dict:
    titles = filler_titles(real, total, rng)
    started, cpu = time.perf_counter(), time.process_time()
    table = build_suggestions(titles)
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    del titles
    started = time.perf_counter()
    write_suggestions(table, folder)
    write_s = time.perf_counter() - started
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    del table
    # What a server pays at load: mapping the files, then the first lookup.
    before = rss_mb()
    started = time.perf_counter()
    suggester = Suggester.open(folder)
    suggester.suggest("a", 8)
    load_ms = (time.perf_counter() - started) * 1000
    print(f"suggestions: {suggester.size:,} entries from {total:,} titles; built (at index "
          f"time) in {build_s:.1f} s ({build_cpu:.0f} CPU s), written in {write_s:.1f} s, "
          f"{size_mb:.0f} MB on disk; mapped + first lookup {load_ms:.1f} ms")  # fmt: skip
    report: dict = {"titles": total, "entries": suggester.size, "build_s": round(build_s, 1),
                    "build_cpu_s": round(build_cpu), "write_s": round(write_s, 1),
                    "files_mb": round(size_mb), "load_ms": round(load_ms, 2),
                    "by_prefix": {}}  # fmt: skip
    report["by_prefix"] = time_prefixes(suggester.suggest, real, queries, rng)
    report["rss_mb_after_lookups"] = round(rss_mb() - before)
    print(f"  {report['rss_mb_after_lookups']} MB more resident after the lookups (mapped pages)")
    return report


def time_prefixes(
    suggest: Callable[[str, int], list[Suggestion]],
    real: list[str],
    queries: int,
    rng: random.Random,
) -> dict[int, dict]:
    """Eight suggestions for `queries` prefixes of real titles a prefix length, timed."""
    by_prefix = {}
    for length in PREFIX_LENGTHS:
        prefixes = [t[:length] for t in rng.sample(real, min(queries, len(real))) if t.strip()]
        walls, cpus, counts = [], [], []
        for prefix in prefixes:
            wall, cpu = time.perf_counter(), time.process_time()
            found = suggest(prefix, 8)
            cpus.append((time.process_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
            counts.append(len(found))
        row = {"wall_ms": percentiles(walls), "cpu_ms_mean": round(float(np.mean(cpus)), 3),
               "mean_suggestions": round(float(np.mean(counts)), 1)}  # fmt: skip
        by_prefix[length] = row
        print(f"  prefix of {length:>2} chars: wall p50 {row['wall_ms']['p50']:.3f} ms, p95 "
              f"{row['wall_ms']['p95']:.3f}, p99 {row['wall_ms']['p99']:.3f}, max "
              f"{row['wall_ms']['max']:.3f}; CPU mean {row['cpu_ms_mean']:.3f} ms; "
              f"{row['mean_suggestions']} suggestions")  # fmt: skip
    return by_prefix


def bench_live_suggestions(
    real: list[str], total: int, inline: int, queries: int, rng: random.Random, folder: Path
) -> dict:
    """The titles as a live index of `total` passages holds them at rest (module docstring)."""
    titles = filler_titles(real, total, rng)
    largest = int(get_setting("live_max_segment"))
    cut = max(0, total - inline * 100)
    spans = [(s, min(s + largest, cut)) for s in range(0, cut, largest)]
    spans += [(s, min(s + 100, total)) for s in range(cut, total, 100)]
    deleted = np.random.default_rng(3)
    report: dict = {"titles": total, "segments": len(spans), "by_prefix": {}}
    parts = []
    for number, (start, end) in enumerate(spans):
        chunk = titles[start:end]
        if end - start < largest:  # a write's inline table, in memory as a blob is read
            made = segment_suggestions(chunk)
        else:
            before, started, cpu = rss_mb(), time.perf_counter(), time.process_time()
            if number == 0:  # as a merge of 25 flat segments makes it, from their tables
                step = -(-len(chunk) // 25)
                inputs = [
                    segment_suggestions(chunk[s : s + step]) for s in range(0, len(chunk), step)
                ]
                started, cpu = time.perf_counter(), time.process_time()
                keys = [
                    np.arange(s, s + len(t.entries))
                    for s, t in zip(range(0, len(chunk), step), inputs, strict=True)
                ]
                made = merged_suggestions([(t, k, None) for t, k in zip(inputs, keys, strict=True)])
                del inputs
                report["merge_table_s"] = round(time.perf_counter() - started, 1)
                report["merge_table_cpu_s"] = round(time.process_time() - cpu, 1)
                report["merge_table_rss_mb"] = round(rss_mb() - before)
                print(f"a merge's table of {len(chunk):,} titles from 25 inputs': "
                      f"{report['merge_table_s']} s ({report['merge_table_cpu_s']} CPU s), "
                      f"{report['merge_table_rss_mb']} MB more resident")  # fmt: skip
            else:
                made = segment_suggestions(chunk)
            write_segment_suggestions(made, folder / str(number))
            made = read_segment_suggestions(folder / str(number))
            assert made is not None
        alive = deleted.random(len(made.entries)) >= 0.01
        parts.append((made, alive))
    del titles
    # What a reader pays when the generation moves (`ViewSuggestions` over a stand-in
    # reader): every table's weights with its deaths off at the first view; then a write
    # that adds a table and deletes an article of the first large segment.
    segments = [SimpleNamespace(id=n, suggestions=made) for n, (made, _) in enumerate(parts)]
    reader = SimpleNamespace(view=None)
    reader.view = lambda: SimpleNamespace(
        segments=segments, article_alive=[alive for _, alive in parts]
    )
    tables = ViewSuggestions(reader)  # type: ignore[arg-type]
    started = time.perf_counter()
    suggester = Suggester(parts=tables.parts())
    report["first_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
    first, alive = parts[0]
    alive = alive.copy()
    alive[int(np.flatnonzero(alive)[0])] = False
    parts[0] = (first, alive)
    made = segment_suggestions(filler_titles(real, 100, rng)[-100:])
    parts.append((made, np.ones(len(made.entries), dtype=bool)))
    segments.append(SimpleNamespace(id=len(segments), suggestions=made))
    started = time.perf_counter()
    suggester = Suggester(parts=tables.parts())
    report["generation_ms"] = round((time.perf_counter() - started) * 1000, 1)
    print(f"live suggestions: {suggester.size:,} entries in {len(parts)} tables "
          f"({len(spans) - inline} of up to {largest:,} titles, {inline + 1} of 100); the "
          f"first view's weights in {report['first_view_ms']} ms, a write's new generation "
          f"(a table more, a death in a large one) in {report['generation_ms']} ms")  # fmt: skip
    before = rss_mb()
    report["by_prefix"] = time_prefixes(suggester.suggest, real, queries, rng)
    report["rss_mb_after_lookups"] = round(rss_mb() - before)
    print(f"  {report['rss_mb_after_lookups']} MB more resident after the lookups (mapped pages)")
    return report


def vocabulary(texts: list[str], size: int, rng: random.Random) -> dict[str, int]:
    """The corpus's index words with their document frequencies, grown to `size` words held
    by at least MIN_PASSAGES passages."""
    frequencies: Counter[str] = Counter()
    for text in texts:
        frequencies.update(set(query_words(text)))
    words = {w: n * 200 for w, n in frequencies.items()}  # a collection 200 times as large
    real = [w for w in words if w.isalpha() and len(w) >= 4]
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(words) < size:
        base = real[rng.randrange(len(real))]
        extra = "".join(rng.choice(letters) for _ in range(rng.randint(1, 4)))
        words.setdefault(base + extra, rng.randint(MIN_PASSAGES, 40))
    return words


def typo(word: str, rng: random.Random) -> str:
    at = rng.randrange(1, len(word))
    kind = rng.choice(("delete", "double", "swap", "delete2"))
    if kind == "delete":
        return word[:at] + word[at + 1 :]
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    if kind == "swap" and at < len(word) - 1:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return word[: at - 1] + word[at + 1 :] if at > 1 else word[1:]


def bench_spelling(texts: list[str], size: int, queries: int, rng: random.Random) -> dict:
    words = vocabulary(texts, size, rng)
    before = rss_mb()
    started = time.perf_counter()
    speller = Speller(words)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    sample = [w for w in rng.sample(sorted(words), min(queries * 4, len(words))) if len(w) >= 6]
    typed = [typo(w, rng) for w in sample[:queries]]
    walls, cpus, corrected = [], [], 0
    for word in typed:
        wall, cpu = time.perf_counter(), time.process_time()
        found = speller.correct(word)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        corrected += found is not None
    report = {"words": speller.size, "build_s": round(build_s, 2), "arrays_mb":
              round(speller.nbytes() / 1e6, 1), "rss_mb": round(memory),
              "wall_ms": percentiles(walls), "cpu_ms_mean": round(float(np.mean(cpus)), 3),
              "corrected_share": round(corrected / len(typed), 3)}  # fmt: skip
    print(f"did you mean: {speller.size:,} words, built in {build_s:.2f} s, lookup arrays "
          f"{report['arrays_mb']} MB ({memory:.0f} MB more resident); a misspelt word: wall "
          f"p50 {report['wall_ms']['p50']:.3f} ms, p95 {report['wall_ms']['p95']:.3f}, max "
          f"{report['wall_ms']['max']:.3f}; CPU mean {report['cpu_ms_mean']:.3f} ms; "
          f"{report['corrected_share']:.0%} given a correction")  # fmt: skip
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=150_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--live", action="store_true", help="the titles as a live index's segments hold them"
    )
    parser.add_argument("--inline", type=int, default=20, help="write tables (--live)")
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus} is absent: the shared SciFact corpus is needed")
    rng = random.Random(25)
    real, texts = read_corpus(args.corpus)
    report = {}
    if args.titles:
        with tempfile.TemporaryDirectory(prefix="bench-suggest-") as folder:
            if args.live:
                report["live_suggestions"] = bench_live_suggestions(
                    real, args.titles, args.inline, args.queries, rng, Path(folder)
                )
            else:
                report["suggestions"] = bench_suggestions(
                    real, args.titles, args.queries, rng, Path(folder) / "suggest"
                )
    if args.words:
        report["spelling"] = bench_spelling(texts, args.words, args.queries, rng)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
