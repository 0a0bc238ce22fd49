"""The search box's syntax, read forgivingly: `"exact phrase"`, `-word` and `-"phrase"`
(exclusion), `OR` between two terms, and a field scope `title:`, `author:`,
`publication:` (a word or a quoted phrase after it; `-title:...` excludes).

A query of more than MAX_SYNTAX_WORDS words is read as plain text (a pasted passage), and
a query without any operator is searched exactly as typed. `parse_query` never fails: what
is not well formed is read as words, as Elasticsearch's `simple_query_string` reads a
query it cannot parse (it "never throws an exception, and discards invalid parts"; here
nothing is discarded, the characters become words): a quote without its partner, a lone
`-`, an unknown field (`foo:bar` is the words foo and bar), an `OR` with nothing on one
side. The answer is a frozen `ParsedQuery`: the free text both retrievers search (the
query without its operators and without what it excludes), the conditions that filter the
passages before ranking (`semsearch.search.constraints`), and `understood_as`, the query
written back in canonical form so a reader sees how it was read.

Only what must be held is held: words are never required (BM25 and the embedding rank
them); a phrase is, and an `OR` group holding a phrase is satisfied by any one of its
members. The counts of phrases, exclusions, OR members and field scopes are limited
(`check_limits`), as every other parameter is.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from semsearch.errors import BadQueryError

#: The fields a scope may name, and what each restricts.
FIELDS = ("title", "author", "publication")
#: Most quoted phrases in one query (required, excluded and in OR groups together).
MAX_PHRASES = 16
#: Most exclusions (`-word`, `-"phrase"`, `-field:value`) in one query.
MAX_EXCLUSIONS = 32
#: Most members of all OR groups together.
MAX_OR_TERMS = 16
#: Most field scopes in one query.
MAX_FIELD_SCOPES = 8
#: Longer queries are read as plain text: a pasted passage's quotation marks are
#: quotations and its dashes are dashes. The judged paragraph queries (80 to 250 words,
#: docs/relevance.md) quote what their article, from which they were cut, no longer holds.
MAX_SYNTAX_WORDS = 64

_WORD_CHAR = re.compile(r"\w")
#: A minus before a number of at most three digits is a sign or a list's dash, not an
#: exclusion: "-40°C", "-0.5", "E2f-1, -2, -3" (a SciFact claim whose `-2` and `-3` read as
#: exclusions left out every article holding a 2 or a 3). A year can still be excluded
#: (`application -2019`), as can any word.
_SIGNED_NUMBER = re.compile(r"-\d{1,3}(?:[.,]\d+)*(?!\d)\S{0,3}(?=\s|$)")
_FIELD = re.compile(rf"({'|'.join(FIELDS)}):", re.IGNORECASE)


@dataclass(frozen=True)
class Term:
    """One searched unit: a word, or a quoted phrase (`quoted`), whitespace collapsed."""

    text: str
    quoted: bool = False

    def render(self) -> str:
        return f'"{self.text}"' if self.quoted else self.text


@dataclass(frozen=True)
class FieldScope:
    """`field:value`: the article's title holds the value's words in order, its byline
    holds the value, or its publication is the value (as the `author` and `publication`
    filters read them); `negated`: the opposite."""

    field: str
    value: Term
    negated: bool = False

    def render(self) -> str:
        return f"{'-' * self.negated}{self.field}:{self.value.render()}"


@dataclass(frozen=True)
class ParsedQuery:
    """A query as the search box reads it (see the module docstring)."""

    #: The query without operators and exclusions: what the dense and keyword sides search.
    text: str
    #: The plain words, in order.
    words: tuple[str, ...] = ()
    #: Phrases every passage must hold (outside OR groups).
    phrases: tuple[str, ...] = ()
    #: Words and phrases no passage may hold.
    excluded: tuple[Term, ...] = ()
    #: OR groups, each of two or more members.
    any_of: tuple[tuple[Term, ...], ...] = ()
    #: Field scopes, in order.
    fields: tuple[FieldScope, ...] = ()
    #: The query written back in canonical form.
    understood_as: str = ""

    @property
    def has_conditions(self) -> bool:
        """Whether anything here filters passages (a phrase, exclusion, group or scope)."""
        return bool(self.phrases or self.excluded or self.required_groups or self.fields)

    @property
    def required_groups(self) -> tuple[tuple[Term, ...], ...]:
        """The OR groups that hold a phrase: one of their members must be in the passage
        (a group of words alone requires nothing, as a word alone does not)."""
        return tuple(g for g in self.any_of if any(t.quoted for t in g))


@dataclass(frozen=True)
class _Item:
    """One piece of the query as read: a term, an exclusion, a scope or the word OR."""

    term: Term | None = None
    excluded: bool = False
    scope: FieldScope | None = None
    is_or: bool = False


def _has_word(text: str) -> bool:
    return bool(_WORD_CHAR.search(text))


def _read_items(query: str) -> list[_Item]:
    """The query cut into items, left to right; anything malformed becomes words."""
    items: list[_Item] = []
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        negated = (
            query[i] == "-"
            and i + 1 < n
            and not query[i + 1].isspace()
            and not _SIGNED_NUMBER.match(query, i)
        )
        start = i + 1 if negated else i
        field = _FIELD.match(query, start)
        if field and field.end() < n and not query[field.end()].isspace():
            value, end = _read_value(query, field.end())
            if value is not None:
                name = field.group(1).lower()
                items.append(_Item(scope=FieldScope(name, value, negated)))
                i = end
                continue
        if query[start] == '"':
            close = query.find('"', start + 1)
            if close != -1:
                phrase = " ".join(query[start + 1 : close].split())
                if _has_word(phrase):
                    items.append(_Item(term=Term(phrase, quoted=True), excluded=negated))
                i = close + 1
                continue
            # An unbalanced quote: the quote is dropped, what follows is read on as words.
            i = start + 1
            continue
        end = start
        while end < n and not query[end].isspace():
            end += 1
        word = query[start:end].replace('"', "")
        if word == "OR" and not negated:
            items.append(_Item(is_or=True))
        elif _has_word(word):
            items.append(_Item(term=Term(word), excluded=negated))
        i = end
    return items


def _read_value(query: str, start: int) -> tuple[Term | None, int]:
    """A field scope's value at `start`: a quoted phrase or one word; None when it holds no
    word (`title:""`, `author:-`), and then the scope is read as words."""
    if query[start] == '"':
        close = query.find('"', start + 1)
        if close == -1:
            return None, start
        value = " ".join(query[start + 1 : close].split())
        return (Term(value, quoted=True) if _has_word(value) else None), close + 1
    end = start
    while end < len(query) and not query[end].isspace():
        end += 1
    word = query[start:end].replace('"', "")
    return (Term(word) if _has_word(word) else None), end


@functools.lru_cache(maxsize=256)
def parse_query(query: str) -> ParsedQuery:
    """The query as the search box reads it; never an error (see the module docstring).
    Cached (the answer is immutable): a search reads its query twice, to run it and to see
    whether it may be spell-corrected."""
    plain = " ".join(query.split())
    if len(plain.split()) > MAX_SYNTAX_WORDS:
        return ParsedQuery(text=plain, words=tuple(plain.split()), understood_as=plain)
    items = _read_items(query)
    parts: list[str] = []
    searched: list[str] = []
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[Term] = []
    groups: list[tuple[Term, ...]] = []
    scopes: list[FieldScope] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item.scope is not None:
            scopes.append(item.scope)
            parts.append(item.scope.render())
            if item.scope.field == "title" and not item.scope.negated:
                searched.append(item.scope.value.text)  # a title's words are the topic
            i += 1
            continue
        if item.is_or:
            # OR with no term on one side of it is the word "or" (a stop word).
            parts.append("or")
            searched.append("or")
            words.append("or")
            i += 1
            continue
        term = item.term
        assert term is not None
        if item.excluded:
            excluded.append(term)
            parts.append(f"-{term.render()}")
            i += 1
            continue
        # A run "a OR b OR c" of plain or quoted terms is one group.
        group = [term]
        j = i + 1
        while (
            j + 1 < len(items)
            and items[j].is_or
            and items[j + 1].term is not None
            and not items[j + 1].excluded
        ):
            group.append(items[j + 1].term)  # type: ignore[arg-type]  # checked just above
            j += 2
        if len(group) > 1:
            groups.append(tuple(group))
            parts.append("(" + " OR ".join(t.render() for t in group) + ")")
            searched.extend(t.text for t in group)
            i = j
            continue
        if term.quoted:
            phrases.append(term.text)
        else:
            words.append(term.text)
        parts.append(term.render())
        searched.append(term.text)
        i += 1
    text = " ".join(searched)
    if not (phrases or excluded or groups or scopes):
        # No operator: the question is searched exactly as typed, as before the syntax.
        text = plain
    elif not _has_word(text):
        # Nothing left to search for (only exclusions or scopes on names): the scopes'
        # values are searched, so that `author:smith` alone lists Smith's passages.
        text = " ".join(s.value.text for s in scopes if not s.negated)
    return ParsedQuery(
        text=text,
        words=tuple(words),
        phrases=tuple(dict.fromkeys(phrases)),
        excluded=tuple(dict.fromkeys(excluded)),
        any_of=tuple(groups),
        fields=tuple(dict.fromkeys(scopes)),
        understood_as=" ".join(parts),
    )


def check_limits(parsed: ParsedQuery) -> None:
    """BadQueryError (400) when the query holds more operators than a query may: each one
    is a pass over candidate passages, so their number is bounded as the query's length is."""
    phrases = (
        len(parsed.phrases)
        + sum(t.quoted for t in parsed.excluded)
        + sum(t.quoted for g in parsed.any_of for t in g)
    )
    counts = (
        (phrases, MAX_PHRASES, "quoted phrases"),
        (len(parsed.excluded) + sum(s.negated for s in parsed.fields), MAX_EXCLUSIONS,
         "exclusions (-word)"),
        (sum(len(g) for g in parsed.any_of), MAX_OR_TERMS, "terms joined by OR"),
        (len(parsed.fields), MAX_FIELD_SCOPES, "field scopes (title:, author:, publication:)"),
    )  # fmt: skip
    for count, limit, what in counts:
        if count > limit:
            raise BadQueryError(
                f"the query holds {count} {what}; the limit is {limit}: remove some, or "
                f"search without the operators"
            )
    if not _has_word(parsed.text):
        raise BadQueryError(
            "nothing to search for: the query holds no word to search for besides what it "
            "excludes (-word); add one"
        )
