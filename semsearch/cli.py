"""`semsearch build | query | serve`: a thin layer over `index/`, `search/` and `web/`.

The CLI speaks to people: progress bars with ETA, a summary, errors as one readable line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from semsearch.errors import SemsearchError
from semsearch.search.query import MODES, SORTS
from semsearch.settings import BUILD_ENGINES, DEFAULT_MODEL, SETTINGS, get_setting

#: The --index option's help: every command that reads an index takes either form.
INDEX_HELP = "Index directory, or an engine URI (milvus://...) for one published there."


def _setting_help(name: str) -> str:
    setting = next(s for s in SETTINGS if s.name == name)
    return f"{setting.help} [default: {setting.default}; env SEMSEARCH_{name.upper()}]"


def _setting_default(name: str) -> Any:
    """The setting's value from the environment or its default, as a click option default."""

    def default() -> Any:
        try:
            return get_setting(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return default


def _parse_column_map(pairs: tuple[str, ...]) -> dict[str, str] | None:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise click.BadParameter(f"{pair!r}: expected FIELD=COLUMN, e.g. text=content")
        mapping[field.strip()] = column.strip()
    return mapping or None


#: --csv-map, shared by build and add.
CSV_MAP = click.option(
    "--csv-map",
    "csv_map",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Map an article field to a CSV/JSONL column, e.g. text=content. Repeatable.",
)


def _prompt_option(name: str) -> Any:
    """--query-prompt / --document-prompt: the setting for this run, given to the whole
    process through its SEMSEARCH_ variable, so that every embedder it loads (server
    workers and a build's local cluster included) encodes with it."""

    def remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            os.environ[f"SEMSEARCH_{name.upper()}"] = value

    return click.option(
        f"--{name.replace('_', '-')}",
        default=None,
        expose_value=False,
        callback=remember,
        help=_setting_help(name),
    )


def prompt_options(command: Any) -> Any:
    """The two prompt options, for the commands that embed."""
    return _prompt_option("query_prompt")(_prompt_option("document_prompt")(command))


class _Bars:
    """tqdm bars for the build's phases, created on first report. Embedding runs while
    files are still read, so its total grows as passages are handed in."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            label = {
                "read": "reading files",
                "embed": "embedding chunks",
                "tune": "tuning hybrid fusion",
            }.get(phase, phase)
            unit = {"read": "file", "embed": "chunk"}.get(phase, "step")
            bar = self.bars[phase] = tqdm(
                total=total, desc=label, unit=unit, file=sys.stderr, dynamic_ncols=True
            )
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)
        if done >= total and phase != "embed":  # embedding's end is when close() is called
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does.")
@click.option(
    "--log-json",
    is_flag=True,
    default=_setting_default("log_json"),
    help=_setting_help("log_json"),
)
def cli(verbose: bool, log_json: bool) -> None:
    """Semantic search over article collections; every passage credited to its source."""
    from semsearch.web.observability import configure_logging

    configure_logging(logging.INFO if verbose else logging.WARNING, json_format=log_json)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(), help="Index directory to (re)place.")
@click.option("--model", default=None, help=_setting_help("model"))
@prompt_options
@CSV_MAP
@click.option("--chunk-tokens", type=int, default=None, help=_setting_help("chunk_tokens"))
@click.option("--overlap-tokens", type=int, default=None, help=_setting_help("overlap_tokens"))
@click.option("--batch-size", type=int, default=None, help=_setting_help("batch_size"))
@click.option(
    "--engine",
    type=click.Choice(BUILD_ENGINES),
    default=_setting_default("build_engine"),
    help=_setting_help("build_engine"),
)
@click.option(
    "--address",
    default=None,
    metavar="tcp://HOST:PORT",
    help="With --engine dask: the scheduler to embed on; without it, a cluster of --workers "
    "processes on 127.0.0.1 is started for the build and stopped after.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="With --engine dask and no --address: worker processes to start [default: 2].",
)
@click.option(
    "--worker-setup",
    default=None,
    metavar="MODULE:FUNCTION",
    help="With --engine dask: a function every worker runs before loading the model (to "
    "register an embedder defined in code; a model folder needs none).",
)
@click.option(
    "--tune/--no-tune",
    default=True,
    show_default=True,
    help="Tune hybrid fusion to this collection with probes from its own articles.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(
    inputs: tuple[str, ...],
    out: str,
    model: str | None,
    csv_map: tuple[str, ...],
    chunk_tokens: int | None,
    overlap_tokens: int | None,
    batch_size: int | None,
    engine: str,
    address: str | None,
    workers: int | None,
    worker_setup: str | None,
    tune: bool,
    quiet: bool,
) -> None:
    """Build an index from article files and folders (.md/.txt pages, .jsonl, .csv, web
    pages .html/.htm, gzipped too, and web archives .warc/.warc.gz)."""
    from semsearch.index.build.builder import build_index
    from semsearch.index.embed import load_embedder
    from semsearch.index.ingest.collection import model_advice
    from semsearch.search.calibration import build_calibrator
    from semsearch.search.tuning import build_tuner
    from semsearch.settings import get_setting

    settings = {
        "model": model,
        "chunk_tokens": chunk_tokens,
        "overlap_tokens": overlap_tokens,
        "batch_size": batch_size,
    }
    pipeline_factory = _build_engine(engine, address, workers, worker_setup)
    bars = None if quiet else _Bars()
    try:
        embedder = load_embedder(
            get_setting("model", settings), int(get_setting("batch_size", settings))
        )
        tuner = build_tuner(embedder) if tune else None
        calibrator = build_calibrator(embedder) if tune else None
        report = build_index(
            inputs,
            out,
            embedder,
            settings,
            _parse_column_map(csv_map),
            bars,
            tuner,
            calibrate=calibrator,
            pipeline_factory=pipeline_factory,
        )
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bars:
            bars.close()
    click.echo(f"index: {report.index_dir} -> {report.version_dir.name}")
    click.echo(f"articles read: {report.articles}")
    click.echo(f"skipped: {len(report.skipped)}")
    for item in report.skipped[:50]:
        click.echo(f"  {item}")
    if len(report.skipped) > 50:
        click.echo(f"  ... and {len(report.skipped) - 50} more (run with -v to log all)")
    if report.ingest is not None:
        for line in report.ingest.lines():
            click.echo(line)
        if advice := model_advice(report.ingest.languages, embedder.name):
            click.echo(advice)
    click.echo(f"chunks: {report.chunks} ({report.reused} unchanged, their vectors reused)")
    click.echo(
        f"seconds: {report.seconds:.1f} (the model busy embedding {report.embed_seconds:.1f}, "
        f"alongside chunking; tuning {report.tune_seconds:.1f})"
    )
    click.echo(f"chunks/s: {report.chunks_per_second:.1f} (tuning excluded)")
    fusion = report.fusion
    if fusion:
        click.echo(
            f"hybrid fusion: {fusion['method']}, dense weight {fusion['dense_weight']} "
            f"(probe MRR@10 {fusion['probe_mrr_10']}; dense only {fusion['dense_only_mrr_10']}, "
            f"keyword only {fusion['keyword_only_mrr_10']}; {fusion['probes']} probes)"
        )
        kind = fusion.get("probe_kind", "other passages")
        click.echo(f"  chosen by {fusion.get('chosen_by', 'probes')}: {fusion.get('reason', '')}")
        click.echo(f"  probes found their article through {kind}")
    elif tune:
        click.echo("hybrid fusion: defaults (too few probes: the collection is too small to tune)")
    no_match = report.no_match
    if no_match:
        click.echo(
            f"no good match below: {no_match['min_score']} (set by {no_match['set_by']}; "
            f"off-topic probes refused {no_match['off_topic_refused']:.0%}, on-topic "
            f"{no_match['on_topic_refused']:.0%}; {no_match['on_topic']['n']} probes)"
        )
    elif tune:
        click.echo("no good match below: the min_score setting (too few probes to calibrate)")


def _build_engine(
    engine: str, address: str | None, workers: int | None, worker_setup: str | None
) -> Any:
    """The pipeline factory `--engine` names, for `build_index(pipeline_factory=...)`: None
    (embed in this process) or a Dask one."""
    if engine != "dask":
        if address or workers or worker_setup:
            raise click.UsageError("--address, --workers and --worker-setup need --engine dask")
        return None
    if address and workers:
        raise click.UsageError("--workers sizes the cluster started without --address")
    from semsearch.index.build.distributed import dask_pipeline

    return dask_pipeline(address, workers or 2, worker_setup)


#: --server and --key, shared by add and delete: write to a running server instead.
SERVER = click.option(
    "--server",
    default=None,
    metavar="URL",
    help="Write to a running server (POST /api/articles) instead of an index directory.",
)
KEY = click.option(
    "--key",
    default=None,
    envvar="SEMSEARCH_API_KEY",
    help="API key with the write scope, for --server [env SEMSEARCH_API_KEY: keeps it out "
    "of the process list].",
)


def _target(index_dir: str | None, server: str | None, key: str | None) -> None:
    """Exactly one of --index and --server; --server needs a key."""
    if (index_dir is None) == (server is None):
        raise click.UsageError("give --index DIR or --server URL (one of them)")
    if server is not None and not key:
        raise click.UsageError("--server needs --key (or SEMSEARCH_API_KEY) with the write scope")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--index", "index_dir", default=None, type=click.Path(), help=INDEX_HELP)
@SERVER
@KEY
@click.option("--model", default=None, help=_setting_help("model"))
@prompt_options
@CSV_MAP
@click.option("--quiet", is_flag=True, help="No progress bars.")
def add(
    inputs: tuple[str, ...],
    index_dir: str | None,
    server: str | None,
    key: str | None,
    model: str | None,
    csv_map: tuple[str, ...],
    quiet: bool,
) -> None:
    """Add new articles to an index and replace changed ones (same id, new content).

    Unchanged articles are not embedded again. Into a directory (--index), through the
    index's writer, which publishes a new version atomically; or to a running server
    (--server URL --key KEY), which answers item by item. Articles that cannot be indexed
    are listed as skipped; the others are written."""
    _target(index_dir, server, key)
    column_map = _parse_column_map(csv_map)
    if server is not None:
        from semsearch.client import push_articles

        _print_outcomes(_client_call(push_articles, server, str(key), inputs, column_map))
        return
    assert index_dir is not None
    target = _written_in(index_dir)
    if target is None:
        report = _run_update(index_dir, model, quiet, add=inputs, column_map=column_map)
        _print_update(report)
        return
    from semsearch.index.ingest.articles import Skipped
    from semsearch.index.ingest.readers import read_articles
    from semsearch.index.live import WriteOutcome

    read = list(read_articles(inputs, column_map))
    articles = [item for item in read if not isinstance(item, Skipped)]
    skipped = [WriteOutcome(i.origin, "refused", i.reason) for i in read if isinstance(i, Skipped)]
    outcomes = list(skipped)
    if articles:
        outcomes += _write_locally(target, model, lambda w: w.upsert(articles))
    _print_outcomes(outcomes, target)


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--index", "index_dir", default=None, type=click.Path(), help=INDEX_HELP)
@SERVER
@KEY
@click.option("--model", default=None, help=_setting_help("model"))
def delete(
    ids: tuple[str, ...],
    index_dir: str | None,
    server: str | None,
    key: str | None,
    model: str | None,
) -> None:
    """Delete articles by id. Ids not in the index are refused (exit status 1); the others
    are deleted."""
    _target(index_dir, server, key)
    target: str | None = None  # where they were deleted, when not through a server
    if server is not None:
        from semsearch.client import delete_articles

        outcomes = _client_call(delete_articles, server, str(key), list(ids))
    else:
        assert index_dir is not None
        target = _written_in(index_dir)
        if target is None:
            _print_update(_run_update(index_dir, model, True, delete=ids))
            return
        outcomes = _write_locally(target, model, lambda w: w.delete(list(ids)))
    _print_outcomes(outcomes, target)
    if any(o.status == "refused" for o in outcomes):
        raise SystemExit(1)


def _written_in(index_dir: str) -> str | None:
    """Where the index's articles are written: itself, or the live directory an engine's live
    index is served from (its writes reach the engine); None when it is served from a copy of
    a built directory (an engine's index), whose articles change in that directory, which is
    published again (`_run_update`)."""
    from semsearch.search.backends import writes_to

    try:
        target = writes_to(index_dir)
    except SemsearchError as exc:  # the engine's record, or its source, is not there
        raise click.ClickException(str(exc)) from exc
    return None if target is None else str(target)


def _write_locally(index_dir: str, model: str | None, write: Any) -> list[Any]:
    """`write(index)` through the Python API (`semsearch.api.Index`: the index's writer,
    `semsearch.index.live.open_writer`); a folder not there yet becomes a live index."""
    from semsearch.api import open_index

    try:
        if not Path(index_dir).exists():
            from semsearch.index.embed import load_embedder
            from semsearch.index.live import open_writer

            settings = {"model": model}
            embedder = load_embedder(get_setting("model", settings), int(get_setting("batch_size")))
            writer = open_writer(index_dir, embedder, settings)
            try:
                return list(write(writer).outcomes)
            finally:
                writer.close()
        with open_index(index_dir, model=model) as index:
            return list(write(index).outcomes)
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc


def _client_call(call: Any, *args: Any) -> list[Any]:
    from semsearch.client import ClientError

    try:
        return list(call(*args))
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


#: How the writer's statuses are labelled, in the words `add` and `delete` always printed.
_LABELS = {
    "created": "added",
    "updated": "replaced",
    "unchanged": "unchanged",
    "deleted": "deleted",
    "refused": "skipped",
}


def _print_outcomes(outcomes: list[Any], index_dir: str | None = None) -> None:
    for status, label in _LABELS.items():
        ids = [o.id for o in outcomes if o.status == status]
        if status == "refused":
            click.echo(f"{label}: {len(ids)}")
            for outcome in [o for o in outcomes if o.status == status][:50]:
                where = f" (line {outcome.line})" if outcome.line else ""
                click.echo(f"  {outcome.id}{where}: {outcome.reason}")
            continue
        shown = ", ".join(ids[:10]) + (f" ... and {len(ids) - 10} more" if len(ids) > 10 else "")
        click.echo(f"{label}: {len(ids)}" + (f" ({shown})" if ids else ""))
    if index_dir is not None:
        from semsearch.index.storage.directory import resolve_index_dir
        from semsearch.index.storage.manifest import read_manifest

        current = resolve_index_dir(Path(index_dir))
        counts = read_manifest(current).counts
        click.echo(f"index: {index_dir} -> {current.name}")
        click.echo(f"now: {counts['articles']} articles, {counts['chunks']} chunks")


def _run_update(index_dir: str, model: str | None, quiet: bool, **change: Any) -> Any:
    from semsearch.index.build.update import update_index
    from semsearch.index.embed import load_embedder
    from semsearch.search.backends import backend_kind
    from semsearch.settings import get_setting

    settings = {"model": model}
    bars = None if quiet else _Bars()
    try:
        embedder = load_embedder(get_setting("model", settings), int(get_setting("batch_size")))
        # Where the articles change (an engine's index: the directory it was published
        # from), and how the change reaches what is served (an engine publishes it again).
        kind = backend_kind(index_dir)
        source = kind.source_directory(index_dir)
        report = update_index(source, embedder, progress=bars, **change)
        if report.version_dir is not None:
            done = kind.after_update(index_dir, source)
            if done:
                click.echo(done)
        return report
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bars:
            bars.close()


# --- live indexes (docs/live-index.md) ----------------------------------------------------


@cli.command()
@click.argument("index_dir", type=click.Path())
@click.option("--model", default=None, help=_setting_help("model"))
@click.option(
    "--upgrade",
    is_flag=True,
    help="Bring a live index made before the current format up to it (a new version).",
)
def live(index_dir: str, model: str | None, upgrade: bool) -> None:
    """Make INDEX_DIR a live index: written while it serves (docs/live-index.md).

    A built index is turned into a live one once (a new version, published atomically); a
    folder that does not exist becomes an empty live index. With --upgrade, a live index made
    before the current format is analysed again per language, with article rows."""
    from semsearch.index.embed import load_embedder
    from semsearch.index.live import create_live_index
    from semsearch.index.live.snapshot import make_live, upgrade_live

    try:
        embedder = load_embedder(get_setting("model", {"model": model}))
        if upgrade:
            upgraded = upgrade_live(index_dir, embedder)
            if upgraded is None:
                click.echo(f"{index_dir} is already of the current format: nothing to do")
            else:
                click.echo(f"{index_dir} is upgraded: {upgraded.name}")
            return
        if Path(index_dir).exists():
            version = make_live(index_dir, embedder)
        else:
            version = create_live_index(index_dir, embedder)
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{index_dir} is live: {version.name}")


@cli.command()
@click.argument("index_dir", type=click.Path(exists=True))
@click.argument("dest", type=click.Path())
def snapshot(index_dir: str, dest: str) -> None:
    """Copy a live index into DEST, consistent while it takes writes."""
    from semsearch.index.live.snapshot import snapshot as take_snapshot

    try:
        click.echo(f"snapshot of {index_dir} in {take_snapshot(index_dir, dest)}")
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.argument("index_dir", type=click.Path())
def restore(source: str, index_dir: str) -> None:
    """Serve the snapshot SOURCE as INDEX_DIR (a new version, swapped in atomically)."""
    from semsearch.index.live.snapshot import restore as restore_snapshot

    try:
        click.echo(f"{index_dir} restored: {restore_snapshot(source, index_dir).name}")
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.argument("index_dir", type=click.Path(exists=True))
def compact(index_dir: str) -> None:
    """Run a live index's due merges now, to completion (writes merge in the background)."""
    from semsearch.index.live.merge import compact as run_compact

    click.echo(f"{run_compact(index_dir)} merges")


@cli.command()
@click.argument("index_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--to",
    "uri",
    required=True,
    help="Engine URI: milvus:///path/engine.db?collection=NAME (Milvus Lite), "
    "milvus+unix:///path.sock?collection=NAME, milvus+http://host:19530?collection=NAME.",
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder every server reads, for the store's copy [default: beside a Lite database].",
)
@click.option(
    "--vector-index",
    type=click.Choice(["FLAT", "IVF_FLAT", "HNSW"]),
    default="FLAT",
    show_default=True,
    help="The engine's vector index (Milvus Lite has FLAT and IVF_FLAT).",
)
def publish(index_dir: str, uri: str, store_dir: str | None, vector_index: str) -> None:
    """Publish an index directory into a search engine, then `serve --index URI`. A live
    index keeps taking writes there: its store serves, and its writes reach the engine."""
    try:
        _publish(Path(index_dir), uri, store_dir, vector_index)
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Milvus Lite database file (.db).",
)
@click.option(
    "--socket",
    "socket_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Unix socket to serve on.",
)
def engine(db_path: str, socket_path: str) -> None:
    """Run Milvus Lite's engine on a unix socket (no TCP port) for several server processes:
    publish to and serve `milvus+unix://SOCKET?collection=NAME`. Ctrl-C stops it."""
    import signal

    from semsearch.engine import start_lite_engine, stop_lite_engine

    try:
        process = start_lite_engine(Path(db_path), Path(socket_path))
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    stopping: list[int] = []

    def stop(*_: Any) -> None:
        stopping.append(1)
        process.terminate()

    signal.signal(signal.SIGTERM, stop)
    address = f"milvus+unix://{Path(socket_path).absolute()}"
    click.echo(f"engine: {db_path} on {address}  (Ctrl-C to stop)")
    try:
        code = process.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        stop_lite_engine(process)
    if code and not stopping:
        raise click.ClickException(f"the engine exited with status {code}")


def _publish(
    index_dir: Path, uri: str, store_dir: str | Path | None, vector_index: str = "FLAT"
) -> None:
    from semsearch.index.build.publish import publish_index
    from semsearch.index.live import is_live
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import read_manifest

    if is_live(read_manifest(resolve_index_dir(index_dir))):
        # Its own store serves and takes writes, which reach the engine too.
        from semsearch.index.live.engine import publish_live

        click.echo(publish_live(index_dir, uri, vector_index=vector_index).summary())
        return
    report = publish_index(index_dir, uri, store_dir=store_dir, vector_index=vector_index)
    click.echo(report.summary())


def _print_update(report: Any) -> None:
    for label in ("added", "replaced", "unchanged", "deleted"):
        ids = getattr(report, label)
        shown = ", ".join(ids[:10]) + (f" ... and {len(ids) - 10} more" if len(ids) > 10 else "")
        click.echo(f"{label}: {len(ids)}" + (f" ({shown})" if ids else ""))
    click.echo(f"skipped: {len(report.skipped)}")
    for item in report.skipped[:50]:
        click.echo(f"  {item}")
    if report.version_dir is None:
        click.echo(f"index: {report.index_dir} unchanged (nothing to do)")
    else:
        click.echo(f"index: {report.index_dir} -> {report.version_dir.name}")
    click.echo(f"now: {report.articles} articles, {report.chunks} chunks")


@cli.command()
@click.argument("text")
@click.option("--index", "index_dir", required=True, type=click.Path(), help=INDEX_HELP)
@click.option("-k", "k", type=int, default=None, help="How many results (1-100).")
@click.option("--mode", type=click.Choice(MODES), default=None, help=_setting_help("mode"))
@click.option(
    "--group",
    type=click.Choice(["article"]),
    default=None,
    help="One result per article, its other matching passages under it.",
)
@click.option(
    "--from", "published_from", default=None, help="Published on or after (YYYY[-MM[-DD]])."
)
@click.option("--to", "published_to", default=None, help="Published on or before (YYYY[-MM[-DD]]).")
@click.option("--publication", default=None, help="Only this publication (case ignored).")
@click.option("--author", default=None, help="Only bylines containing this (case ignored).")
@click.option("--page", type=int, default=None, help="Which page of k results, from 1.")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default=None,
    help="relevance (default), or the same matches newest or oldest first.",
)
@click.option(
    "--no-infer-dates",
    "no_infer_dates",
    is_flag=True,
    help='Do not read date words in the query ("since 2017") as date filters.',
)
@click.option(
    "--recency",
    default=None,
    help="Blend relevance with recency: a half-life such as 30d, 2w, 6m or 2y, or off.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of text.")
