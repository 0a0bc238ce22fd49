"""The search page's state and links: what the form shows (`page_context`), and links that
change one thing about the current search: the next or previous page, a facet value applied
or removed, the inferred dates undone. Each is a plain GET link (the page works without
JavaScript) carrying the search's other parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from semsearch.search.query import FILTER_NAMES, MODES, SEARCH_PARAMS, SORTS
from semsearch.settings import get_setting

#: A facet's name and the search parameters its links set.
FACET_PARAMS = {
    "publication": ("publication",),
    "author": ("author",),
    "year": ("published_from", "published_to"),
}


def search_link(args: Mapping[str, str], **changes: str | int | None) -> str:
    """The search page with the current search's parameters, some changed (None removes one).
    Any change but the page's own goes back to page 1."""
    # Any: url_for's keywords are typed for its own options (_anchor, _external, ...).
    params: dict[str, Any] = {name: args[name] for name in SEARCH_PARAMS if args.get(name)}
    params.pop("format", None)  # the page is HTML whatever the JSON link asked for
    if "page" not in changes:
        params.pop("page", None)
    for name, value in changes.items():
        if value is None or value == "":
            params.pop(name, None)
        else:
            params[name] = value
    if params.get("page") == 1:
        params.pop("page")
    return url_for("search.index_page", **params)


def facet_link(args: Mapping[str, str], facet: str, value: str | None) -> str:
    """The search narrowed to one facet value (None: the facet's filter removed)."""
    return search_link(args, **dict.fromkeys(FACET_PARAMS[facet], value))


def facet_selected(args: Mapping[str, str], facet: str, value: str) -> bool:
    """Whether the search is already narrowed to this facet value."""
    names = FACET_PARAMS[facet]
    wanted = [(args.get(name) or "").strip().casefold() for name in names]
    return all(given == value.casefold() for given in wanted)


def date_phrase(inferred: Mapping[str, str]) -> str:
    """How the page names the dates read from the query: "since 2017", "in 2019", ..."""
    start, end = inferred.get("published_from"), inferred.get("published_to")
    if start and end:
        return f"in {start}" if start == end else f"from {start} to {end}"
    if start:
        return f"since {start}"
    return f"up to {end}"


def page_context(args: Any) -> dict[str, Any]:
    """What the page template needs besides the result: the form's current values (or the
    configured defaults) and the link to the same search in JSON."""
    # Only known parameters reach url_for: its own (_external, _scheme, endpoint) must not.
    json_args = {name: args[name] for name in SEARCH_PARAMS if args.get(name)}
    return {
        "q": args.get("q", ""),
        "k": args.get("k") or get_setting("default_k"),
        "form": {
            name: args.get(name, "") for name in ("mode", "group", *FILTER_NAMES, "sort", "recency")
        },
        "sorts": SORTS,
        "args": args,
        "default_mode": get_setting("mode"),
        "modes": MODES,
        "max_k": get_setting("max_k"),
        "json_url": url_for("search.api_search", **json_args),
        "result": None,
        "error": None,
    }
