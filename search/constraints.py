"""The passages a parsed query's conditions admit (`semsearch.search.syntax`): its
phrases, its OR groups that hold a phrase, its exclusions and its field scopes, turned into
chunk ids before ranking, so a query gets k hits whenever k passages match.

A phrase matches a passage that holds its words in order, compared as the highlighter
compares words (`analysis.highlight_stem`: case folded, a light suffix off in English, the
Snowball stem in another language), punctuation between them ignored; in a script written
without spaces, as a case-folded substring. An excluded word or phrase, or an OR group's
word, is matched the same way. The store first narrows the candidates to passages whose
folded text holds a prefix of each word's stem (a superset of the matches, found in SQL),
and each candidate is then checked here. `title:` matches the article's title the same
way; `author:` and `publication:` mean what the `author` and `publication` filters mean.

Where the index version has a word index (`semsearch.index.storage.word_index`, written by
builds and updates of an index directory), a phrase, an excluded word and a title scope
are read from its positional postings instead, with the same answers: the passages that
hold each word (the keys with the word's stem), their positions merged. A phrase in a
script written without spaces is checked as above in the passages that hold each of its
characters and character bigrams. The store is scanned where there is no word index (the
live index, the Milvus backend, an index built before it) and for a language with a
Snowball stemmer other than English (its words sharing a stem need not share a beginning,
so the index cannot list them).

A phrase read from the word index costs at most its rarest word's passages times its
words (binary searches in the other words' lists); past MAX_PHRASE_WORK (a phrase of very
common words in a large index) the query is refused (400) before anything is read.

A phrase holds per passage: the passage returned holds it (the article's other passages
need not). An exclusion holds per article: an article whose title or any passage holds an
excluded word or phrase is left out whole, as a document holding it is in Elasticsearch
(a reader who types `-dredging` wants no story about dredging, not its other paragraphs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.errors import BadQueryError
from semsearch.index.storage.manifest import WORDS_DIR
from semsearch.index.storage.store import ArticleFilter, ServedStore
from semsearch.index.storage.word_index import WordIndex, open_word_index
from semsearch.index.text.analysis import highlight_stem, is_segmented, surface_words
from semsearch.search.budget import NO_DEADLINE, Deadline
from semsearch.search.syntax import FieldScope, ParsedQuery

if TYPE_CHECKING:
    from semsearch.search.backends.base import Backend

#: Most passages a phrase may look up in the word index (its rarest word's passages times
#: its distinct words), set so that the slowest phrases measured stay well inside the
#: default time budget (docs/benchmarks.md, "Query syntax filters").
MAX_PHRASE_WORK = 1_000_000


@dataclass(frozen=True)
class Restriction:
    """Chunk ids a query's conditions admit: only those in `within` (None: any) and none
    in `without`."""

    within: frozenset[int] | None = None
    without: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return self.within is not None and not (self.within - self.without)


def restriction_of(
    store: ServedStore,
    parsed: ParsedQuery,
    language: str | None,
    deadline: Deadline = NO_DEADLINE,
    words: WordIndex | None = None,
) -> Restriction | None:
    """The passages `parsed`'s conditions admit, read from `words` (the version's word
    index) or else the store; None without any. Past `deadline` the search is given up
    (SearchTimeoutError), as a deep page is."""
    if not parsed.has_conditions:
        return None
    within: frozenset[int] | None = None
    without: set[int] = set()

    def require(ids: frozenset[int]) -> None:
        nonlocal within
        within = ids if within is None else within & ids

    for phrase in parsed.phrases:
        require(matching(store, "text", phrase, language, deadline, words))
        if not within:
            return Restriction(frozenset())
    for group in parsed.required_groups:
        require(
            frozenset().union(
                *(matching(store, "text", t.text, language, deadline, words) for t in group)
            )
        )
    for scope in parsed.fields:
        ids = _scoped(store, scope, language, deadline, words)
        if scope.negated:
            without |= ids
        else:
            require(ids)
    excluded: set[int] = set()
    for term in parsed.excluded:
        excluded |= matching(store, "text", term.text, language, deadline, words)
        excluded |= matching(store, "title", term.text, language, deadline, words)
    if excluded:
        # An excluded word leaves out its whole article, as it would a document in
        # Elasticsearch: a reader who types `-dredging` wants no story about dredging.
        without.update(store.article_chunk_ids(excluded))
    return Restriction(within, frozenset(without))


def _scoped(
    store: ServedStore,
    scope: FieldScope,
    language: str | None,
    deadline: Deadline,
    words: WordIndex | None,
) -> frozenset[int]:
    if scope.field == "title":
        return matching(store, "title", scope.value.text, language, deadline, words)
    where = ArticleFilter(**{scope.field: scope.value.text})
    return frozenset(store.chunk_ids_matching(where))


def matching(
    store: ServedStore,
    column: str,
    phrase: str,
    language: str | None,
    deadline: Deadline = NO_DEADLINE,
    words: WordIndex | None = None,
) -> frozenset[int]:
    """The chunk ids whose passage text (column "text") or article title ("title") holds
    `phrase`'s words in order (see the module docstring), from `words` where it can tell;
    the scan and the check of its candidates give up past `deadline`."""
    check = deadline.check if deadline.at is not None else None
    if is_segmented(phrase):
        folded = " ".join(phrase.casefold().split())
        candidates = None if words is None else words.segment_candidates(column, folded)
        if candidates is None:
            rows = store.texts_containing(column, [folded], check)
        else:
            rows = store.texts_of(column, candidates)
        return frozenset(
            cid
            for cid, text in _in_time(rows, deadline)
            if folded in " ".join(text.casefold().split())
        )
    stems = phrase_stems(phrase, language)
    if not stems:
        return frozenset()
    keys = None if words is None else words.look_up(column, surface_words(phrase), language)
    if words is not None and keys is not None:
        work = words.phrase_work(column, keys)
        if work > MAX_PHRASE_WORK:
            raise BadQueryError(
                f'the phrase "{phrase}" is made of words too common to look up ({work:,} '
                f"passages to read, the limit is {MAX_PHRASE_WORK:,}): add a rarer word to "
                "it, or search without the quotes"
            )
        return words.phrase_chunks(column, keys, check)
    fragments = [f for f in (_fragment(w, language) for w in surface_words(phrase)) if f]
    rows = store.texts_containing(column, list(dict.fromkeys(fragments)), check)
    return frozenset(
        cid for cid, text in _in_time(rows, deadline) if holds(phrase_stems(text, language), stems)
    )


def load_word_index(backend: Backend) -> WordIndex | None:
    """The word index of a loaded index version: its build's, when its manifest lists one
    (checked with the other files at load); None for an index without one."""
    listed = any(name.startswith(f"{WORDS_DIR}/") for name in backend.manifest.files)
    return open_word_index(Path(backend.target()) / WORDS_DIR) if listed else None


#: Candidates checked between two looks at the deadline.
_CHECK_EVERY = 256


def _in_time(rows: list[tuple[int, str]], deadline: Deadline) -> Iterator[tuple[int, str]]:
    """`rows`, with a look at `deadline` every _CHECK_EVERY of them."""
    for n, row in enumerate(rows):
        if n % _CHECK_EVERY == 0:
            deadline.check()
        yield row


def phrase_stems(text: str, language: str | None) -> list[str]:
    """The words of `text` as the highlighter compares them."""
    return [highlight_stem(w, language) for w in surface_words(text)]


def holds(words: list[str], phrase: list[str]) -> bool:
    """Whether `phrase` occurs in `words` as a contiguous run."""
    size = len(phrase)
    first = phrase[0]
    return any(
        words[i : i + size] == phrase for i in range(len(words) - size + 1) if words[i] == first
    )


def _fragment(word: str, language: str | None) -> str:
    """What a passage holding `word` (as the highlighter compares it) surely holds, folded:
    the common start of the folded word and its stem, up to an apostrophe."""
    folded, stem = word.casefold(), highlight_stem(word, language)
    size = 0
    for a, b in zip(folded, stem, strict=False):
        if a != b or a in "'’":
            break
        size += 1
    return folded[:size]