@click.option("--model", default=None, help=_setting_help("model"))
@prompt_options
def query(
    text: str,
    index_dir: str,
    k: int | None,
    mode: str | None,
    group: str | None,
    published_from: str | None,
    published_to: str | None,
    publication: str | None,
    author: str | None,
    page: int | None,
    sort: str | None,
    no_infer_dates: bool,
    recency: str | None,
    as_json: bool,
    model: str | None,
) -> None:
    """Search an index from the command line."""
    from semsearch.api import open_index
    from semsearch.web.navigation import date_phrase

    try:
        with open_index(index_dir, model=model) as index:
            result = index.search(
                text,
                k,
                mode=mode,
                group=group,
                published_from=published_from,
                published_to=published_to,
                publication=publication,
                author=author,
                page=page,
                sort=sort,
                infer_dates=False if no_infer_dates else None,
                recency=recency,
            )
            answer = result.to_dict() if as_json else None
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    if answer is not None:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    if result.understood_as is not None and result.understood_as != result.query:
        click.echo(f"Understood as: {result.understood_as}")
    if result.inferred:
        click.echo(
            f"Dates read from the query: {date_phrase(result.inferred)} first "
            "(--no-infer-dates ranks all dates alike)"
        )
    if not result.hits:
        click.echo(f"No good match: {result.reason}." if not result.past_end else result.reason)
        return
    click.echo(
        f"{len(result.hits)} results ({result.mode}"
        + (f", {result.sort}" if result.sort != "relevance" else "")
        + f", page {result.page}) in {result.took_ms:.0f} ms"
    )
    first = (result.page - 1) * result.k + 1
    weaker_said = result.sort != "relevance"  # date order mixes them: no heading
    for rank, hit in enumerate(result.hits, start=first):
        if hit.strength == "weak" and not weaker_said:
            click.echo("\n-- weaker matches --")
            weaker_said = True
        a = hit.article
        byline = ", ".join(x for x in (a.publication, a.author, a.published) if x)
        click.echo(f"\n{rank}. [{hit.score:.3f}] {a.title}" + (f" — {byline}" if byline else ""))
        click.echo("   " + " ".join(hit.passage.text.split())[:600])
        credit = a.copyright or "no copyright line in the source"
        click.echo(f"   {credit}" + (f" · {a.url}" if a.url else ""))
        if hit.also:
            click.echo(f"   (+{len(hit.also)} more passages from this article)")
    if result.has_next:
        click.echo(f"\nMore: --page {result.page + 1}")


