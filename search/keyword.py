"""The exact-match check: does some passage hold every content word of the query?

The service answers a hybrid query whose best passage is under the similarity threshold when
this says yes (a rare name can be far from everything in meaning and still be right there).
It is asked of the keyword index's inverted lists (`KeywordIndex.has_passage_with_all`),
with the index's own words (`analysis.match_terms`): folded, stop words out, Snowball
stems, in the query's language. It once asked SQLite FTS5, whose Porter stems join a few
more words ("news" and "new", "generous" and "general", "organization" and "organ");
Snowball keeps those apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.text.analysis import match_terms

#: Most distinct terms a passage must hold: a pasted paragraph keeps its first ones.
MAX_QUERY_TERMS = 64


def content_terms(query: str, language: str | None = None) -> list[str]:
    """The query's distinct index words in `language` (English when None), in order, at
    most MAX_QUERY_TERMS."""
    return match_terms(query, language)[:MAX_QUERY_TERMS]


def has_all_terms(
    keyword: KeywordIndex,
    query: str,
    allowed: Iterable[int] | None = None,
    language: str | None = None,
) -> bool:
    """True when some passage (among `allowed` chunk ids) contains every content word of
    the query, analysed as the index analyses a query in `language`; False when the query
    has none."""
    terms = content_terms(query, keyword.analysis_language(language))
    return bool(terms) and keyword.has_passage_with_all(terms, allowed)
