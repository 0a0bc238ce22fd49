"""Query side: load an index directory and answer queries with attributed passages."""

from semsearch.search.service import Hit, SearchResult, SearchService, validate_query

__all__ = ["Hit", "SearchResult", "SearchService", "validate_query"]
