"""How `semsearch serve` runs the app: waitress in one process, gunicorn with several.

One process (`--workers 1`, the default): waitress, whose event loop reads every request
whole before a thread runs the app, so a slow or silent client costs a socket, not a thread.

Several (`--workers N`): gunicorn's master binds the port and forks N workers; each builds
the app itself (`semsearch.web.create_app`, no preloading: no model session or FAISS thread
exists before a fork) and serves it with gunicorn's threaded worker (gthread, `--threads`
threads). Why several: CPython runs the Python half of a hybrid search (fusion, the store,
highlighting, JSON, HTTP) one thread at a time per process; `semsearch bench` measures one
worker and one per core. FAISS and bm25s map their files, so the index pages sit once in
memory for all workers; the model and Python's own memory are per worker.

What gunicorn does, as documented (https://docs.gunicorn.org/en/stable/signals.html):
- SIGTERM: graceful stop (workers get `STOP_SECONDS` to finish, then SIGKILL); SIGINT and
  SIGQUIT: quick stop. Exit status 0 either way.
- SIGHUP: graceful reload: new workers start (and load the index the link points to now),
  then the old ones stop.
- A worker that dies is replaced by a new one; the server keeps running. A worker whose
  master has gone (even after `kill -9`) sees its parent change and exits within a second.
- SIGUSR1: reopen log files, passed on to every worker. `POST /api/admin/reload` uses it
  too: the worker asked reloads, then sends SIGUSR1 to the master, and every other worker
  reloads the index as well (`SemsearchWorker.handle_usr1`).

Added here:
- Metrics: prometheus_client's multiprocess mode, its files in a new folder for each run
  (inside `PROMETHEUS_MULTIPROC_DIR` if set), so `/metrics` counts every worker's requests
  whichever worker answers; `child_exit` calls `multiprocess.mark_process_dead`.
- Slow clients: gunicorn reads a request in the thread that will answer it, without a
  time limit. Each connection gets `SO_RCVTIMEO`/`SO_SNDTIMEO` of `--timeout` seconds, so a
  client silent mid-request loses its connection and gives its thread back, as with
  waitress. Many slow clients at once can still hold every thread for that long: in front
  of several workers on an open network, run a buffering reverse proxy (nginx), as
  gunicorn's deployment guide says.
- Bodies over the app's `MAX_CONTENT_LENGTH`: both servers read and throw away the rest of
  the body instead of closing the socket while the client is still sending (which clients
  see as a connection reset), so the client reads the app's JSON 413.
- Rate limits are counted per worker (see `semsearch.web.security`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import multiprocess
from waitress.buffers import OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server

from semsearch.web.served import served_index
from semsearch.web.workers import MASTER_PID, notify_siblings, sent_notice

log = logging.getLogger(__name__)

#: Environment variable naming prometheus_client's multiprocess folder.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds the workers get to finish their requests after SIGTERM before they are killed.
STOP_SECONDS = 10
#: Seconds a worker may go without telling the master it is alive (loading included).
HEARTBEAT_SECONDS = 60
#: Seconds at most spent reading and throwing away a body the app did not read.
DISCARD_SECONDS = 60.0
#: waitress's own body limit, out of the way: bodies over the app's limit are discarded.
_NO_BODY_LIMIT = 1 << 62

# --- one process: waitress ----------------------------------------------------------------


def serve_waitress(app: Flask, host: str, port: int, threads: int, timeout: int) -> None:
    """Serve `app` with waitress on host:port until the process is stopped."""
    sockets: dict[int, Any] = {}  # waitress's socket map: its listening servers go in it
    server = create_server(
        app,
        map=sockets,
        host=host,
        port=port,
        threads=threads,
        ident="semsearch",
        channel_timeout=timeout,
        # waitress looks for silent connections only this often (its default is 30 s).
        cleanup_interval=max(1, min(30, timeout // 2)),
        max_request_body_size=_NO_BODY_LIMIT,
    )
    limit = body_limit(app)
    if limit is not None:
        channel = bounded_body_channel(int(limit))
        for dispatcher in list(sockets.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                dispatcher.channel_class = channel
    server.print_listen("Serving on http://{}:{}")
    server.run()


def body_limit(app: Flask) -> int | None:
    """The largest body any view takes: MAX_CONTENT_LENGTH, or the writes' MAX_WRITE_BYTES
    when larger (the write views lower or raise Flask's limit per request)."""
    limits = [app.config.get("MAX_CONTENT_LENGTH"), app.config.get("MAX_WRITE_BYTES")]
    given = [int(limit) for limit in limits if limit is not None]
    return max(given) if given else None


class DiscardingBody:
    """waitress's buffer for one request body: kept until it passes `limit` bytes, then only
    counted. The app sees the length (for a chunked body too: waitress puts the count in
    CONTENT_LENGTH) and answers its own 413 without reading."""

    def __init__(self, limit: int, overflow: int) -> None:
        self.limit = limit
        self.length = 0
        self.kept: OverflowableBuffer | None = OverflowableBuffer(overflow)

    def append(self, data: bytes) -> None:
        """Take the next bytes of the body."""
        self.length += len(data)
        if self.kept is not None and self.length > self.limit:
            self.kept.close()
            self.kept = None
        if self.kept is not None:
            self.kept.append(data)

    def __len__(self) -> int:
        return self.length

    def getfile(self) -> Any:
        """The body as a file, empty once it was over the limit."""
        return self.kept.getfile() if self.kept is not None else io.BytesIO()

    def close(self) -> None:
        """Free what was kept."""
        if self.kept is not None:
            self.kept.close()


class BoundedBodyParser(HTTPRequestParser):
    """waitress's request parser with `DiscardingBody` for the body (see `body_limit`)."""

    body_limit = 0

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            self.body_rcv.buf = DiscardingBody(self.body_limit, self.adj.inbuf_overflow)


def bounded_body_channel(limit: int) -> type[HTTPChannel]:
    """A waitress channel class whose requests keep at most `limit` body bytes."""
    parser = type("BoundedBodyParser", (BoundedBodyParser,), {"body_limit": limit})
    return type("BoundedBodyChannel", (HTTPChannel,), {"parser_class": parser})


# --- several processes: gunicorn ----------------------------------------------------------


def serve_gunicorn(
    make_app: Callable[[], Flask],
    host: str,
    port: int,
    workers: int,
    threads: int,
    timeout: int,
) -> None:
    """Serve the app from `make_app` (called in each worker) with gunicorn until stopped;
    ends the process with the master's exit status (SystemExit)."""
    options: dict[str, object] = {
        "bind": gunicorn_binds(host, port),
        "workers": workers,
        "worker_class": SemsearchWorker,
        "threads": threads,
        "timeout": HEARTBEAT_SECONDS,
        "graceful_timeout": STOP_SECONDS,
        # Idle kept-alive connections wait in the worker's poller, not in a thread.
        "keepalive": timeout,
        "proc_name": "semsearch",
        "accesslog": None,  # the app writes one access line per request itself
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn's control socket is a Unix socket in $XDG_RUNTIME_DIR or $HOME: unused.
        "control_socket_disable": True,
        "post_fork": _post_fork,
        "child_exit": _child_exit,
    }
    with multiprocess_metrics_folder():
        GunicornServer(make_app, options, timeout).run()


def gunicorn_binds(host: str, port: int) -> list[str]:
    """gunicorn `bind` addresses for a host as waitress reads it (`*`: every interface)."""
    if host == "*":
        # One dual-stack IPv6 socket takes IPv4 too (Linux's default, bindv6only=0); gunicorn
        # does not set IPV6_V6ONLY, so a second socket on 0.0.0.0 would find the port taken.
        return [f"[::]:{port}" if socket.has_ipv6 else f"0.0.0.0:{port}"]
    return [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


class GunicornServer(BaseApplication):
    """gunicorn driven from code: the options given, the app built by `make_app`."""

    def __init__(
        self, make_app: Callable[[], Flask], options: dict[str, object], timeout: int
    ) -> None:
        self.make_app = make_app
        self.options = options
        self.client_timeout = timeout  # read by SemsearchWorker
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> KnownLengthBodies:
        return KnownLengthBodies(self.make_app())

    def run(self) -> None:
        _Arbiter(self).run()


class _Arbiter(Arbiter):
    def spawn_worker(self) -> Any:
        # A worker starts with SIGUSR1 blocked, so that a reload notice sent while it is
        # still loading (maybe the old version) waits for its handler instead of reaching
        # the master's handlers it inherits; `SemsearchWorker.load_wsgi` unblocks it.
        master = os.getpid()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        try:
            return super().spawn_worker()
        finally:
            if os.getpid() == master:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class SemsearchWorker(ThreadWorker):
    """gunicorn's threaded worker, plus the reload notice, client time limits and bodies
    read to their end (see the module docstring)."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # An admin reload in this worker has the others reload too, through the master.
        served_index(self.wsgi.app).notify_others = notify_siblings
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})  # one sent meanwhile: now

    def handle_usr1(self, sig: int, frame: Any) -> None:
        super().handle_usr1(sig, frame)  # log files reopened, as gunicorn does
        served = served_index(self.wsgi.app)
        # The worker that sent the notice has reloaded already: it only catches up with a
        # version published since (a notice of another worker's can arrive merged with it).
        own = sent_notice.is_set()
        sent_notice.clear()
        threading.Thread(
            target=served.reload, kwargs={"force": not own}, name="admin-reload", daemon=True
        ).start()

    def handle(self, conn: Any) -> Any:
        # The kernel's time limits hold for every blocking read and write gunicorn makes on
        # the connection; a read that times out closes the connection (see _QuietTimeouts).
        limit = struct.pack("@ll", self.app.client_timeout, 0)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        keep_alive = bool(super().handle_request(req, conn))
        # gunicorn drains at most 64 KiB of a body the app did not read (a 413 says why),
        # then closes while the client may still be sending, which the client sees as a
        # reset before it reads the answer: read the rest and throw it away.
        return discard_body(req.body, DISCARD_SECONDS) and keep_alive


class KnownLengthBodies:
    """WSGI middleware for gunicorn: a chunked body (no Content-Length) is read up to one
    byte past the app's MAX_CONTENT_LENGTH and handed on with its length and without its
    Transfer-Encoding, as waitress does.
    Otherwise Werkzeug, at the limit of a stream, stops reading without an error and the app
    would answer 400 to a JSON cut short instead of 413."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        limit = body_limit(self.app)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and chunked and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(int(limit) + 1)  # the rest: SemsearchWorker
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]  # Werkzeug ignores the length beside it
        return self.app(environ, start_response)


def discard_body(body: Any, seconds: float) -> bool:
    """Read what is left of a request body and drop it; False if that failed or took over
    `seconds` (the connection must then close)."""
    deadline = time.monotonic() + seconds
    try:
        while body.read(1 << 16):
            if time.monotonic() > deadline:
                return False
    except Exception:  # timed out, reset or badly framed: where the next request starts is lost
        return False
    return True


class _QuietTimeouts(logging.Filter):
    """gunicorn logs a read cut off by SO_RCVTIMEO as a socket error with a traceback: one
    line at INFO says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BlockingIOError | TimeoutError):
            record.msg, record.args, record.exc_info = "closed a silent connection", (), None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _post_fork(server: Any, worker: Any) -> None:
    os.environ[MASTER_PID] = str(worker.ppid)
    logging.getLogger("gunicorn.error").addFilter(_QuietTimeouts())


def _child_exit(server: Any, worker: Any) -> None:
    # For gauges in "live" modes; counters and histograms of a dead worker keep counting.
    multiprocess.mark_process_dead(worker.pid)


@contextlib.contextmanager
def multiprocess_metrics_folder() -> Iterator[str]:
    """prometheus_client's multiprocess mode for the workers, in a new folder that goes
    with the server: inside `PROMETHEUS_MULTIPROC_DIR` when that is set, so that no earlier
    run's counts are added to this one's."""
    given = os.environ.get(MULTIPROCESS_DIR)
    folder = tempfile.mkdtemp(prefix="semsearch-metrics-", dir=given or None)
    owner = os.getpid()
    os.environ[MULTIPROCESS_DIR] = folder
    try:
        yield folder
    finally:
        # gunicorn ends its workers with sys.exit, through here: only the master cleans up.
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)
            if given is None:
                del os.environ[MULTIPROCESS_DIR]
            else:
                os.environ[MULTIPROCESS_DIR] = given


# --- inside a worker ----------------------------------------------------------------------

__all__ = ["MULTIPROCESS_DIR", "serve_gunicorn", "serve_waitress"]
