"""Several collections on one server: a registry of named served indexes, their routes,
aliases, and searches across several at once.

`semsearch serve --index news=DIR --index science=DIR2` (or `--indexes FOLDER`, each
sub-directory a collection) serves each index as a collection: its own `ServedIndex` (own
versions, reloads and writer), its own model when it was built with another (one loaded
copy per model and settings, `semsearch.search.embedders.EmbedderCache`). The routes:

- `GET /api/collections`: each collection's name, counts, model and state; the aliases;
- `/api/collections/{name}/search`, `/api/collections/{name}/articles/{id}` (and `/cite`,
  `/similar`, the writes): the single-index routes, answered by that collection, in the
  same shapes (the views of `semsearch.web.views` and `semsearch.web.writes`, run with the
  collection as the request's served index);
- `?collection=NAME` on the page and on the single-index URLs: the same, for the search
  page's picker; the page's links keep it;
- the single-index URLs without it answer from the default collection (the first `--index`,
  or `--default NAME`; a folder's first by name);
- `/api/collections/search?collections=a,b&q=...`: one list from several collections
  (`fused_search`).

`{name}` may be an alias (`semsearch.web.aliases`): resolved on every request, so a moved
alias takes effect on the next one, and a request in flight finishes on the collection it
started with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.datastructures import ImmutableMultiDict

from semsearch.errors import BadQueryError, NotFoundError, SemsearchError
from semsearch.index.storage.aliases import AliasFile, check_name
from semsearch.search.embedders import EmbedderCache, model_for
from semsearch.search.query import validate_query
from semsearch.settings import get_setting
from semsearch.web.models import IndexSummary, Result, result_to_dict
from semsearch.web.served import EXTENSION, ServedIndex

log = logging.getLogger(__name__)

#: The registry's key in `app.extensions`.
COLLECTIONS = "semsearch.collections"
#: The collection a one-index server (`--index DIR`) calls its index.
DEFAULT_NAME = "default"
#: Most collections one search may ask (`collections=a,b,...`): each is a search of its own.
MAX_SEARCH_COLLECTIONS = 8
#: Reciprocal rank fusion's constant (Cormack et al. 2009; Elasticsearch's default too).
RRF_K = 60

bp = Blueprint("collections", __name__)


class Collections:
    """The collections a server answers from, by name, and the aliases pointing at them."""

    def __init__(
        self,
        served: Mapping[str, ServedIndex],
        default: str | None,
        aliases: AliasFile | None = None,
        folder: Path | None = None,
        make: Callable[[str | Path], ServedIndex] | None = None,
    ) -> None:
        self._served: dict[str, ServedIndex] = dict(served)
        self.default = default
        self.aliases = aliases
        #: With `--indexes FOLDER`: a sub-directory named by an alias target is loaded then.
        self.folder = folder
        self._make = make
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def names(self) -> list[str]:
        """The collections' names, in the order given."""
        return list(self._served)

    def served(self) -> dict[str, ServedIndex]:
        return dict(self._served)

    def alias_map(self) -> dict[str, str]:
        """The aliases now (read again when the file changed: `semsearch alias set`)."""
        if self.aliases is None:
            return {}
        try:
            return self.aliases.read()
        except SemsearchError as exc:  # a hand-edited file gone wrong: keep serving
            log.error("aliases not read: %s", exc)
            return {}

    def resolve(self, name: str) -> str:
        """The collection `name` names (itself, or an alias's target); 404 when none."""
        check_name(name)
        if name in self._served:
            return name
        target = self.alias_map().get(name)
        if target is not None and target not in self._served and self.folder is not None:
            # Moved by `semsearch alias set` onto a new index of the folder: loaded now, once.
            try:
                self._load_from_folder(target)
            except SemsearchError as exc:
                log.error("alias %s: %s", name, exc)
        if target is not None and target in self._served:
            return target
        known = ", ".join(self.names()) or "none"
        raise NotFoundError(f"no collection or alias named {name!r}; collections: {known}")

    def get(self, name: str) -> ServedIndex:
        """The served index of a collection or alias; 404 when there is none."""
        return self._served[self.resolve(name)]

    def set_alias(self, name: str, target: str) -> dict[str, str]:
        """Point alias `name` at collection `target`, durably; the aliases after the move.

        With a folder of indexes, a target not served yet but present as a sub-directory
        is loaded first, so a rebuild is built beside the old one and swapped in here."""
        check_name(name, "alias")
        check_name(target, "target")
        if self.aliases is None:
            raise BadQueryError(
                "aliases are off: serve with --indexes FOLDER or set SEMSEARCH_ALIASES_FILE"
            )
        if name in self._served:
            raise BadQueryError(f"{name!r} is a collection: an alias needs a name of its own")
        if target not in self._served:
            self._load_from_folder(target)
        served = self._served[target]
        if served.service is None:
            raise BadQueryError(f"collection {target!r} is not loaded: {served.error}")
        return self.aliases.set(name, target)

    def remove_alias(self, name: str) -> dict[str, str]:
        check_name(name, "alias")
        if self.aliases is None or name not in self.alias_map():
            raise NotFoundError(f"no alias named {name!r}")
        return self.aliases.remove(name)

    def _load_from_folder(self, target: str) -> None:
        path = self.folder / target if self.folder is not None else None
        if path is None or self._make is None or not path.is_dir():
            known = ", ".join(self.names()) or "none"
            where = f" and no index {target!r} in {self.folder}" if self.folder else ""
            raise NotFoundError(
                f"cannot point an alias at {target!r}: no such collection{where}; "
                f"collections: {known}"
            )
        with self._lock:
            if target not in self._served:
                served = self._make(path)
                served.load()
                if served.service is None:
                    raise BadQueryError(f"the index {path} did not load: {served.error}")
                self._served[target] = served
                log.info("collection %s loaded from %s", target, path)

    def watch(self, interval: float) -> None:
        """Every collection's reload watcher."""
        for served in self._served.values():
            served.watch(interval)

    def stop(self) -> None:
        for served in self._served.values():
            served.stop()


