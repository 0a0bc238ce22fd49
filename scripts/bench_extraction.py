"""Score the HTML reader's body extraction on the article-extraction benchmark.

The metric is the benchmark's own (its SOURCE.md and `evaluate.py`): words (`\\w+`),
lower-cased, 4-word shingles counted with multiplicity, true/false positives and false
negatives per page normalised to sum to one, precision and recall averaged over the pages,
F1 from the two averages. Also the reader's throughput in pages per second.

    .venv/bin/python scripts/bench_extraction.py                  # the reader as shipped
    .venv/bin/python scripts/bench_extraction.py --study          # settings compared
    .venv/bin/python scripts/bench_extraction.py --split 2        # half the pages only
    .venv/bin/python scripts/bench_extraction.py --end-to-end     # through the product

`--end-to-end` builds the benchmark's `html/` folder with the product's build (the default
model unless `--model`; no fusion tuning), reads each article back through
`GET /api/articles/{id}` (a Flask test client) and scores that text; then it writes the same
articles (their extracted text and metadata) as JSONL, builds that too, and compares the two
builds' wall times: reading and extracting HTML against reading JSONL, the embedding alike.

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


def end_to_end(data: Path, model: str | None, split: int) -> None:
    """Build the benchmark's pages, score the texts the API gives back, time HTML vs JSONL."""
    import tempfile

    from semsearch.index.build.builder import build_index
    from semsearch.index.embed import load_embedder
    from semsearch.search.service import SearchService
    from semsearch.settings import get_setting
    from semsearch.web import create_app

    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    settings = {"model": model} if model else {}
    embedder = load_embedder(get_setting("model", settings), int(get_setting("batch_size")))
    embedder.encode_documents(["warm up the model before timing"])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        html_report = build_index([data / "html"], Path(tmp) / "html-idx", embedder, settings)
        html_seconds = time.perf_counter() - started
        service = SearchService(Path(tmp) / "html-idx", embedder)
        client = create_app({"TESTING": True, "SEARCH_SERVICE": service}).test_client()
        texts: dict[str, str] = {}
        records = []
        copy_of: dict[str, str] = {}
        missing = 0
        for key in sorted(truth):
            response = client.get(f"/api/articles/{key}")
            if response.status_code != 200:
                continue
            article = response.get_json()["article"]
            texts[key] = article["text"]
            copy_of.update({c["id"]: key for c in article["copies"]})
            records.append(
                {name: article[name] for name in ("id", "title", "text", "publication", "url")}
                | {"published": article["published"], "author": article["author"]}
            )
        scores = []
        for key in sorted(truth):
            if key not in texts and key in copy_of:
                texts[key] = texts[copy_of[key]]  # a copy is read back as the story it copies
            missing += key not in texts
            scores.append(page_scores(truth[key]["articleBody"], texts.get(key, "")))
        report("end to end (GET /api/articles)", scores, len(scores) / html_seconds, split)
        print(
            f"  {html_report.articles} articles, {len(copy_of)} pages recorded as copies, "
            f"{missing} pages with no article, {len(html_report.skipped)} skipped"
        )
        jsonl = Path(tmp) / "same.jsonl"
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        started = time.perf_counter()
        json_report = build_index([jsonl], Path(tmp) / "json-idx", embedder, settings)
        json_seconds = time.perf_counter() - started
        print(
            f"build from HTML  {html_seconds:6.1f} s  {html_report.chunks} chunks "
            f"(model busy {html_report.embed_seconds:.1f} s)\n"
            f"build from JSONL {json_seconds:6.1f} s  {json_report.chunks} chunks "
            f"(model busy {json_report.embed_seconds:.1f} s)\n"
            f"HTML is {100 * (html_seconds / json_seconds - 1):+.1f} % against JSONL "
            f"(model {embedder.name})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--study", action="store_true", help="compare extraction settings")
    parser.add_argument("--split", type=int, default=2, help="keep every N-th page apart")
    parser.add_argument(
        "--end-to-end", action="store_true", help="build the pages and read them back"
    )
    parser.add_argument(
        "--model", default=None, help="model for --end-to-end (default: the setting)"
    )
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").exists():
        print(
            f"{args.data} has no ground-truth.json: point --data at the benchmark", file=sys.stderr
        )
        return 2
    if args.end_to_end:
        end_to_end(args.data, args.model, args.split)
        return 0
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
