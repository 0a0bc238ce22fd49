"""A build's articles read whole, then cleaned as a collection: footer shapes out of every
article, syndicated copies found, and the boilerplate each source repeats learned and removed.

The two collection passes need every article at once: a copy may be read long after its
original, and a block is only boilerplate once it is seen across a source's articles. So the
articles (metadata and clean text, no vectors) are held in memory between reading and
chunking; datasketch's MinHash LSH and the shingle sets of the articles kept add a few times
the text's size while copies are looked for. The order:

1. read every file (invalid ids, fields over their limits and duplicate ids reported:
   `semsearch.index.ingest.limits`);
2. `strip_footer_shapes` on every article of every format;
3. `find_copies` on all of them: before the learned pass, or two copies' shared paragraphs
   would look like a template and leave both;
4. the learned pass on the kept articles, with the blocks already learned for the same
   sources (an `add` passes those stored in the index) merged with what this batch repeats.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.boilerplate import (
    BoilerplateReport,
    apply_boilerplate,
    learn_boilerplate,
    merge_learned,
    strip_footer_shapes,
)
from semsearch.index.ingest.copies import CopiesReport, Copy, find_copies
from semsearch.index.ingest.layout import parse_localized_date
from semsearch.index.ingest.limits import article_problem
from semsearch.index.ingest.readers import iter_input_files, read_file
from semsearch.index.ingest.warc import WarcCounts, is_warc_file
from semsearch.index.text.languages import (
    article_language,
    main_language,
    unsure_article_language,
)
from semsearch.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)

#: Called as progress("read", files done, files).
ReadProgress = Callable[[str, int, int], None]


@dataclass
class IngestSummary:
    """What cleaning the collection did, for the build summary and the manifest."""

    footer_lines: Counter[str] = field(default_factory=Counter)  # lines removed, by shape
    boilerplate: BoilerplateReport = field(default_factory=lambda: BoilerplateReport({}, {}, 0))
    copies: CopiesReport = field(default_factory=lambda: CopiesReport(0, 0, 0))
    warc: WarcCounts = field(default_factory=WarcCounts)
    warc_files: int = 0
    languages: dict[str, int] = field(default_factory=dict)  # articles per language

    def counts(self) -> dict[str, int]:
        """Flat counts for the manifest's `counts`."""
        counts = {
            "footer_lines_removed": sum(self.footer_lines.values()),
            "boilerplate_blocks_removed": sum(self.boilerplate.blocks_removed.values()),
            "copies": self.copies.copies,
            "rereads": self.copies.rereads,
        }
        if self.warc_files:
            counts |= {f"warc_{name}": value for name, value in vars(self.warc).items()}
        return counts

    def as_dict(self) -> dict[str, Any]:
        """Everything, per source and per shape, for the manifest's `ingest` record."""
        return {
            "footer_lines_removed": dict(sorted(self.footer_lines.items())),
            "boilerplate_blocks_removed": dict(sorted(self.boilerplate.blocks_removed.items())),
            "boilerplate_distinct_blocks": dict(sorted(self.boilerplate.distinct_blocks.items())),
            "articles_with_boilerplate_removed": self.boilerplate.articles_changed,
            "copies": self.copies.copies,
            "rereads": self.copies.rereads,
            "warc": vars(self.warc).copy() if self.warc_files else None,
            "languages": dict(self.languages),
        }

    def lines(self) -> list[str]:
        """The summary as lines for people (the CLI prints them)."""
        out = []
        if self.footer_lines:
            shapes = ", ".join(f"{k} {v:,}" for k, v in sorted(self.footer_lines.items()))
            out.append(f"footer lines removed: {sum(self.footer_lines.values()):,} ({shapes})")
        removed = sum(self.boilerplate.blocks_removed.values())
        out.append(
            f"learned boilerplate: {removed:,} blocks removed from "
            f"{self.boilerplate.articles_changed:,} articles"
        )
        out += [f"  {line}" for line in self.boilerplate.summary().splitlines()]
        out.append(f"copies: {self.copies.summary()}")
        if self.languages:
            parts = ", ".join(f"{k} {v:,}" for k, v in self.languages.items())
            out.append(f"languages: {parts}")
        if self.warc_files:
            out.append(f"WARC ({self.warc_files} files): {self.warc.summary()}")
        return out


def model_advice(languages: Mapping[str, int], model: str) -> str | None:
    """The build summary's advice when most articles whose language is known are not
    English and the model is the default, English one; None otherwise (a model of the
    user's own may well be multilingual: not second-guessed)."""
    known = {k: v for k, v in languages.items() if k != "unknown"}
    total = sum(known.values())
    if model != DEFAULT_MODEL or not total or known.get("en", 0) * 2 >= total:
        return None
    # Advised, not chosen: the multilingual model costs about 7 times the CPU a passage
    # and 13 times a query's (docs/benchmarks.md), and a server must load the model the
    # index was built with (docs/relevance.md, "Languages", says why, with the figures).
    share = 1 - known.get("en", 0) / total
    main = max(known, key=lambda k: known[k])
    return (
        f"  {share:.0%} of the articles are not English (most: {main}), and the default "
        "model is English: --model packaged:multilingual-e5-small finds them far better, "
        "for about 7 times the CPU (docs/relevance.md, 'Languages')"
    )