@cli.command()
@click.argument("article_id")
@click.option("--index", "index_dir", required=True, type=click.Path(), help=INDEX_HELP)
@click.option("--model", default=None, help=_setting_help("model"))
def show(article_id: str, index_dir: str, model: str | None) -> None:
    """Print one article as its page shows it: credits, citations, then the text."""
    from semsearch.index.ingest.readers import is_web_url
    from semsearch.search.citation import cite, web_url
    from semsearch.search.service import SearchService

    try:
        found = SearchService.open(index_dir, {"model": model}).article(article_id)
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    a = found.article
    click.echo(click.style(a.title, bold=True))
    byline = " · ".join(x for x in (a.author, a.publication, a.published) if x)
    if byline:
        click.echo(byline)
    site = a.site_url if a.site_url and is_web_url(a.site_url) else None
    for label, value in (("URL", web_url(a)), ("Site", site), ("Copyright", a.copyright)):
        if value:
            click.echo(f"{label}: {value}")
    for name, values in a.tags.items():
        click.echo(f"{name}: {', '.join(values)}")
    citations = cite(a)
    click.echo("\nCite:")
    for label, value in (
        ("Credit", citations.text),
        ("APA", citations.apa),
        ("Chicago", citations.chicago),
    ):
        click.echo(f"  {label}: {value}")
    click.echo("\n" + found.text.strip())
    for value in (a.license, a.source_note):
        if value:
            click.echo("\n" + value)


