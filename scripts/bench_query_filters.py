"""What the query syntax's filters cost: phrases, exclusions and field scopes
(`semsearch.search.constraints.restriction_of`), answered by a scan of the store and from
the version's word index (`semsearch.index.storage.word_index`), with the word index's size
and build time.

Two stores:

- `--index DIR`: a built index (SciFact built with the real model: `semsearch build
  /work/shared/datasets/scifact/corpus.jsonl --out DIR`), its store and its `words/` as a
  server maps them.
- `--passages N`: SciFact's abstracts (one passage each, its real title) repeated under new
  ids until N passages (the texts repeat, so a phrase's matches grow with the store as a real
  collection's would), written with the build's `StoreWriter` into `--work`, and its word
  index written beside it. No vectors, no keyword index.

Either way the word index is written again into `--work` (`words-rebuilt`) to time its
build (the build writes it from the store as here, `write_word_index`) and read from there,
and each query's restriction is computed both ways, checked equal, and timed, wall and CPU,
`--repeats` times (the median is printed; the store's pages warm after the first).

    .venv/bin/python scripts/bench_query_filters.py --index /tmp/scifact --work /tmp/filters
    .venv/bin/python scripts/bench_query_filters.py --passages 100000 --work /tmp/filters

Figures go to docs/benchmarks.md ("Query syntax filters").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from semsearch.errors import BadQueryError
from semsearch.index.ingest.articles import Article
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import STORE_NAME, WORDS_DIR
from semsearch.index.storage.store import ServedStore, StoreWriter
from semsearch.index.storage.word_index import WordIndex, open_word_index, write_word_index
from semsearch.index.text.analysis import surface_words
from semsearch.index.text.chunking import Chunk
from semsearch.search.constraints import Restriction, restriction_of
from semsearch.search.syntax import parse_query

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "datasets" / "scifact" / "corpus.jsonl"
#: 16 words, each after "the" in SciFact: the most phrases a query may hold.
COMMON = ("cell", "gene", "risk", "data", "role", "effect", "use", "rate", "cancer", "mouse",
          "level", "dose", "trial", "brain", "heart", "blood")  # fmt: skip
QUERIES = (
    '"gene expression"',
    '"randomized controlled trial" outcomes',
    "cancer -mouse",
    'insulin -"type 2"',
    "title:protein folding",
    "author:smith heart",
    # Hostile: very common words, the most phrases and exclusions a query may hold.
    '"of the"',
    '"in the treatment of the"',
    " ".join(f'"the {w}"' for w in COMMON),
    "cancer " + " ".join(f"-w{i}" for i in range(32)),
)


#: Phrases of very common words: their work (`WordIndex.phrase_work`) against their CPU
#: time sets `constraints.MAX_PHRASE_WORK`.
COMMON_PHRASES = ("of the", "and the", "the the", "and and", "in and", "of the patients",
                  "in the of and to the")  # fmt: skip


def write_store(path: Path, corpus: Path, total: int) -> None:
    records = [json.loads(line) for line in corpus.open(encoding="utf-8")]
    writer = StoreWriter(path)
    for n in range(total):
        record = records[n % len(records)]
        text = str(record.get("text") or "") or "empty"
        article = Article(id=f"a{n}", title=str(record.get("title") or ""), text=text,
                          author="Smith J" if n % 50 == 0 else None, language="en")  # fmt: skip
        writer.add(article, [Chunk(0, 0, len(text), text, 200)])
    writer.close()


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def build_words(store: Path, folder: Path) -> tuple[float, float]:
    """Write the word index of `store` into `folder` (replaced): wall and CPU seconds."""
    shutil.rmtree(folder, ignore_errors=True)
    wall, cpu = time.perf_counter(), time.process_time()
    write_word_index(store, folder)
    return time.perf_counter() - wall, time.process_time() - cpu


def timed(store: ServedStore, query: str, words: WordIndex | None) -> tuple[float, float, str]:
    """Wall and CPU seconds of one restriction, and what it admits (or why it is refused)."""
    parsed = parse_query(query)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        held: Restriction | str | None = restriction_of(store, parsed, "en", words=words)
    except BadQueryError as refused:
        held = f"400: {refused}"
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    if isinstance(held, str) or held is None:
        return wall_s, cpu_s, str(held)
    within = "any" if held.within is None else f"{len(held.within):,}"
    return wall_s, cpu_s, f"within {within}, without {len(held.without):,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="a built index directory")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--no-scan", action="store_true", help="time the word index only")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.index is not None:
        version = resolve_index_dir(args.index)
        path = version / STORE_NAME
        print(f"index {version}: words/ {folder_size(version / WORDS_DIR) / 1e6:.1f} MB, "
              f"store {path.stat().st_size / 1e6:.1f} MB", flush=True)  # fmt: skip
    else:
        if not args.corpus.exists():
            raise SystemExit(f"{args.corpus} is absent: the shared SciFact corpus is needed")
        path = args.work / f"store-{args.passages}.sqlite"
        if not path.exists():
            started = time.perf_counter()
            write_store(path, args.corpus, args.passages)
            seconds = time.perf_counter() - started
            print(f"store of {args.passages:,} passages written in {seconds:.0f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)", flush=True)  # fmt: skip
    wall, cpu = build_words(path, args.work / "words-rebuilt")
    print(f"word index written in {wall:.1f} s wall, {cpu:.1f} s CPU; "
          f"{folder_size(args.work / 'words-rebuilt') / 1e6:.1f} MB", flush=True)  # fmt: skip
    # Queries read the index just written (this program's layout; an index built by an
    # earlier commit may hold another).
    words = open_word_index(args.work / "words-rebuilt")
    assert words is not None
    store = ServedStore(path)
    ways: list[tuple[str, WordIndex | None]] = [("words", words)]
    if not args.no_scan:
        ways.append(("scan", None))
    try:
        print("| query | scan CPU ms (wall) | word index CPU ms (wall) | admitted |")
        print("|---|---|---|---|")
        for query in QUERIES:
            figures: dict[str, str] = {}
            answers: dict[str, str] = {}
            for name, index in ways:
                runs = [timed(store, query, index) for _ in range(args.repeats)]
                answers[name] = runs[0][2]
                wall_ms = statistics.median(r[0] for r in runs) * 1000
                cpu_ms = statistics.median(r[1] for r in runs) * 1000
                figures[name] = f"{cpu_ms:,.1f} ({wall_ms:,.1f})"
            scanned = answers.get("scan", answers["words"])
            same = "" if scanned == answers["words"] or "400" in answers["words"] else " DIFFER"
            shown = query if len(query) < 60 else query[:57] + "..."
            print(f"| `{shown}` | {figures.get('scan', '-')} | {figures['words']} | "
                  f"{answers['words']}{same} |", flush=True)  # fmt: skip
        print("\n| phrase | work (passages looked up) | CPU ms | passages/s |")
        print("|---|---|---|---|")
        for phrase in COMMON_PHRASES:
            keys = words.look_up("text", surface_words(phrase), "en")
            assert keys is not None
            work = words.phrase_work("text", keys)
            runs = []
            for _ in range(args.repeats):
                cpu = time.process_time()
                words.phrase_chunks("text", keys)
                runs.append(time.process_time() - cpu)
            seconds = statistics.median(runs)
            rate = f"{work / seconds / 1e6:.1f} M" if seconds else "-"
            print(f"| `{phrase}` | {work:,} | {seconds * 1000:.1f} | {rate} |", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
