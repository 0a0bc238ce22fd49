"""Which process this is, and how worker processes tell each other to reload.

`semsearch serve --workers N` runs gunicorn (`semsearch.web.server`): its master sets
`MASTER_PID` in each worker's environment, and a worker that reloads on an admin request has
the others reload too by signalling the master (SIGUSR1), which passes it on. This module
holds only that much, so the app and its views need not import the server (gunicorn,
waitress): the server imports the app, not the other way round.
"""

from __future__ import annotations

import os
import signal
import threading

#: Set by the master in each worker's environment: its own process id.
MASTER_PID = "SEMSEARCH_MASTER_PID"

#: Set when this worker sent the notice (its own reload is done; see SemsearchWorker).
sent_notice = threading.Event()


def is_worker() -> bool:
    """True in a worker process of `serve_gunicorn`."""
    return bool(os.environ.get(MASTER_PID))


def notify_siblings() -> None:
    """From a worker: have every other worker reload the index too (through the master)."""
    master = os.environ.get(MASTER_PID)
    if master and int(master) == os.getppid():
        sent_notice.set()
        os.kill(int(master), signal.SIGUSR1)
