"""The alias API: `GET /api/aliases`, and moving or removing an alias with the admin key.

`POST /api/aliases {"name": "news", "target": "news-v2"}` points `news` at the collection
`news-v2` (loading it first from the folder of indexes when it is a new sub-directory
there), writes the aliases file atomically (`semsearch.index.storage.aliases`) and answers
the aliases after the move. The next request to `/api/collections/news/...` is answered by
`news-v2`; one in flight finishes on the collection it started with. With `serve --workers
N` the other workers see the move when they next read the file (on their next request
naming an alias: a stat, re-read only when it changed). `semsearch alias set` writes the
same file.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from semsearch.errors import BadQueryError
from semsearch.web.auth import keys_configured, require_scope
from semsearch.web.collections import collections_of
from semsearch.web.errors import error_body

bp = Blueprint("aliases", __name__)


class AliasRequest(BaseModel):
    """Point an alias at a collection."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The alias: letters, digits, '_', '-', '.'; at most 64.")
    target: str = Field(description="The collection it names from now on.")


class AliasesResponse(BaseModel):
    """Every alias and the collection it names."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    aliases: dict[str, str]


def _admin() -> Any:
    """None when the caller may move aliases; else the error response."""
    if not keys_configured(current_app):
        return error_body("the admin API is off: set SEMSEARCH_ADMIN_KEY to turn it on", 404)
    require_scope("admin")
    return None


@bp.get("/api/aliases")
def list_aliases() -> Any:
    """Every alias and its collection."""
    aliases = collections_of().alias_map()
    return jsonify(AliasesResponse(ok=True, aliases=aliases).model_dump())


@bp.post("/api/aliases")
def set_alias() -> Any:
    """Move (or create) an alias, atomically and durably; admin scope."""
    refused = _admin()
    if refused is not None:
        return refused
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or set(body) != {"name", "target"}:
        raise BadQueryError('send a JSON object {"name": ALIAS, "target": COLLECTION}')
    if not all(isinstance(body[key], str) for key in ("name", "target")):
        raise BadQueryError("name and target must be strings")
    aliases = collections_of().set_alias(body["name"], body["target"])
    return jsonify(AliasesResponse(ok=True, aliases=aliases).model_dump())


@bp.delete("/api/aliases/<name>")
def remove_alias(name: str) -> Any:
    """Remove an alias; admin scope."""
    refused = _admin()
    if refused is not None:
        return refused
    aliases = collections_of().remove_alias(name)
    return jsonify(AliasesResponse(ok=True, aliases=aliases).model_dump())