@cli.command()
@click.option("--index", "index_dir", required=True, type=click.Path(), help=INDEX_HELP)
def info(index_dir: str) -> None:
    """Print what an index holds: model, version, counts, articles by publication and year."""
    from semsearch.index.storage.overview import index_overview
    from semsearch.search.backends import backend_kind

    try:
        kind = backend_kind(index_dir)
        source = kind.source_directory(index_dir)
        if str(source) != str(index_dir):  # an engine's counts: the directory published
            click.echo(f"{kind.name}:   {index_dir} (published from {source})")
        overview = index_overview(source)
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    model = overview.model
    click.echo(f"index:    {overview.path}")
    click.echo(f"version:  {overview.version} (format {overview.format_version})")
    click.echo(f"built:    {overview.built_at}")
    revision = f" (revision {model['revision']})" if model.get("revision") else ""
    click.echo(f"model:    {model.get('name')}{revision}, dimension {model.get('dimension')}")
    click.echo("counts:   " + ", ".join(f"{n} {name}" for name, n in overview.counts.items()))
    if overview.earliest:
        undated = f", {overview.undated} undated" if overview.undated else ""
        click.echo(f"dates:    {overview.earliest} to {overview.latest}{undated}")
    else:
        click.echo("dates:    none given")
    click.echo("\nby publication:")
    for publication, n in overview.by_publication:
        click.echo(f"  {n:6d}  {publication or '(none given)'}")
    click.echo("\nby year:")
    for year, n in overview.by_year:
        click.echo(f"  {n:6d}  {year or '(undated)'}")


