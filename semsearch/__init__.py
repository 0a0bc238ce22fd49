"""Semantic search over article collections, every passage returned with its source.

The public Python API is what this module exports (`__all__`, docs/python.md):

    import semsearch

    with semsearch.open("news-index") as index:
        for hit in index.search("tidal power", k=5).hits:
            print(hit.score, hit.article.title)

Everything else in the package is private by convention. The package is layered:
`semsearch.web` (HTTP, HTML) uses `semsearch.search` (answering queries), which uses
`semsearch.index` (turning articles into a stored, versioned index); all three rest on the
core here (`errors`, `settings`). `semsearch.api` (the API above) and `semsearch.cli` (the
command line) sit beside the web layer. See ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Article",
    "BadQueryError",
    "Index",
    "IndexUnavailableError",
    "NotFoundError",
    "SearchResults",
    "SemsearchError",
    "SimilarResults",
    "WriteOutcome",
    "WriteReport",
    "__version__",
    "build",
    "deprecated",
    "open",
]

if TYPE_CHECKING:
    from semsearch.api import (
        Article,
        Index,
        SearchResults,
        SimilarResults,
        WriteOutcome,
        WriteReport,
        build,
        deprecated,
    )
    from semsearch.api import open_index as open
    from semsearch.errors import BadQueryError, IndexUnavailableError, NotFoundError, SemsearchError

#: Where each exported name lives. Imported on first use (PEP 562): `import semsearch` stays
#: light for the modules that only need `semsearch.errors`, and the layers below never
#: import the API above them through this package.
_EXPORTS = {
    "open": ("semsearch.api", "open_index"),
    **{name: ("semsearch.api", name) for name in ("Article", "Index", "SearchResults")},
    **{name: ("semsearch.api", name) for name in ("SimilarResults", "WriteOutcome")},
    **{name: ("semsearch.api", name) for name in ("WriteReport", "build", "deprecated")},
    **{
        name: ("semsearch.errors", name)
        for name in ("BadQueryError", "IndexUnavailableError", "NotFoundError", "SemsearchError")
    },
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'semsearch' has no attribute {name!r}")
    import importlib

    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
