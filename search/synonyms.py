"""Synonyms: a per-index file in the Solr/Elasticsearch format, applied to the keyword side
of every query.

The format is Solr's `SynonymFilter` format, which Elasticsearch's `synonym` and
`synonym_graph` filters read too (docs/api.md, "Synonyms"):

    # a comment; blank lines are skipped
    tv, television, telly          equivalent: any of them finds all of them
    usa, united states => america  explicit: the left side is replaced by the right
    foo => foo bar                 (several lines for one left side are merged)

Terms are compared as the keyword index compares words (folded, stop words out, stemmed, in
the index's main language), so "Televisions" in a query matches `television`, and a term may
be several words ("united states"). A backslash escapes a `,`, `=` or `\\` that belongs to a
term. As Solr's parser does (and Elasticsearch's with `lenient`), a line it cannot read
is left out; unlike Solr, the rest of the file still applies, and each bad line is kept in
`Synonyms.problems` with its line number and logged when the index loads.

Applied at query time to the keyword side only: an equivalence adds the other terms to the
words BM25 ranks on, an explicit mapping swaps its left side for its right side. The dense
side embeds the query as typed (a model already places "tv" near "television"). The file is
read when an index version loads (`SearchService`), so it reloads with the index; where it
lives is the `synonyms_file` setting, by default `synonyms.txt` in the index directory,
which each new version of a directory index carries over from the one it replaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.index.storage.manifest import IndexManifest
from semsearch.index.storage.store import ArticleFilter, ServedStore
from semsearch.index.text.analysis import query_words, split_words
from semsearch.search.backends.base import ArticleEvidence, Backend, Candidates, Scope
from semsearch.settings import get_setting

log = logging.getLogger(__name__)

#: The file's name in an index directory (`synonyms_file` unset).
SYNONYMS_NAME = "synonyms.txt"
#: Largest synonyms file read, in bytes: a bigger one is refused with a problem, not loaded.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Most words one term may have (Lucene's SynonymMap has no limit; ours keeps matching cheap).
MAX_TERM_WORDS = 8


@dataclass(frozen=True)
class SynonymProblem:
    """A line of the synonyms file that was left out, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Synonyms:
    """The rules of one synonyms file: each left side (a tuple of index words) with the
    terms (as written) that stand for it, and whether it is replaced (explicit mapping) or
    kept (equivalence)."""

    rules: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = field(default_factory=dict)
    problems: tuple[SynonymProblem, ...] = ()
    source: str = ""
    language: str | None = None

    @property
    def longest(self) -> int:
        return max((len(key) for key in self.rules), default=0)

    def expand(self, text: str) -> str:
        """The query's text for the keyword side: equivalent terms added after each match,
        an explicit mapping's left side replaced by its right side; `text` itself when no
        rule matches."""
        if not self.rules:
            return text
        tokens = split_words(text)
        # Each surface word's index words (none for a stop word), so that a match found on
        # index words can keep or drop the words as written.
        analysed = [query_words(t, language=self.language) for t in tokens]
        flat = [(i, w) for i, words in enumerate(analysed) for w in words]
        kept = [True] * len(tokens)
        added: list[str] = []
        at, longest, changed = 0, self.longest, False
        while at < len(flat):
            for size in range(min(longest, len(flat) - at), 0, -1):
                key = tuple(w for _, w in flat[at : at + size])
                rule = self.rules.get(key)
                if rule is None:
                    continue
                terms, replace = rule
                if replace:
                    for token, _ in flat[at : at + size]:
                        kept[token] = False
                added.extend(terms)
                at += size
                changed = True
                break
            else:
                at += 1
        if not changed:
            return text
        words = [t for t, keep in zip(tokens, kept, strict=True) if keep]
        return " ".join([*words, *dict.fromkeys(added)])


