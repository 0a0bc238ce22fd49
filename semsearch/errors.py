"""One family of errors for the whole project, each carrying the HTTP status it maps to.

The web layer turns any of these into `{"ok": false, "error": ..., "status": N}`; the CLI
prints the message. Messages say what was wrong and what to do about it.
"""

from __future__ import annotations


class SemsearchError(Exception):
    """Base class: an error a user can act on, with the HTTP status it deserves."""

    status = 500


class BadQueryError(SemsearchError):
    """The query or one of its parameters is invalid."""

    status = 400


class IndexUnavailableError(SemsearchError):
    """No usable index: missing, unreadable, or built for another model or format."""

    status = 503


class IndexMismatchError(IndexUnavailableError):
    """The index on disk does not match its manifest or the configured model."""


class NotFoundError(SemsearchError):
    """What was asked for (an article id) is not in the index."""

    status = 404


class SearchTimeoutError(SemsearchError):
    """A search ran past its time budget (the search_timeout_ms setting) and was given up."""

    status = 503


class ModelLoadError(SemsearchError):
    """The embedding model could not be loaded from local files."""

    status = 503


class BuildError(SemsearchError):
    """The index build cannot go on (bad output path, no readable article at all)."""

    status = 500


class StorageFullError(SemsearchError):
    """The index's disk is full: the write was not made (nothing of it is served)."""

    status = 507


class WriterBusyError(SemsearchError):
    """Another writer held the index's lock for longer than the write could wait."""

    status = 503