def collections_of(app: Flask | None = None) -> Collections:
    """The app's collections (the current app's, in a request)."""
    held: Collections = (app or current_app).extensions[COLLECTIONS]
    return held


def make_collections(app: Flask, settings: dict[str, Any], single: ServedIndex | None) -> None:
    """Build the app's registry: from `INDEXES` ({name: index}) and `INDEXES_FOLDER`, or the
    one served index `single` (named `default`). The default collection becomes the app's
    served index, which the single-index routes answer from."""
    named: dict[str, str | Path] = dict(app.config.get("INDEXES") or {})
    folder_setting = app.config.get("INDEXES_FOLDER")
    folder = Path(folder_setting) if folder_setting else None
    aliases_path = app.config.get("ALIASES_FILE") or (folder / "aliases.json" if folder else None)
    aliases = AliasFile(aliases_path) if aliases_path else None
    warm_up = bool(app.config.get("WARM_UP", True))
    cache = EmbedderCache()
    app.extensions["semsearch.embedders"] = cache

    def make(index: str | Path) -> ServedIndex:
        chosen = dict(settings)
        try:
            model = model_for(index, chosen)
        except SemsearchError:  # no index there: the load says why, on /readyz
            model = str(get_setting("model", chosen))
        chosen["model"] = model
        try:
            embedder = cache.get(model, chosen)
        except SemsearchError as exc:
            served = ServedIndex(index, chosen, warm_up)
            served.error = str(exc)
            return served
        return ServedIndex(index, chosen, warm_up, embedder=embedder)

    if not named and folder is None:
        assert single is not None
        registry = Collections({DEFAULT_NAME: single}, DEFAULT_NAME, aliases)
        app.extensions[COLLECTIONS] = registry
        return
    if folder is not None:
        if not folder.is_dir():
            raise ValueError(f"INDEXES_FOLDER {folder} is not a folder")
        for path in sorted(folder.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
                named.setdefault(path.name, path)
    for name in named:
        check_name(name)
    if not named:
        raise ValueError(f"no indexes to serve: {folder} has no sub-directories")
    served = {}
    for name, index in named.items():
        served[name] = make(index)
        if served[name].error is None:
            served[name].load()
    default = app.config.get("DEFAULT_COLLECTION") or next(iter(served))
    if default not in served:
        raise ValueError(f"DEFAULT_COLLECTION {default!r} is none of {', '.join(served)}")
    app.extensions[COLLECTIONS] = Collections(served, default, aliases, folder, make)
    app.extensions[EXTENSION] = served[default]


def init_collections(app: Flask) -> None:
    """The collection routes, `?collection=` on the single-index ones, the page's picker."""
    app.register_blueprint(bp)
    from semsearch.web.aliases import bp as aliases_bp

    app.register_blueprint(aliases_bp)

    @app.before_request
    def chosen_collection() -> Any:
        args = request.args
        if "collection" in args and (request.endpoint or "").startswith("search."):
            name = args["collection"]
            g.served_index = collections_of().get(name)
            g.collection = name
            # The views check their parameters strictly: they never see this one.
            request.args = ImmutableMultiDict(
                [(k, v) for k, v in args.items(multi=True) if k != "collection"]
            )
        return None

    @app.url_defaults
    def keep_collection(endpoint: str, values: dict[str, Any]) -> None:
        chosen = g.get("collection") if g else None
        if chosen and endpoint.startswith("search.") and "collection" not in values:
            values["collection"] = chosen

    @app.context_processor
    def picker() -> dict[str, Any]:
        registry = collections_of()
        names = registry.names() + sorted(registry.alias_map())
        return {
            "collection_names": names if len(registry.names()) > 1 else [],
            "collection": g.get("collection") or registry.default,
        }


def _in(name: str, view: Callable[..., Any], **kwargs: Any) -> Any:
    """`view` answered by collection `name` (or an alias of one)."""
    g.served_index = collections_of().get(name)
    return view(**kwargs)


# --- the list -----------------------------------------------------------------------------


class CollectionInfo(BaseModel):
    """One collection: what it holds and which model answers it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    default: bool = Field(description="Whether the single-index URLs answer from it.")
    ready: bool
    error: str | None = Field(description="Why it is not ready; null when it is.")
    index: IndexSummary | None = Field(description="The version served; null until one loads.")
    aliases: list[str] = Field(description="The aliases pointing at it.")


class CollectionsResponse(BaseModel):
    """The collections this server answers from, and its aliases."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    default: str | None
    collections: list[CollectionInfo]
    aliases: dict[str, str] = Field(description="Each alias and the collection it names.")


def summary(served: ServedIndex) -> IndexSummary | None:
    service = served.service
    if service is None:
        return None
    manifest = service.manifest
    return IndexSummary(
        version=manifest.version,
        chunks=manifest.counts["chunks"],
        articles=manifest.counts["articles"],
        model=manifest.model["name"],
    )


@bp.get("/api/collections")
def list_collections() -> Any:
    """Each collection's name, counts and model, and the aliases."""
    registry = collections_of()
    aliases = registry.alias_map()
    listed = [
        CollectionInfo(
            name=name,
            default=name == registry.default,
            ready=served.service is not None,
            error=None if served.service is not None else "not loaded; operators: see the log",
            index=summary(served),
            aliases=sorted(a for a, target in aliases.items() if target == name),
        )
        for name, served in registry.served().items()
    ]
    answer = CollectionsResponse(
        ok=True, default=registry.default, collections=listed, aliases=aliases
    )
    return jsonify(answer.model_dump(mode="json"))


# --- one collection's routes: the single-index views, answered by that collection ---------


@bp.route("/api/collections/<name>/search", methods=["GET", "POST"])
def collection_search(name: str) -> Any:
    from semsearch.web.views import api_search

    return _in(name, api_search)


@bp.get("/api/collections/<name>/articles/<path:article_id>")
def collection_article(name: str, article_id: str) -> Any:
    from semsearch.web.views import api_article

    return _in(name, api_article, article_id=article_id)


@bp.get("/api/collections/<name>/articles/<path:article_id>/cite")
def collection_cite(name: str, article_id: str) -> Any:
    from semsearch.web.views import api_cite

    return _in(name, api_cite, article_id=article_id)


@bp.get("/api/collections/<name>/articles/<path:article_id>/similar")
def collection_similar(name: str, article_id: str) -> Any:
    from semsearch.web.views import api_similar

    return _in(name, api_similar, article_id=article_id)


@bp.post("/api/collections/<name>/articles")
def collection_write(name: str) -> Any:
    from semsearch.web.writes import write_articles

    return _in(name, write_articles)


@bp.delete("/api/collections/<name>/articles/<path:article_id>")
def collection_delete(name: str, article_id: str) -> Any:
    from semsearch.web.writes import delete_article

    return _in(name, delete_article, article_id=article_id)


@bp.post("/api/collections/<name>/articles/delete")
def collection_delete_many(name: str) -> Any:
    from semsearch.web.writes import delete_articles

    return _in(name, delete_articles)


# --- several collections at once ----------------------------------------------------------


class FusedResult(Result):
    """One result of a search of several collections: the collection's own result (its
    `score` as that collection ranked it), the collection, and the fused score."""

    collection: str
    rrf_score: float = Field(
        description="Reciprocal rank fusion over the collections: 1/(60 + rank in its "
        "collection's list); the results are in this order."
    )


class CollectionAnswer(BaseModel):
    """How one collection answered a search of several."""

    model_config = ConfigDict(extra="forbid")

    index: dict[str, Any]
    results: int = Field(ge=0)
    no_match_reason: str | None
    took_ms: float = Field(ge=0)


class FusedSearchResponse(BaseModel):
    """A search of several collections: one list, best first by reciprocal rank fusion."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    query: str
    k: int = Field(ge=1)
    collections: dict[str, CollectionAnswer]
    took_ms: float = Field(ge=0)
    results: list[FusedResult]


def _search_params() -> dict[str, Any]:
    if request.method == "POST":
        try:
            body = request.get_json(force=True, silent=True)
        except RecursionError:  # as /api/search: json.loads on `[[[[…` very deep
            raise BadQueryError("request body is nested too deeply to be a search") from None
        if not isinstance(body, dict):
            raise BadQueryError(
                'request body must be a JSON object such as {"q": "tides", "collections": "a,b"}'
            )
        return dict(body)
    return request.args.to_dict()


def parse_collections(value: Any) -> list[str]:
    """`a,b` (or a JSON list) as collection names: each valid, at most
    MAX_SEARCH_COLLECTIONS, none twice."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadQueryError("collections must be names separated by commas: collections=a,b")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise BadQueryError("collections is empty: name one or more, collections=a,b")
    if len(names) > MAX_SEARCH_COLLECTIONS:
        raise BadQueryError(
            f"{len(names)} collections in one search, over the limit of "
            f"{MAX_SEARCH_COLLECTIONS}: search fewer at a time"
        )
    if len(set(names)) != len(names):
        raise BadQueryError("a collection is named twice in collections")
    for name in names:
        check_name(name)
    return names


@bp.route("/api/collections/search", methods=["GET", "POST"])
def search_several() -> Any:
    """`collections=a,b` and the search's parameters: each collection searched with them,
    the lists fused by reciprocal rank (docs/api.md, "Several collections")."""
    params = _search_params()
    if "collections" not in params:
        raise BadQueryError("name the collections to search: collections=a,b")
    names = parse_collections(params.pop("collections"))
    return jsonify(fused_search(names, params))


def fused_search(names: list[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """One list from several collections, as `FusedSearchResponse` describes it.

    Scores are not compared across collections: a cosine of one model and of another, or
    BM25 over two corpora, are on different scales, so ranks are fused instead (RRF), the
    only measure every collection's list shares."""
    started = time.perf_counter()
    registry = collections_of()
    resolved = {name: registry.get(name) for name in names}  # 404 before any search
    answers: dict[str, dict[str, Any]] = {}
    fused: list[tuple[float, int, str, dict[str, Any]]] = []
    k = 0
    query = ""
    for order, (name, served) in enumerate(resolved.items()):
        service = served.service
        if service is None:
            raise NotFoundError(f"collection {name!r} is not loaded; operators: see /readyz")
        valid = validate_query(params, service.settings)
        if valid.format != "json":
            raise BadQueryError("format=csv is for one collection; search several in JSON")
        if valid.page != 1:
            raise BadQueryError("a search of several collections has one page: leave out page")
        answer = result_to_dict(service.search(valid))
        k, query = valid.k, answer["query"]
        answers[name] = {
            "index": answer["index"],
            "results": len(answer["results"]),
            "no_match_reason": answer["no_match_reason"],
            "took_ms": answer["took_ms"],
        }
        for rank, result in enumerate(answer["results"], start=1):
            fused.append((1.0 / (RRF_K + rank), order, name, result))
    # Best fused score first; a tie (the same rank in two lists) in the order asked.
    fused.sort(key=lambda item: (-item[0], item[1]))
    results = [
        {**result, "collection": name, "rrf_score": round(score, 6)}
        for score, _, name, result in fused[:k]
    ]
    took_ms = round((time.perf_counter() - started) * 1000, 2)
    response = FusedSearchResponse(
        ok=True,
        query=query,
        k=k,
        collections=answers,  # type: ignore[arg-type]  # validated just below
        took_ms=took_ms,
        results=results,  # type: ignore[arg-type]
    )
    return response.model_dump(mode="json")


# --- the OpenAPI description of these routes (`semsearch.web.openapi`) --------------------

#: The single-index paths each collection answers under /api/collections/{name}.
COLLECTION_PATHS = (
    "/api/search",
    "/api/articles",
    "/api/articles/delete",
    "/api/articles/{article_id}",
    "/api/articles/{article_id}/cite",
    "/api/articles/{article_id}/similar",
)
_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A collection's name, or an alias of one (GET /api/collections lists them).",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
}


def openapi_paths(single: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The collection and alias routes, the per-collection ones made from the single-index
    operations `single` describes (the same answers; an unknown collection is a 404)."""
    import copy

    paths: dict[str, dict[str, Any]] = {}
    for path in COLLECTION_PATHS:
        operations = copy.deepcopy(dict(single[path]))
        for operation in operations.values():
            operation["operationId"] += "InCollection"
            operation["tags"] = ["collections"]
            operation["parameters"] = [_NAME_PARAMETER, *operation.get("parameters", [])]
            operation["responses"].setdefault("404", "NotFound")
            if "400" not in operation["responses"]:
                operation["responses"]["400"] = "BadRequest"  # an invalid collection name
        paths["/api/collections/{name}" + path.removeprefix("/api")] = operations
    several = copy.deepcopy(dict(single["/api/search"]))
    collections_parameter = {
        "name": "collections",
        "in": "query",
        "required": True,
        "description": f"The collections to search, comma-separated (at most "
        f"{MAX_SEARCH_COLLECTIONS}, each once); in a POST body, a string or a list.",
        "schema": {"type": "string", "minLength": 1},
    }
    for method, operation in several.items():
        operation["operationId"] = f"searchCollections{method.title()}"
        operation["tags"] = ["collections"]
        operation["summary"] = "Search several collections: one list, fused by rank"
        operation["description"] = (
            "Each collection searched with the same parameters; the lists fused by reciprocal "
            "rank (scores of different models are not comparable). One page only; JSON only."
        )
        response = operation["responses"]["200"]
        response["content"] = {"application/json": {"schema": "FusedSearchResponse"}}
        response["headers"].pop("Content-Disposition", None)
        operation["responses"]["404"] = "NotFound"
        if method == "get":
            operation["parameters"] = [collections_parameter, *operation["parameters"]]
        else:
            body = operation["requestBody"]["content"]["application/json"]
            body["schema"] = "CollectionsSearchRequest"  # web.openapi adds it
    paths["/api/collections/search"] = several
    errors_admin = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "429": "TooManyRequests",
        "500": "InternalError",
    }

    def json_ok(description: str, schema: str) -> dict[str, Any]:
        return {
            "description": description,
            "headers": {"X-Request-ID": "RequestId"},
            "content": {"application/json": {"schema": schema}},
        }

    paths["/api/collections"] = {
        "get": {
            "operationId": "listCollections",
            "tags": ["collections"],
            "summary": "The collections served: names, counts, models; the aliases",
            "responses": {
                "200": json_ok("The collections.", "CollectionsResponse"),
                "500": "InternalError",
            },
        }
    }
    paths["/api/aliases"] = {
        "get": {
            "operationId": "listAliases",
            "tags": ["collections"],
            "summary": "Every alias and the collection it names",
            "responses": {
                "200": json_ok("The aliases.", "AliasesResponse"),
                "500": "InternalError",
            },
        },
        "post": {
            "operationId": "setAlias",
            "tags": ["admin"],
            "summary": "Point an alias at a collection, atomically and durably",
            "description": "Off (404) unless the server has an admin key. A target that is "
            "not a collection (nor a new index in the folder of indexes) is a 404.",
            "security": [{"apiKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": "AliasRequest"}},
            },
            "responses": {
                "200": json_ok("The aliases after the move.", "AliasesResponse"),
                **errors_admin,
            },
        },
    }
    paths["/api/aliases/{name}"] = {
        "delete": {
            "operationId": "removeAlias",
            "tags": ["admin"],
            "summary": "Remove an alias",
            "security": [{"apiKey": []}],
            "parameters": [{**_NAME_PARAMETER, "description": "The alias."}],
            "responses": {"200": json_ok("The aliases after.", "AliasesResponse"), **errors_admin},
        }
    }
    return paths