def parse_synonyms(text: str, language: str | None = None, source: str = "") -> Synonyms:
    """The rules of a synonyms file's text, terms analysed in `language` (English when None);
    lines that cannot be read are left out and listed in `problems`."""
    equivalent: dict[tuple[str, ...], dict[str, None]] = {}
    explicit: dict[tuple[str, ...], dict[str, None]] = {}
    problems: list[SynonymProblem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            sides = _split(line, "=>")
            if len(sides) > 2:
                raise ValueError('more than one "=>" on the line')
            groups = [_terms(side, language) for side in sides]
        except ValueError as exc:
            problems.append(SynonymProblem(number, str(exc)))
            continue
        if len(groups) == 2:
            left, right = groups
            for key, _ in left:
                explicit.setdefault(key, {}).update(dict.fromkeys(t for _, t in right))
        else:
            (terms,) = groups
            if len(terms) < 2:
                problems.append(SynonymProblem(number, "one term alone is no synonym"))
                continue
            for key, _ in terms:
                equivalent.setdefault(key, {}).update(dict.fromkeys(t for _, t in terms))
    rules: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {
        key: (tuple(t for t in terms if _key(t, language) != key), False)
        for key, terms in equivalent.items()
    }
    # An explicit mapping wins over an equivalence of the same left side (Solr merges them
    # into one rule; replacing is the stronger statement).
    rules.update({key: (tuple(terms), True) for key, terms in explicit.items()})
    return Synonyms(rules, tuple(problems), source, language)


def read_synonyms(path: Path, language: str | None = None) -> Synonyms:
    """The synonyms file at `path` (no file: no rules); a file that cannot be read at all
    is one problem, not an error: the index still serves, without synonyms."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            problem = SynonymProblem(0, f"larger than {MAX_FILE_BYTES} bytes: not read")
            return Synonyms(problems=(problem,), source=str(path), language=language)
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return Synonyms(source=str(path), language=language)
    except (OSError, UnicodeDecodeError) as exc:
        problem = SynonymProblem(0, f"cannot be read: {exc}")
        return Synonyms(problems=(problem,), source=str(path), language=language)
    found = parse_synonyms(text, language, str(path))
    for problem in found.problems:
        log.warning("synonyms file %s, %s (line left out)", path, problem)
    return found


def _split(text: str, separator: str) -> list[str]:
    """`text` split at each unescaped `separator`, escapes resolved (Solr's `split`)."""
    parts: list[str] = []
    current: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "\\":
            if at + 1 >= len(text):
                raise ValueError("a backslash at the end of the line escapes nothing")
            current.append("\\" + text[at + 1])  # kept escaped for the comma split
            at += 2
        elif text.startswith(separator, at):
            parts.append("".join(current))
            current = []
            at += len(separator)
        else:
            current.append(char)
            at += 1
    parts.append("".join(current))
    return parts


def _terms(side: str, language: str | None) -> list[tuple[tuple[str, ...], str]]:
    """The terms of one side of a line: (index words, as written), in order."""
    found: list[tuple[tuple[str, ...], str]] = []
    for piece in _split(side, ","):
        term = _unescape(piece).strip()
        if not term:
            raise ValueError("an empty term (two commas in a row, or a side with no term)")
        key = _key(term, language)
        if not key:
            raise ValueError(f"the term {term!r} has no searchable word (only stop words?)")
        if len(key) > MAX_TERM_WORDS:
            raise ValueError(f"the term {term!r} has more than {MAX_TERM_WORDS} words")
        found.append((key, term))
    return found


def _unescape(piece: str) -> str:
    out: list[str] = []
    escaped = False
    for char in piece:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


def _key(term: str, language: str | None) -> tuple[str, ...]:
    return tuple(query_words(term, language=language))


class SynonymBackend:
    """A backend whose keyword side reads queries through a synonyms file; everything else
    is the wrapped backend's (`with_synonyms`)."""

    def __init__(self, backend: Backend, synonyms: Synonyms) -> None:
        self.inner = backend
        self.synonyms = synonyms
        self.kind = backend.kind
        # Fixed for a backend's life: read once.
        self.manifest: IndexManifest = backend.manifest
        self.articles: ArticleEvidence | None = backend.articles
        self.suggestions = backend.suggestions
        self.store: ServedStore = backend.store

    def target(self) -> str:
        return self.inner.target()

    def scope(self, where: ArticleFilter) -> Scope | None:
        return self.inner.scope(where)

    def narrow(
        self, scope: Scope | None, within: frozenset[int] | None, without: frozenset[int]
    ) -> Scope:
        return self.inner.narrow(scope, within, without)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        return self.inner.dense(vector, depth, scope)

    def analysis_language(self, language: str | None) -> str:
        return self.inner.analysis_language(language)

    def languages(self) -> frozenset[str]:
        return self.inner.languages()

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        return self.inner.keyword_coverage(self.synonyms.expand(text), language)

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        return self.inner.keyword_search(self.synonyms.expand(text), depth, scope, language)

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        return self.inner.has_all_terms(text, scope, language)

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        return self.inner.idf_coverage(self.synonyms.expand(text), chunk_id, language)

    def score_bound(self, text: str, language: str | None = None) -> float | None:
        return self.inner.score_bound(self.synonyms.expand(text), language)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        return self.inner.article_vector(chunk_ids, encode)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        return self.inner.stored_vectors(chunk_ids)

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        return self.inner.nearest(vector, depth, exclude)

    def frequent_words(self, min_passages: int) -> dict[str, int] | None:
        return self.inner.frequent_words(min_passages)

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()


def with_synonyms(backend: Backend, synonyms: Synonyms) -> Backend:
    """`backend` with its keyword side reading queries through `synonyms`; `backend` itself
    when the file has no rule (no cost, and no change, for an index without synonyms)."""
    return SynonymBackend(backend, synonyms) if synonyms.rules else backend


def load_synonyms(backend: Backend, settings: Mapping[str, Any]) -> Synonyms:
    """The synonyms file of the index `backend` serves (`synonyms_path`), its terms analysed
    in the index's main language; no rules where there is none."""
    path = synonyms_path(get_setting("synonyms_file", settings), backend.target())
    language = backend.analysis_language(None)
    if path is None:
        return Synonyms(language=language)
    found = read_synonyms(path, language)
    if found.rules:
        log.info("synonyms: %d rules from %s", len(found.rules), path)
    return found


def synonyms_path(configured: str | None, target: str) -> Path | None:
    """Where an index's synonyms file is: the `synonyms_file` setting when set, else
    `synonyms.txt` in the version directory served (`target`); None where there is no
    directory (an engine's index without the setting)."""
    if configured:
        return Path(configured)
    folder = Path(target)
    return folder / SYNONYMS_NAME if folder.is_dir() else None
