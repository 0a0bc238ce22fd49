"""Several server processes on one port: `semsearch serve --workers N`.

Why: a hybrid search spends about half of its CPU time in Python (fusion, the store,
highlighting, JSON, HTTP), which CPython runs one thread at a time in a process, and half
in the model, FAISS and SQLite, which run side by side. On this project's 2-core machine,
at 96k chunks and 8 clients, one process answered 137 queries/s and two 150 to 173 in
two runs of `semsearch bench`, which prints both.

How: the supervisor (this module) binds the socket, forks the workers and waits. Each
worker loads the model and opens the index itself, then serves with waitress on the shared
socket; the kernel hands each new connection to one of them. FAISS and bm25s map their
files, so the index pages sit once in memory for all workers; the model (~25 MB int8) and
Python's own memory are per worker. The supervisor imports neither the model nor the
index, so no model session or FAISS thread exists before a fork.

- Metrics: the supervisor turns on prometheus_client's multiprocess mode (its files in a
  new temporary folder for each run, inside `PROMETHEUS_MULTIPROC_DIR` if that is set) so
  that `/metrics` counts every worker's requests, whichever worker answers the scrape (see
  `semsearch.web.observability`).
- Admin reload: the worker that gets `POST /api/admin/reload` reloads, then asks the
  supervisor (SIGUSR1) to have every other worker reload too.
- SIGTERM, SIGINT or SIGHUP to the supervisor stops the workers. A worker that dies on its
  own stops the whole server (exit status 1), so that a process manager restarts it whole
  rather than it running on with fewer workers than it was given. A worker dies with its
  supervisor (Linux `PR_SET_PDEATHSIG`), even after a `kill -9`.
- Rate limits are counted per worker (see `semsearch.web.security`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

#: Environment variable naming prometheus_client's multiprocess folder.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Set in each worker: its supervisor's process id.
SUPERVISOR_PID = "SEMSEARCH_SUPERVISOR_PID"
#: Seconds the workers get to stop after SIGTERM before they are killed.
STOP_SECONDS = 10.0
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
_STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def listening_sockets(host: str, port: int, backlog: int = 1024) -> list[socket.socket]:
    """TCP sockets bound and listening, to be shared by the workers: one per address the
    host name has (`*`: every interface, IPv4 and IPv6), as waitress does for one process."""
    found = socket.getaddrinfo(
        None if host == "*" else host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve_workers(
    count: int,
    sockets: list[socket.socket],
    run_worker: Callable[[list[socket.socket], int], None],
) -> int:
    """Fork `count` workers, each calling `run_worker(sockets, number)` (which serves until
    the process is stopped), and supervise them; returns the exit status for the server.
    The last thing a process does: it leaves stop signals and SIGUSR1 ignored."""
    # Blocked, the supervisor's signals wait for `sigwaitinfo` instead of interrupting.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        with _multiprocess_metrics():
            workers: dict[int, int] = {}  # pid -> worker number
            try:
                for number in range(1, count + 1):
                    workers[_fork(sockets, run_worker, number, previous_mask)] = number
                return _supervise(workers)
            finally:
                _stop(workers)
    finally:
        # The server has stopped. A stop signal or reload notice sent meanwhile or from now
        # on (a second Ctrl-C) has nothing left to do, and unblocked with its default action
        # it would kill the process on its way out, with a signal's exit status instead of
        # the server's: ignored, pending ones are dropped too. The caller exits next.
        for signum in _WATCHED - {signal.SIGCHLD}:
            signal.signal(signum, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)


def notify_siblings() -> None:
    """From a worker: ask the supervisor to have the other workers reload the index."""
    supervisor = os.environ.get(SUPERVISOR_PID)
    if supervisor and int(supervisor) == os.getppid():
        os.kill(int(supervisor), signal.SIGUSR1)


def _fork(
    sockets: list[socket.socket],
    run_worker: Callable[[list[socket.socket], int], None],
    number: int,
    previous_mask: set[int | signal.Signals],
) -> int:
    supervisor = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        _die_with(supervisor)
        os.environ[SUPERVISOR_PID] = str(supervisor)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
        # A reload notice that comes while the worker is still loading waits, blocked, for
        # `reload_on_signal`: the index this worker is opening may be the old one already.
        signal.pthread_sigmask(signal.SIG_SETMASK, {*previous_mask, signal.SIGUSR1})
        run_worker(sockets, number)
        status = 0
    except BaseException:  # a worker reports whatever stopped it, then exits
        log.exception("worker %d failed", number)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)  # never return into the supervisor's code


def _die_with(supervisor: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before the call took effect
        os._exit(1)


def _supervise(workers: dict[int, int]) -> int:
    """Wait for signals until the server stops; returns its exit status."""
    while True:
        info = signal.sigwaitinfo(_WATCHED)
        if info.si_signo in _STOP:
            log.info("stopping %d workers", len(workers))
            return 0
        if info.si_signo == signal.SIGUSR1:
            for pid in workers:
                if pid != info.si_pid:
                    os.kill(pid, signal.SIGUSR1)
            continue
        for pid, status in _reap(workers):
            log.error(
                "worker %d (pid %d) exited with status %d: stopping the server",
                workers.pop(pid),
                pid,
                status,
            )
            return 1


def _reap(workers: dict[int, int]) -> Iterator[tuple[int, int]]:
    """The workers that have exited, with their exit status."""
    for pid in list(workers):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            yield pid, os.waitstatus_to_exitcode(status)


def _stop(workers: dict[int, int]) -> None:
    """SIGTERM every worker still running, then SIGKILL those still there after a while."""
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    remaining = dict(workers)
    deadline = time.monotonic() + STOP_SECONDS
    while True:
        for pid, _ in list(_reap(remaining)):
            remaining.pop(pid)
        if not remaining:
            return
        left = deadline - time.monotonic()
        # Several exits can share one SIGCHLD: reap, then wait for the next.
        if left <= 0 or signal.sigtimedwait({signal.SIGCHLD}, left) is None:
            for pid in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            return


def is_worker() -> bool:
    """True in a worker process forked by `serve_workers`."""
    return bool(os.environ.get(SUPERVISOR_PID))


@contextlib.contextmanager
def _multiprocess_metrics() -> Iterator[None]:
    """prometheus_client's multiprocess mode for the workers, in a new folder that goes
    with the server: inside `PROMETHEUS_MULTIPROC_DIR` when that is set, so that no earlier
    run's counts are added to this one's."""
    given = os.environ.get(MULTIPROCESS_DIR)
    with tempfile.TemporaryDirectory(prefix="semsearch-metrics-", dir=given or None) as folder:
        os.environ[MULTIPROCESS_DIR] = folder
        try:
            yield
        finally:
            if given is None:
                del os.environ[MULTIPROCESS_DIR]
            else:
                os.environ[MULTIPROCESS_DIR] = given


def reload_on_signal(app: Any) -> None:
    """In a worker: reload the app's index on SIGUSR1 (sent by the supervisor when another
    worker was asked to reload), in a thread of its own, as the watcher would."""
    live = app.extensions["semsearch"]["live"]

    def reload(signum: int, frame: Any) -> None:
        threading.Thread(
            target=live.reload, kwargs={"force": True}, name="admin-reload", daemon=True
        ).start()

    signal.signal(signal.SIGUSR1, reload)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})  # one sent meanwhile: now
