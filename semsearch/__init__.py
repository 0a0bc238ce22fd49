"""Semantic search over article collections, every passage returned with its source.

The package is layered: `semsearch.web` (HTTP, HTML) uses `semsearch.search` (answering
queries), which uses `semsearch.index` (turning articles into a stored, versioned index); all
three rest on the core here (`errors`, `settings`). `semsearch.cli` is the command line.
See ARCHITECTURE.md.
"""

__version__ = "0.1.0"
