"""A beat on a background thread while work is under way (lease renewal).

Usage::

    with heartbeat(renew, every=lease.total_seconds() / 3, name="lease-heartbeat",
                   failure="could not renew leases"):
        work()

``renew`` runs every ``every`` seconds until the block ends; a beat that raises is logged
and the next one tries again (the lease's expiry is the caller's fallback). Leaving the
block stops the thread and waits for a beat in progress.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def heartbeat(beat: Callable[[], None], *, every: float, name: str, failure: str) -> Iterator[None]:
    done = threading.Event()

    def run() -> None:
        while not done.wait(every):
            try:
                beat()
            except Exception:  # the next beat tries again
                log.warning(failure, exc_info=True)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