@dataclass
class Collection:
    """The articles to index (cleaned, copies attached by `copies`), what was skipped, and
    the blocks learned per source (to be stored for later additions)."""

    articles: list[Article]
    copies: dict[str, list[Copy]]
    skipped: list[Skipped]
    summary: IngestSummary
    learned: dict[str, set[str]]


def read_collection(
    inputs: Iterable[Path],
    column_map: dict[str, str] | None = None,
    progress: ReadProgress | None = None,
    known_blocks: dict[str, set[str]] | None = None,
    find_copies_too: bool = True,
    main_language: str = "",
) -> Collection:
    """Read every input, then clean the articles as a collection (see the module's doc);
    with `find_copies_too` off, near-identical articles are all kept as they are."""
    files = list(iter_input_files(inputs))
    summary = IngestSummary()

    def items() -> Iterator[Article | Skipped]:
        for done, (path, root) in enumerate(files, start=1):
            summary.warc_files += is_warc_file(path)
            yield from read_file(path, root, column_map, summary.warc)
            if progress:
                progress("read", done, len(files))

    return clean_collection(items(), known_blocks, find_copies_too, summary, main_language)


def clean_collection(
    items: Iterable[Article | Skipped],
    known_blocks: dict[str, set[str]] | None = None,
    find_copies_too: bool = True,
    summary: IngestSummary | None = None,
    main_language: str = "",
) -> Collection:
    """Articles already read (files, or records written over HTTP), cleaned as a collection:
    duplicate ids reported, footer shapes out, copies found, boilerplate learned and removed,
    languages set (`main_language`, the index's when the articles join one, for an article
    detection is unsure of; see `with_languages`)."""
    summary = summary if summary is not None else IngestSummary()
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    articles: list[Article] = []
    for item in items:
        if isinstance(item, Skipped):
            log.warning("skipped %s", item)
            skipped.append(item)
            continue
        if (problem := article_problem(item)) is not None:
            # An id no link reaches, or a field over its limit (`limits.FIELD_LIMITS`).
            skipped.append(Skipped(item.origin, problem))
            log.warning("skipped %s: %s", item.origin, problem)
            continue
        if item.id in seen:
            problem = (
                f"duplicate article id {item.id!r} (first read from {seen[item.id]}); ids "
                "must be unique: for files, pass their common parent folder so paths differ"
            )
            skipped.append(Skipped(item.origin, problem))
            log.warning("skipped %s: %s", item.origin, problem)
            continue
        seen[item.id] = item.origin
        clean, shapes = strip_footer_shapes(item)
        summary.footer_lines.update(shapes)
        articles.append(clean)
    if find_copies_too:
        kept, copies, summary.copies = find_copies(articles)
    else:
        kept, copies = articles, {}
        summary.copies = CopiesReport(kept=len(articles), copies=0, rereads=0)
    # The copies go to their own table; in `extra` they would be hashed and served twice.
    kept = [
        replace(a, extra={k: v for k, v in a.extra.items() if k != "copies"})
        if "copies" in a.extra
        else a
        for a in kept
    ]
    learned = merge_learned(known_blocks or {}, learn_boilerplate(kept))
    cleaned, summary.boilerplate = apply_boilerplate(kept, learned)
    cleaned = with_languages(cleaned, main_language)
    summary.languages = dict(Counter(a.language or "unknown" for a in cleaned).most_common())
    return Collection(cleaned, copies, skipped, summary, learned)


def with_languages(articles: list[Article], fallback: str = "") -> list[Article]:
    """The articles with their language set: declared by the page (`extra["language"]`, or a
    JSONL/CSV `language`/`lang` field) unless detection is sure it is wrong, else detected
    when detection is sure; an article detection is unsure of (a short one) takes the
    collection's main language unless written in another script
    (`languages.unsure_article_language`). The main language is `fallback` when given (the
    index's, for articles joining it: a batch's own majority could be one sure article's),
    else the most common among these articles."""
    found = [
        a.language
        if a.language is not None
        else article_language(a.extra.get("language") or a.extra.get("lang"), a.title, a.text)
        for a in articles
    ]
    main = fallback or main_language(found)
    return [
        _dated(replace(a, language=lang or unsure_article_language(a.title, a.text, main)))
        for a, lang in zip(articles, found, strict=True)
    ]


def _dated(article: Article) -> Article:
    """The article with its date read in its own language when the reader could not read it
    ("3. März 2019" in a German feed): the raw value stays in `extra` for the record."""
    raw = article.extra.get("published_raw")
    if article.published or not raw or not article.language:
        return article
    published = parse_localized_date(str(raw), article.language)
    return replace(article, published=published) if published else article