@cli.command(name="eval")
@click.option("--index", "index_dir", required=True, type=click.Path(), help=INDEX_HELP)
@click.option(
    "--queries",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="BEIR queries.jsonl.",
)
@click.option(
    "--qrels",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="BEIR qrels TSV (query-id, corpus-id, score).",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(MODES),
    help="Mode to evaluate; repeatable. Default: all three.",
)
@click.option("--model", default=None, help=_setting_help("model"))
@prompt_options
def evaluate_index(
    index_dir: str, queries: str, qrels: str, modes: tuple[str, ...], model: str | None
) -> None:
    """nDCG@10, Recall@10, Recall@100, MRR@10 and latency per mode on BEIR judgments."""
    from pathlib import Path

    from semsearch.search.evaluate import evaluate, read_qrels, read_queries
    from semsearch.search.service import SearchService

    try:
        # No time budget: an evaluation is not a server thread to protect, and a question
        # given up under load would score 0 and change the figure.
        service = SearchService.open(index_dir, {"model": model, "search_timeout_ms": 0})
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        query_texts, judgments = read_queries(Path(queries)), read_qrels(Path(qrels))
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read the queries or qrels: {exc!r}") from exc
    click.echo(
        f"{'mode':<8} {'queries':>7} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} "
        f"{'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7}"
    )
    for mode in modes or MODES:
        try:
            r = evaluate(service, query_texts, judgments, mode)
        except (SemsearchError, ValueError) as exc:
            raise click.ClickException(f"evaluating {mode}: {exc}") from exc
        click.echo(
            f"{r.mode:<8} {r.queries:>7} {r.ndcg_10:>8.4f} {r.recall_10:>7.4f} "
            f"{r.recall_100:>7.4f} {r.mrr_10:>7.4f} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f}"
        )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--work",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the bench's input copy, index and server log (replaced on each run).",
)
@click.option("--articles", default=1500, show_default=True, help="Use the first N articles.")
@click.option(
    "--scale-to",
    default=100_000,
    show_default=True,
    help="Grow the index to about N chunks for the latency figures (synthesised passages "
    "and vectors around the real ones); 0: measure the real index only.",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="BEIR queries.jsonl or one query a line; default: titles of the articles.",
)
@click.option("--sample", default=256, show_default=True, help="Passages embedded per backend.")
@click.option("--clients", default="1,8,32", show_default=True, help="HTTP client counts.")
@click.option(
    "--workers",
    default=None,
    help="Server worker counts to measure, such as 1,2 [default: 1 and one per core].",
)
@click.option(
    "--http-seconds", default=20.0, show_default=True, help="Most seconds per client count."
)
@click.option(
    "--http-requests", default=3000, show_default=True, help="Most requests per client count."
)
@click.option(
    "--backends", default="onnx-int8,torch", show_default=True, help="Backends to measure."
)
@click.option("--no-baseline", is_flag=True, help="Skip the plain sentence-transformers baseline.")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Also write the figures here."
)
def bench(
    inputs: tuple[str, ...],
    work: str,
    articles: int,
    scale_to: int,
    queries: str | None,
    sample: int,
    clients: str,
    workers: str | None,
    http_seconds: float,
    http_requests: int,
    backends: str,
    no_baseline: bool,
    json_out: str | None,
) -> None:
    """Measure build throughput, embedding, query latency in-process and over HTTP, memory
    and start-up on this machine, against a plain sentence-transformers + FAISS baseline."""
    import dataclasses

    from semsearch.bench.runner import BenchConfig, run_bench

    counts = _numbers("--clients", clients)
    worker_counts = _numbers("--workers", workers) if workers else ()
    config = BenchConfig(
        inputs=[Path(p) for p in inputs],
        work=Path(work),
        articles=articles,
        sample=sample,
        scale_to=scale_to,
        queries=Path(queries) if queries else None,
        clients=counts,
        workers=worker_counts,
        http_seconds=http_seconds,
        http_requests=http_requests,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        baseline=not no_baseline,
    )
    try:
        result = run_bench(config, echo=click.echo)
    except (SemsearchError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if json_out:
        Path(json_out).write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")


@cli.command()
@click.option(
    "--index",
    "index_dirs",
    multiple=True,
    metavar="[NAME=]DIR",
    help=INDEX_HELP + " Repeat as NAME=DIR to serve several collections (docs/api.md).",
)
@click.option(
    "--indexes",
    "indexes_folder",
    default=None,
    type=click.Path(file_okay=False, exists=True),
    help=_setting_help("indexes_folder"),
)
@click.option(
    "--default", "default_collection", default=None, help=_setting_help("default_collection")
)
@click.option(
    "--aliases",
    "aliases_file",
    default=None,
    type=click.Path(dir_okay=False),
    help=_setting_help("aliases_file"),
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option(
    "--threads",
    default=8,
    type=int,
    show_default=True,
    help="Request threads; they share one model and one index.",
)
@click.option("--model", default=None, help=_setting_help("model"))
@prompt_options
@click.option("--reload-interval", default=None, type=float, help=_setting_help("reload_interval"))
@click.option(
    "--timeout",
    default=30,
    type=int,
    show_default=True,
    help="Seconds a client may stay silent mid-request before the connection is closed.",
)
@click.option(
    "--workers",
    default=1,
    type=click.IntRange(1, 64),
    show_default=True,
    help="Server processes sharing the port, each with its own model and threads (the "
    "index files are mapped once for all). About one per core answers the most queries.",
)
def serve(
    index_dirs: tuple[str, ...],
    indexes_folder: str | None,
    default_collection: str | None,
    aliases_file: str | None,
    host: str,
    port: int,
    threads: int,
    model: str | None,
    reload_interval: float | None,
    timeout: int,
    workers: int,
) -> None:
    """Serve the search page and JSON API: waitress in one process, gunicorn with several.

    The admin API (POST /api/admin/reload) is on when SEMSEARCH_ADMIN_KEY is set. With
    --workers N: SIGHUP starts new workers on the current index and stops the old ones."""
    from semsearch.web.server import serve_gunicorn, serve_waitress

    index_dir, named = _served_indexes(index_dirs, indexes_folder)
    collections = {
        "INDEXES": named,
        "INDEXES_FOLDER": indexes_folder,
        "DEFAULT_COLLECTION": default_collection,
        "ALIASES_FILE": aliases_file,
    }
    served = index_dir or ", ".join(f"{n}={d}" for n, d in named.items()) or indexes_folder
    # One access line per request, whatever the verbosity (the library stays at WARNING).
    logging.getLogger("semsearch.access").setLevel(logging.INFO)

    def make_app() -> Any:
        # Called in each worker with --workers: the master forks before the app, the model
        # and FAISS are loaded, so none of their threads or sessions is copied into a worker.
        from semsearch.web import create_app
        from semsearch.web.served import served_index

        config = {"INDEX_DIR": index_dir, "MODEL": model, "RELOAD_INTERVAL": reload_interval}
        try:
            app = create_app({**config, **collections})
        except (ValueError, SemsearchError) as exc:
            raise click.ClickException(str(exc)) from exc
        served = served_index(app)
        if served.service is None:
            click.echo(f"warning: {served.error} (serving anyway; /readyz says 503)", err=True)
        return app

    if workers == 1:
        app = make_app()
        click.echo(f"serving {served} on http://{host}:{port}/  (Ctrl-C to stop)")
        serve_waitress(app, host, port, threads=threads, timeout=timeout)
        return
    click.echo(f"serving {served} on http://{host}:{port}/ with {workers} workers")
    serve_gunicorn(make_app, host, port, workers=workers, threads=threads, timeout=timeout)


def _served_indexes(
    given: tuple[str, ...], folder: str | None
) -> tuple[str | None, dict[str, str]]:
    """`--index` values as one index (DIR) or named collections (NAME=DIR, several)."""
    from semsearch.index.storage.aliases import NAME_PATTERN

    named: dict[str, str] = {}
    plain: list[str] = []
    for value in given:
        name, equals, path = value.partition("=")
        # An engine URI may hold "=" in its query: a name has no ':' or '/'.
        if equals and NAME_PATTERN.fullmatch(name):
            if name in named:
                raise click.UsageError(f"--index {name}=... is given twice")
            named[name] = path
        else:
            plain.append(value)
    if not given and folder is None:
        raise click.UsageError(
            "give --index DIR, --index NAME=DIR (repeatable) or --indexes FOLDER"
        )
    if plain and (named or folder or len(plain) > 1):
        raise click.UsageError(
            "several indexes are served as named collections: --index NAME=DIR for each"
        )
    return (plain[0] if plain else None), named


# --- aliases (docs/api.md, "Aliases") ---------------------------------------------------------


@cli.group()
def alias() -> None:
    """Names that point at a collection, moved atomically: a client's URL never changes
    across rebuilds."""


def _alias_file(indexes_folder: str | None, aliases_file: str | None) -> Any:
    from semsearch.index.storage.aliases import AliasFile

    if (indexes_folder is None) == (aliases_file is None):
        raise click.UsageError("give --indexes FOLDER or --aliases FILE (one of them)")
    return AliasFile(aliases_file or Path(str(indexes_folder)) / "aliases.json")


ALIAS_PLACES = (
    click.option(
        "--indexes",
        "indexes_folder",
        default=None,
        type=click.Path(file_okay=False, exists=True),
        help="The folder of indexes the server serves (its aliases.json).",
    ),
    click.option(
        "--aliases",
        "aliases_file",
        default=None,
        type=click.Path(dir_okay=False),
        help="The aliases file.",
    ),
)


def _alias_places(command: Any) -> Any:
    for option in reversed(ALIAS_PLACES):
        command = option(command)
    return command


@alias.command(name="set")
@click.argument("name")
@click.argument("target")
@_alias_places
@click.option("--server", default=None, metavar="URL", help="Move it on a running server instead.")
@click.option(
    "--key",
    default=None,
    envvar="SEMSEARCH_ADMIN_KEY",
    help="With --server: a key with the admin scope [env SEMSEARCH_ADMIN_KEY].",
)
def alias_set(
    name: str,
    target: str,
    indexes_folder: str | None,
    aliases_file: str | None,
    server: str | None,
    key: str | None,
) -> None:
    """Point alias NAME at collection TARGET (written atomically; a server reads it on the
    next request naming an alias). With --server, the server checks TARGET and loads it."""
    if server is not None:
        if not key:
            raise click.UsageError("--server needs --key (or SEMSEARCH_ADMIN_KEY), admin scope")
        from semsearch.client import ClientError, set_alias

        try:
            aliases = set_alias(server, key, name, target)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        store = _alias_file(indexes_folder, aliases_file)
        if indexes_folder is not None and not (Path(indexes_folder) / target).is_dir():
            raise click.ClickException(f"no index {target!r} in {indexes_folder}")
        try:
            aliases = store.set(name, target)
        except SemsearchError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} -> {aliases[name]}")


@alias.command(name="list")
@_alias_places
def alias_list(indexes_folder: str | None, aliases_file: str | None) -> None:
    """Every alias and the collection it names."""
    try:
        aliases = _alias_file(indexes_folder, aliases_file).read()
    except SemsearchError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, target in aliases.items():
        click.echo(f"{name} -> {target}")


@cli.group()
def keys() -> None:
    """API keys for a server: create, list, revoke (stored hashed in api_keys_file)."""


KEYS_FILE = click.option(
    "--file",
    "keys_file",
    default=_setting_default("api_keys_file"),
    type=click.Path(dir_okay=False),
    help=_setting_help("api_keys_file"),
)


def _key_store(keys_file: str | None) -> Any:
    from semsearch.web.keys import KeyStore

    if not keys_file:
        raise click.UsageError("give --file PATH or set SEMSEARCH_API_KEYS_FILE")
    return KeyStore(keys_file)


@keys.command(name="create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["search", "write", "admin"]),
    help="What the key may do; repeatable. admin holds search and write too.",
)
@KEYS_FILE
def keys_create(name: str, scopes: tuple[str, ...], keys_file: str | None) -> None:
    """Create a key; it is printed once, only its hash is kept."""
    try:
        record, key = _key_store(keys_file).create(name, scopes)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created key {record.id} ({record.name}; {', '.join(sorted(record.scopes))})")
    click.echo(key)
    click.echo("keep it now: it is not stored and cannot be shown again", err=True)


@keys.command(name="list")
@KEYS_FILE
def keys_list(keys_file: str | None) -> None:
    """Every key's id, name, scopes and dates (never the key)."""
    for record in _key_store(keys_file).list():
        state = f"revoked {record.revoked}" if record.revoked else "active"
        scopes = ",".join(sorted(record.scopes))
        click.echo(f"{record.id}  {scopes:<20} {record.created}  {state}  {record.name}")


@keys.command(name="revoke")
@click.argument("key_id")
@KEYS_FILE
def keys_revoke(key_id: str, keys_file: str | None) -> None:
    """Revoke a key by id (from `keys list`); servers refuse it from the next request."""
    try:
        record = _key_store(keys_file).revoke(key_id)
    except (KeyError, FileNotFoundError):
        raise click.ClickException(f"no key {key_id!r} in {keys_file}") from None
    click.echo(f"revoked key {record.id} ({record.name}) at {record.revoked}")


def _numbers(option: str, text: str) -> tuple[int, ...]:
    """A comma-separated list of positive whole numbers, such as 1,8,32."""
    try:
        numbers = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) < 1:
        raise click.BadParameter(f"{option} takes positive numbers like 1,8,32, got {text!r}")
    return numbers


def main() -> None:
    """Console entry point."""
    cli(prog_name="semsearch")


__all__ = ["DEFAULT_MODEL", "cli", "main"]
