"""Syndicated and duplicate copies found at ingest: one article kept, the others its copies.

News is republished: the same story under several publications, with its own header and
footer, sometimes a paragraph cut. Each article's text becomes a set of word 5-shingles
(lower-cased; numbers kept, since stories written to one pattern differ in their figures);
datasketch's MinHash LSH proposes candidates and the exact
Jaccard similarity of the shingle sets decides (`MIN_JACCARD`). Of each group the earliest
published article is kept (the first read when dates are missing or equal) and the others
are recorded as its copies: their id, publication, URL, date and origin, in
`extra["copies"]` of the kept article and in the returned mapping.

An exact re-read (the same text from the same URL, or the same id, or neither with a URL) is
not a copy: it is dropped and counted as a re-read, so a page saved twice is not "also
published by" itself. Precision and recall on planted copies: `scripts/bench_copies.py`.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from semsearch.index.ingest.articles import Article

#: Words a shingle: long enough that unrelated articles share almost none.
SHINGLE_WORDS = 5
#: Exact Jaccard of the shingle sets at and above which two articles are copies. A copy with
#: its own header and footer and one paragraph in eight cut scores about 0.75; two reports of
#: the same event written apart score below 0.1 (bench_copies.py).
MIN_JACCARD = 0.5
#: LSH threshold for candidates: below MIN_JACCARD, so that the LSH misses few true copies.
LSH_THRESHOLD = 0.4
NUM_PERM = 128
#: Articles with fewer shingles are never copies nor re-reads: two one-line texts alike (a
#: stub, a caption) are no evidence of one story published twice, and dropping either would
#: lose an article.
MIN_SHINGLES = 8

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Copy:
    """Another publication of a kept article."""

    id: str
    publication: str | None
    url: str | None
    published: str | None
    origin: str
    similarity: float


@dataclass(frozen=True)
class CopiesReport:
    """How many articles were kept, recorded as copies, and dropped as exact re-reads."""

    kept: int
    copies: int
    rereads: int

    def summary(self) -> str:
        """One line for the build summary."""
        return (
            f"{self.kept:,} articles kept, {self.copies:,} syndicated copies attached, "
            f"{self.rereads:,} exact re-reads dropped"
        )


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """The word shingles of a text, lower-cased."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _text_hash(text: str) -> str:
    return hashlib.sha1(" ".join(_WORD.findall(text.lower())).encode("utf-8")).hexdigest()


def is_reread(first: Article, second: Article) -> bool:
    """The same page read twice: same text and the same id or URL (or no URL at all)."""
    if first.id == second.id:
        return True
    if first.url or second.url:
        return bool(first.url and second.url and first.url.rstrip("/") == second.url.rstrip("/"))
    return (first.publication or "") == (second.publication or "")


def find_copies(
    articles: Sequence[Article],
    min_jaccard: float = MIN_JACCARD,
) -> tuple[list[Article], dict[str, list[Copy]], CopiesReport]:
    """The articles to index (copies attached to the kept ones), the copies by kept id, counts."""
    from datasketch import MinHash, MinHashLSH

    # Earliest published first, then input order: the original is the one kept.
    order = sorted(range(len(articles)), key=lambda i: (articles[i].published or "9999", i))
    lsh = MinHashLSH(threshold=min(LSH_THRESHOLD, min_jaccard), num_perm=NUM_PERM)
    kept: list[int] = []
    shingle_sets: dict[int, set[str]] = {}
    by_hash: dict[str, list[int]] = {}
    copies: dict[int, list[Copy]] = {}
    rereads = 0
    for i in order:
        article = articles[i]
        grams = shingles(article.text)
        if len(grams) < MIN_SHINGLES:
            kept.append(i)
            continue
        digest = _text_hash(article.text)
        same_text = by_hash.get(digest, [])
        if any(is_reread(articles[j], article) for j in same_text):
            rereads += 1
            continue
        if same_text:
            rereads += not _attach(copies, same_text[0], article, 1.0)
            continue
        match: tuple[float, int] | None = None
        # crc32 is C-fast and stable across runs; 32 bits are what MinHash keeps anyway.
        sketch = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32)
        sketch.update_batch([g.encode("utf-8") for g in grams])
        for key in lsh.query(sketch):
            other = shingle_sets[key]
            score = len(grams & other) / len(grams | other)
            if score >= min_jaccard and (match is None or score > match[0]):
                match = (score, key)
        if match is None:
            lsh.insert(i, sketch)
            shingle_sets[i] = grams
        if match is not None:
            rereads += not _attach(copies, match[1], article, round(match[0], 3))
            continue
        kept.append(i)
        by_hash[digest] = [i]
    out: list[Article] = []
    for i in sorted(kept):  # back in input order
        article = articles[i]
        found = copies.get(i)
        if found:
            listed = [asdict(c) for c in found]
            article = replace(article, extra={**article.extra, "copies": listed})
        out.append(article)
    by_id = {articles[i].id: found for i, found in copies.items()}
    report = CopiesReport(
        kept=len(kept), copies=sum(len(c) for c in copies.values()), rereads=rereads
    )
    return out, by_id, report


def _attach(copies: dict[int, list[Copy]], kept: int, article: Article, similarity: float) -> bool:
    """Record `article` as a copy of `kept`; False when that copy was already recorded."""
    listed = copies.setdefault(kept, [])
    if any(c.id == article.id or (c.url and c.url == article.url) for c in listed):
        return False  # the same copy read again
    listed.append(as_copy(article, similarity))
    return True


def as_copy(article: Article, similarity: float) -> Copy:
    """The record of `article` as a copy of another, this similar to it."""
    return Copy(
        id=article.id,
        publication=article.publication,
        url=article.url,
        published=article.published,
        origin=article.origin,
        similarity=similarity,
    )
