"""Score the HTML reader's body extraction on the article-extraction benchmark.

The metric is the benchmark's own (its SOURCE.md and `evaluate.py`): words (`\\w+`),
lower-cased, 4-word shingles counted with multiplicity, true/false positives and false
negatives per page normalised to sum to one, precision and recall averaged over the pages,
F1 from the two averages. Also the reader's throughput in pages per second.

    .venv/bin/python scripts/bench_extraction.py                  # the reader as shipped
    .venv/bin/python scripts/bench_extraction.py --study          # settings compared
    .venv/bin/python scripts/bench_extraction.py --split 2        # half the pages only

`--split N` keeps every N-th page (by sorted name) apart and reports the figures on the
kept-apart pages and on the rest, to check that a choice made on one half holds on the
other.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from semsearch.index.ingest import html as html_reader
from semsearch.index.ingest.articles import Article

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "article-extraction-benchmark"
_TOKEN = re.compile(r"\w+", re.UNICODE)

Scores = tuple[float, float, float]


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The benchmark's shingles: lower-cased `\\w+` tokens, n at a time."""
    tokens = _TOKEN.findall((text or "").lower())
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_scores(true: str, pred: str) -> Scores:
    """(tp, fp, fn) of one page, normalised to sum to one."""
    t, p = shingles(true), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def summarise(scores: list[Scores]) -> dict[str, float]:
    """Precision, recall (averaged over pages, as the benchmark does) and F1."""

    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*s) for s in scores if s[0] + s[1] > 0)
    r = statistics.mean(recall(*s) for s in scores if s[0] + s[2] > 0)
    return {"f1": 2 * p * r / (p + r), "precision": p, "recall": r, "pages": len(scores)}


def load_pages(data: Path) -> list[tuple[str, bytes, str, str]]:
    """(key, page bytes, url, true body) for every page of the benchmark."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for path in sorted((data / "html").glob("*.html.gz")):
        key = path.name.removesuffix(".html.gz")
        if key in truth:
            pages.append(
                (
                    key,
                    gzip.decompress(path.read_bytes()),
                    truth[key]["url"],
                    truth[key]["articleBody"],
                )
            )
    return pages


def reader_text(page: bytes, url: str) -> str:
    """The body text the HTML reader indexes for a page ("" when it skips the page)."""
    result = html_reader.parse_html(page, article_id="x", origin="bench", url=url)
    return result.text if isinstance(result, Article) else ""


def run(
    pages: list[tuple[str, bytes, str, str]], extract: Callable[[bytes, str], str]
) -> tuple[list[Scores], float]:
    """Per-page scores and pages per second of one extraction function."""
    start = time.perf_counter()
    scores = [page_scores(true, extract(page, url)) for _, page, url, true in pages]
    return scores, len(pages) / (time.perf_counter() - start)


def with_settings(**settings: bool) -> Callable[[bytes, str], str]:
    """The reader with other trafilatura settings."""

    def extract(page: bytes, url: str) -> str:
        saved = dict(html_reader.EXTRACT_SETTINGS)
        html_reader.EXTRACT_SETTINGS.update(settings)
        try:
            return reader_text(page, url)
        finally:
            html_reader.EXTRACT_SETTINGS.clear()
            html_reader.EXTRACT_SETTINGS.update(saved)

    return extract


def trafilatura_defaults(page: bytes, url: str) -> str:
    """trafilatura.extract with every default, the benchmark's reference figure."""
    import trafilatura

    return trafilatura.extract(page, url=url) or ""


def report(name: str, scores: list[Scores], rate: float, split: int) -> None:
    line = summarise(scores)
    out = f"{name:<34} F1 {line['f1']:.3f}  P {line['precision']:.3f}  R {line['recall']:.3f}"
    if split > 1:
        apart = summarise(scores[::split])
        rest = summarise([s for i, s in enumerate(scores) if i % split])
        out += f"  | apart F1 {apart['f1']:.3f}  rest F1 {rest['f1']:.3f}"
    print(f"{out}  {rate:6.1f} pages/s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--study", action="store_true", help="compare extraction settings")
    parser.add_argument("--split", type=int, default=2, help="keep every N-th page apart")
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").exists():
        print(
            f"{args.data} has no ground-truth.json: point --data at the benchmark", file=sys.stderr
        )
        return 2
    pages = load_pages(args.data)
    print(f"{len(pages)} pages from {args.data}; settings {html_reader.EXTRACT_SETTINGS}")
    candidates: dict[str, Callable[[bytes, str], str]] = {"reader (as shipped)": reader_text}
    if args.study:
        candidates = {
            "trafilatura.extract defaults": trafilatura_defaults,
            **candidates,
            "reader + comments": with_settings(include_comments=True),
            "reader favor_precision": with_settings(favor_precision=True),
            "reader without favor_recall": with_settings(favor_recall=False),
            "reader no tables": with_settings(include_tables=False),
        }
    for name, extract in candidates.items():
        scores, rate = run(pages, extract)
        report(name, scores, rate, args.split)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
