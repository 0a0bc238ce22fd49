#!/usr/bin/env python
"""Judged collections for the relevance table, made from ../shared into a folder outside the
project (the texts belong to their publishers: never write them into the checkout).

    .venv/bin/python scripts/eval/make_collections.py --out /tmp/team/relevance/collections

Each collection is a folder `OUT/NAME/` with `collection.json`: the build's inputs (files
and folders for `semsearch build`), the BEIR `queries.jsonl` and `qrels.tsv` (header, query
id, corpus id, grade), counts and notes. `scripts/relevance_table.py` reads these.

- `scifact`: BEIR SciFact as it is, test judgments (the folder only points at ../shared).
- `news`: the seed + the 645 hyperpartisan articles (`tests.support.datasets`), with the
  60 questions of `scripts/eval/news-questions`.
- `scifact-one`, `news-one`: the same articles, each cut to ONE passage: the collection is
  read and cleaned as the build reads it, and each article's clean text cut to the first
  passage of the product's own chunker (the model's tokenizer and window, the build's
  `chunk_tokens` less a margin), so the build makes exactly one chunk per article. The same
  queries and judgments; in `news-one` every question is kept, though the cut may remove
  the part of the article a question asks about (the table says so).
- `paragraphs`: paragraph-long queries. 150 hyperpartisan articles with at least 4
  paragraphs, each with its longest middle paragraph (not the first or last) of 80 to 250
  words cut out; every article indexed (the cut ones without their paragraph) plus the seed; the
  query is the cut paragraph, its article the one relevant document (grade 1). Articles
  whose paragraph also appears in another article (a syndicated copy) are not cut.
- `paragraphs-short`: the same over short articles (at most 3 passages whole, about 1 to 2
  once cut): the fakenewscorpus sample's (duplicates dropped) and the short hyperpartisan
  ones; the query is a run of whole middle paragraphs of 80 to 250 words (the sample's
  paragraphs are short: a median of 23 words), every eligible fakenews article queried,
  hyperpartisan ones drawn to make 150 queries.

Everything is deterministic (`--seed`). `--limit N` reads only the first N articles of each
dataset (a quick slice for tests; the judged queries are those whose articles are kept).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semsearch.search.evaluate import read_qrels

ROOT = Path(__file__).resolve().parents[2]
NEWS_QUESTIONS = ROOT / "scripts" / "eval" / "news-questions"
COLLECTIONS = ("scifact", "news", "scifact-one", "news-one", "paragraphs", "paragraphs-short")
#: Word pieces left free under the build's passage budget when cutting to one passage: the
#: build cleans the collection again (blocks repeated across a source), which only shortens
#: a text, but a cut that ends exactly at the budget would leave nothing to spare.
MARGIN_TOKENS = 8
PARAGRAPH_QUERIES = 150
PARAGRAPH_WORDS = (80, 250)
#: Short articles: at most this many passages before their paragraph is cut out.
SHORT_PASSAGES = 3


@dataclass(frozen=True)
class Shared:
    """Where the shared datasets are."""

    root: Path

    @property
    def scifact(self) -> Path:
        return self.root / "datasets" / "scifact"

    @property
    def hyperpartisan(self) -> Path:
        return self.root / "datasets" / "hyperpartisan-byarticle"

    @property
    def fakenews(self) -> Path:
        return self.root / "datasets" / "fakenewscorpus-sample" / "news_sample.csv"

    @property
    def seeds(self) -> Path:
        return self.root / "seeds"


class Cutter:
    """Cuts a text to the first passage the build's chunker would make, with a margin."""

    def __init__(self, model: str | None) -> None:
        from semsearch.index.build.builder import make_chunker
        from semsearch.index.embed import load_embedder
        from semsearch.index.text.chunking import Chunker
        from semsearch.settings import get_setting

        settings = {"model": model} if model else None
        embedder = load_embedder(
            get_setting("model", settings), get_setting("batch_size", settings), settings=settings
        )
        self.model = embedder.name
        self.build = make_chunker(embedder, settings)
        built = self.build.settings()
        self.budget = built["chunk_tokens"] - MARGIN_TOKENS
        self.one = Chunker(
            embedder.token_offsets,
            built["window_tokens"] + 2,
            chunk_tokens=self.budget,
            overlap_tokens=0,
            min_chunk_tokens=0,
            title_tokens=built["title_tokens"],
        )

    def first_passage(self, text: str) -> str:
        chunks = self.one.chunk(text)
        return chunks[0].text if chunks else ""

    def passages(self, text: str) -> int:
        """How many passages the build would make of `text`."""
        return len(self.build.chunk(text))


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_qrels(path: Path, qrels: dict[str, dict[str, int]]) -> int:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for doc, grade in docs.items():
                handle.write(f"{qid}\t{doc}\t{grade}\n")
    return sum(len(d) for d in qrels.values())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def judged_subset(
    queries: list[dict[str, Any]], qrels: dict[str, dict[str, int]], ids: set[str]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """The queries with at least one relevant article among `ids`, judged on those only."""
    kept = {
        qid: {d: g for d, g in docs.items() if d in ids}
        for qid, docs in qrels.items()
        if any(d in ids and g > 0 for d, g in docs.items())
    }
    return [q for q in queries if str(q["_id"]) in kept], kept


def describe(
    folder: Path,
    name: str,
    inputs: list[Path],
    queries: Path,
    qrels: Path,
    notes: str,
    **counts: Any,
) -> dict[str, Any]:
    """Write and return the collection's `collection.json`."""
    record = {
        "name": name,
        "inputs": [str(p.resolve()) for p in inputs],
        "queries": str(queries.resolve()),
        "qrels": str(qrels.resolve()),
        "notes": notes,
        **counts,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "collection.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def article_record(article: Any, text: str) -> dict[str, Any]:
    """An ingested Article as a JSONL line the build reads back (credits kept)."""
    fields = ("author", "publication", "published", "url", "copyright", "license")
    record = {"id": article.id, "title": article.title, "text": text}
    record.update({f: getattr(article, f) for f in fields if getattr(article, f)})
    return record


def hyperpartisan_records(shared: Shared, scratch: Path, limit: int | None) -> list[dict[str, Any]]:
    """The 645 articles as `tests.support.datasets` converts them (the first `limit`)."""
    sys.path.insert(0, str(ROOT))
    from tests.support.datasets import hyperpartisan_to_jsonl

    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "hyperpartisan.jsonl"
    hyperpartisan_to_jsonl(
        shared.hyperpartisan / "articles-training-byarticle-20181122.xml",
        shared.hyperpartisan / "ground-truth-training-byarticle-20181122.xml",
        path,
    )
    records = read_jsonl(path)
    return records[:limit] if limit else records


# -- the collections --------------------------------------------------------------------------


def make_scifact(shared: Shared, out: Path, limit: int | None) -> dict[str, Any]:
    folder = out / "scifact"
    corpus = shared.scifact / "corpus.jsonl"
    queries, qrels = shared.scifact / "queries.jsonl", shared.scifact / "qrels" / "test.tsv"
    with corpus.open(encoding="utf-8") as handle:
        articles = sum(1 for line in handle if line.strip())
    note = "BEIR SciFact as it is (test judgments), read from ../shared"
    if limit:
        records = read_jsonl(corpus)[:limit]
        corpus = folder / "corpus.jsonl"
        articles = write_jsonl(corpus, records)
        kept_queries, kept_qrels = judged_subset(
            read_jsonl(queries),
            read_qrels(queries.parent / "qrels" / "test.tsv"),
            {str(r["_id"]) for r in records},
        )
        queries, qrels = folder / "queries.jsonl", folder / "qrels.tsv"
        write_jsonl(queries, kept_queries)
        write_qrels(qrels, kept_qrels)
        note += f"; a slice: the first {limit} abstracts and the queries judged on them"
    judged = len(read_qrels(qrels))
    return describe(
        folder, "scifact", [corpus], queries, qrels, note, articles=articles, queries_judged=judged
    )


def make_news(shared: Shared, out: Path, limit: int | None) -> dict[str, Any]:
    folder = out / "news"
    records = hyperpartisan_records(shared, out / ".scratch", limit)
    corpus = folder / "corpus.jsonl"
    write_jsonl(corpus, records)
    queries, qrels = NEWS_QUESTIONS / "queries.jsonl", NEWS_QUESTIONS / "qrels.tsv"
    note = "the seed + the hyperpartisan articles, the 60 news questions"
    if limit:
        ids = {r["id"] for r in records} | {"000_a804a51a9e6f9974"}
        kept_queries, kept_qrels = judged_subset(read_jsonl(queries), read_qrels(qrels), ids)
        queries, qrels = folder / "queries.jsonl", folder / "qrels.tsv"
        write_jsonl(queries, kept_queries)
        write_qrels(qrels, kept_qrels)
        note += f"; a slice: the first {limit} articles"
    return describe(
        folder,
        "news",
        [shared.seeds, corpus],
        queries,
        qrels,
        note,
        articles=len(records) + 1,
        queries_judged=len(read_qrels(qrels)),
    )


def cut_collection(inputs: list[Path], cutter: Cutter, corpus: Path) -> tuple[int, int, int]:
    """Read and clean the inputs as the build does, cut each article to one passage and write
    the JSONL; returns (articles written, articles that were longer, articles dropped)."""
    from semsearch.index.ingest.collection import read_collection

    collection = read_collection(inputs)
    records, cut, dropped = [], 0, 0
    for article in collection.articles:
        text = cutter.first_passage(article.text)
        if not text:
            dropped += 1
            continue
        cut += len(text) < len(article.text.strip())
        # Checked here so a table never rests on a collection that is not one passage each.
        if cutter.passages(text) != 1:
            raise SystemExit(f"{article.id}: the cut text makes {cutter.passages(text)} passages")
        records.append(article_record(article, text))
    return write_jsonl(corpus, records), cut, dropped


def make_one_passage(
    name: str,
    inputs: list[Path],
    queries: Path,
    qrels: Path,
    out: Path,
    cutter: Cutter,
    note: str,
) -> dict[str, Any]:
    folder = out / name
    corpus = folder / "corpus.jsonl"
    written, cut, dropped = cut_collection(inputs, cutter, corpus)
    ids = {r["id"] for r in read_jsonl(corpus)}
    kept_queries, kept_qrels = judged_subset(read_jsonl(queries), read_qrels(qrels), ids)
    queries, qrels = folder / "queries.jsonl", folder / "qrels.tsv"
    write_jsonl(queries, kept_queries)
    write_qrels(qrels, kept_qrels)
    note += (
        f"; each article cut to its first passage ({cutter.budget} word pieces at most, "
        f"{cutter.model}'s tokenizer): {cut} of {written} articles were longer"
    )
    return describe(
        folder,
        name,
        [corpus],
        queries,
        qrels,
        note,
        articles=written,
        articles_cut=cut,
        articles_dropped=dropped,
        queries_judged=len(kept_qrels),
        cut_tokens=cutter.budget,
    )


def split_paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def paragraph_runs(paragraphs: list[str], single: bool) -> list[tuple[int, int]]:
    """Middle (not first, not last) runs of whole paragraphs of 80 to 250 words: single
    paragraphs, or from each start the shortest run that reaches 80 words."""
    low, high = PARAGRAPH_WORDS
    runs = []
    for start in range(1, len(paragraphs) - 1):
        words = 0
        for end in range(start, len(paragraphs) - 1):
            words += len(paragraphs[end].split())
            if words >= low or single:
                break
        if low <= words <= high:
            runs.append((start, end + 1))
    return runs


@dataclass(frozen=True)
class Cut:
    article_id: str
    query: str
    rest: str


def cut_paragraphs(
    records: list[dict[str, Any]],
    candidates: list[str],
    rng: random.Random,
    count: int,
    single: bool,
    everything: str,
) -> list[Cut]:
    """Up to `count` articles among `candidates` (ids, in a stable order), each with one run
    of middle paragraphs cut out; a run that also appears elsewhere in the collection
    (`everything`, normalised: a syndicated copy would give it away) is not used. With
    `single`, the article's longest such paragraph; otherwise a run drawn at random."""
    by_id = {r["id"]: r for r in records}
    eligible = []
    for article_id in candidates:
        paragraphs = split_paragraphs(by_id[article_id]["text"])
        if single and len(paragraphs) < 4:
            continue
        runs = []
        for start, end in paragraph_runs(paragraphs, single):
            run = normalised(" ".join(paragraphs[start:end]))
            if everything.count(run) == 1:
                runs.append((start, end))
        if runs:
            eligible.append((article_id, paragraphs, runs))
    chosen = eligible if len(eligible) <= count else rng.sample(eligible, count)
    cuts = []
    for article_id, paragraphs, runs in chosen:
        if single:  # the longest paragraph: paragraph-long queries run to about 200 words
            longest = max(len(" ".join(paragraphs[a:b]).split()) for a, b in runs)
            runs = [(a, b) for a, b in runs if len(" ".join(paragraphs[a:b]).split()) == longest]
        start, end = rng.choice(runs)
        rest = paragraphs[:start] + paragraphs[end:]
        cuts.append(Cut(article_id, "\n\n".join(paragraphs[start:end]), "\n\n".join(rest)))
    return cuts


def write_paragraph_set(
    folder: Path,
    name: str,
    records: list[dict[str, Any]],
    cuts: list[Cut],
    extra_inputs: list[Path],
    note: str,
    cutter: Cutter,
) -> dict[str, Any]:
    rest = {c.article_id: c.rest for c in cuts}
    corpus = folder / "corpus.jsonl"
    written = write_jsonl(corpus, ({**r, "text": rest.get(r["id"], r["text"])} for r in records))
    queries, qrels = folder / "queries.jsonl", folder / "qrels.tsv"
    write_jsonl(queries, ({"_id": f"para-{c.article_id}", "text": c.query} for c in cuts))
    write_qrels(qrels, {f"para-{c.article_id}": {c.article_id: 1} for c in cuts})
    words = sorted(len(c.query.split()) for c in cuts)
    passages = [cutter.passages(r["text"]) for r in read_jsonl(corpus)]
    return describe(
        folder,
        name,
        [*extra_inputs, corpus],
        queries,
        qrels,
        note,
        articles=written + len(extra_inputs),
        queries_judged=len(cuts),
        query_words_median=words[len(words) // 2] if words else 0,
        query_words_range=[words[0], words[-1]] if words else [],
        passages_per_article_jsonl=round(sum(passages) / max(1, len(passages)), 2),
    )


def make_paragraphs(
    shared: Shared, out: Path, cutter: Cutter, seed: int, limit: int | None
) -> dict[str, Any]:
    records = hyperpartisan_records(shared, out / ".scratch", limit)
    everything = "\n".join(normalised(r["text"]) for r in records)
    cuts = cut_paragraphs(
        records,
        sorted(r["id"] for r in records),
        random.Random(seed),
        PARAGRAPH_QUERIES,
        single=True,
        everything=everything,
    )
    note = (
        f"{len(cuts)} hyperpartisan articles (4+ paragraphs) with one middle paragraph of "
        f"{PARAGRAPH_WORDS[0]}-{PARAGRAPH_WORDS[1]} words cut out; the query is the paragraph, "
        "its article the answer; every article indexed (cut ones without it) + the seed"
    )
    return write_paragraph_set(
        out / "paragraphs", "paragraphs", records, cuts, [shared.seeds], note, cutter
    )


def fakenews_records(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The sample's articles (the CSV's content, title, authors, url, domain), duplicates
    (same opening text) dropped."""
    csv.field_size_limit(sys.maxsize)
    records, seen = [], set()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = "\n\n".join(split_paragraphs(row["content"]))
            key = normalised(text)[:300]
            if not text or key in seen:
                continue
            seen.add(key)
            record = {"id": f"fn-{row['id']}", "title": row["title"] or "", "text": text}
            for field, column in (("author", "authors"), ("url", "url"), ("publication", "domain")):
                if row.get(column):
                    record[field] = row[column]
            records.append(record)
            if limit and len(records) >= limit:
                break
    return records


def make_paragraphs_short(
    shared: Shared, out: Path, cutter: Cutter, seed: int, limit: int | None
) -> dict[str, Any]:
    fake = [
        r
        for r in fakenews_records(shared.fakenews, limit)
        if cutter.passages(r["text"]) <= SHORT_PASSAGES
    ]
    partisan = [
        r
        for r in hyperpartisan_records(shared, out / ".scratch", limit)
        if cutter.passages(r["text"]) <= SHORT_PASSAGES
    ]
    records = fake + partisan
    everything = "\n".join(normalised(r["text"]) for r in records)
    rng = random.Random(seed)
    cuts = cut_paragraphs(
        records,
        [r["id"] for r in fake],
        rng,
        PARAGRAPH_QUERIES,
        single=False,
        everything=everything,
    )
    cuts += cut_paragraphs(
        records,
        sorted(r["id"] for r in partisan),
        rng,
        PARAGRAPH_QUERIES - len(cuts),
        single=False,
        everything=everything,
    )
    from_fake = sum(c.article_id.startswith("fn-") for c in cuts)
    note = (
        f"short articles (at most {SHORT_PASSAGES} passages whole): {len(fake)} of the "
        f"fakenewscorpus sample (duplicates dropped) and {len(partisan)} hyperpartisan; "
        f"{len(cuts)} queries ({from_fake} fakenews, {len(cuts) - from_fake} hyperpartisan), "
        f"each a run of whole middle paragraphs of {PARAGRAPH_WORDS[0]}-{PARAGRAPH_WORDS[1]} "
        "words cut out of its article"
    )
    return write_paragraph_set(
        out / "paragraphs-short", "paragraphs-short", records, cuts, [], note, cutter
    )


def make(
    names: Iterable[str],
    shared: Shared,
    out: Path,
    model: str | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Make the named collections under `out`; returns each one's description."""
    names = list(names)
    unknown = set(names) - set(COLLECTIONS)
    if unknown:
        raise SystemExit(f"unknown collections {sorted(unknown)}; known: {', '.join(COLLECTIONS)}")
    if out.resolve().is_relative_to(ROOT):
        raise SystemExit(f"{out} is inside the project: the texts must not be copied into it")
    for path in (shared.scifact, shared.hyperpartisan, shared.fakenews, shared.seeds):
        if not path.exists():
            raise SystemExit(f"{path} is absent: the collections are made from ../shared")
    out.mkdir(parents=True, exist_ok=True)
    cutter = Cutter(model) if set(names) - {"scifact", "news"} else None
    made: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == "scifact":
            made[name] = make_scifact(shared, out, limit)
        elif name == "news":
            made[name] = make_news(shared, out, limit)
        else:
            assert cutter is not None
            if name == "scifact-one":
                made[name] = _scifact_one(shared, out, cutter, limit)
            elif name == "news-one":
                news = make_news(shared, out / ".scratch", limit)
                made[name] = make_one_passage(
                    name,
                    [Path(p) for p in news["inputs"]],
                    Path(news["queries"]),
                    Path(news["qrels"]),
                    out,
                    cutter,
                    "the seed + hyperpartisan articles, one passage each, every news question "
                    "kept (the cut may remove what a question asks about)",
                )
            elif name == "paragraphs":
                made[name] = make_paragraphs(shared, out, cutter, seed, limit)
            else:
                made[name] = make_paragraphs_short(shared, out, cutter, seed, limit)
        print(f"{name}: {made[name]['notes']}", flush=True)
    return made


def _scifact_one(shared: Shared, out: Path, cutter: Cutter, limit: int | None) -> dict[str, Any]:
    source = make_scifact(shared, out / ".scratch", limit)
    return make_one_passage(
        "scifact-one",
        [Path(p) for p in source["inputs"]],
        Path(source["queries"]),
        Path(source["qrels"]),
        out,
        cutter,
        "SciFact's abstracts, test judgments",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder outside the project")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--model", default=None, help="the model whose tokenizer cuts passages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="first N articles of each dataset")
    args = parser.parse_args()
    names = [n.strip() for n in args.collections.split(",") if n.strip()]
    make(names, Shared(args.shared), args.out, args.model, args.seed, args.limit)


if __name__ == "__main__":
    main()
