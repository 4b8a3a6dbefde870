"""The scheduler: maintenance jobs on a timer, one process at a time per job.

Jobs (named callables the facade supplies: purge sweep, rotation policies, certificate
lifetime actions, expiry detection, webhook delivery, outbox pruning) run in order on every
tick. Before a job runs, this process takes the job's lease in the store (``evstate``
``b"L" | name``: owner id and expiry, set in one LMDB write transaction, so of several
processes on one vault exactly one holds it); a job whose lease another live process holds
is skipped this tick. Leases use the system clock and expire after ``lease_seconds``, so a
process killed while holding one delays that job at most that long. Job decisions use the
vault clock, which is what lets tests drive the scheduler with a ``FakeClock``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from vaultcore.engine._lifecycle import Lifecycle
from vaultcore.events._delivery import deliver_pending
from vaultcore.events._expiry import detect_expiry
from vaultcore.events._outbox import EVSTATE
from vaultcore.events._view import EventsView
from vaultcore.exceptions import InvalidParameterError, VaultLockedError
from vaultcore.storage._interface import WriteTxn

if TYPE_CHECKING:
    from vaultcore.engine._context import VaultContext

__all__ = ["Scheduler", "maintenance_jobs"]

_log = logging.getLogger("vaultcore.events")
_LEASE = struct.Struct(">16sQ")


def maintenance_jobs(
    ctx: VaultContext,
    engine: Lifecycle,
    events: EventsView,
    rotation: Callable[[], object],
    lifetime: Callable[[], object],
) -> dict[str, Callable[[], object]]:
    """The jobs of ``vault.start_scheduler()``/``serve``, in the order they run each tick."""
    outbox = events._outbox
    return {
        "purge": engine.sweep,
        "rotation": rotation,
        "lifetime": lifetime,
        "expiry": lambda: detect_expiry(ctx, engine, outbox),
        "delivery": lambda: deliver_pending(ctx, outbox),
        "subscribers": events.pump,
        "prune": lambda: outbox.prune(7 * 86400.0),
    }


class Scheduler:
    """Runs *jobs* every *interval* seconds (``start()``) or once (``run_once()``)."""

    def __init__(
        self,
        ctx: VaultContext,
        jobs: Mapping[str, Callable[[], object]],
        *,
        interval: float = 60.0,
        lease_seconds: float | None = None,
        retention_days: float = 7.0,
        keep_events: int = 10_000,
    ) -> None:
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise InvalidParameterError("the scheduler interval must be a positive number of seconds")
        self._ctx = ctx
        self.jobs = dict(jobs)
        if "prune" in self.jobs and ctx.events is not None:
            retention = float(retention_days) * 86400
            self.jobs["prune"] = lambda: ctx.events.prune(retention, keep_events)
        self.interval = float(interval)
        self.lease_seconds = float(lease_seconds) if lease_seconds else max(300.0, 3 * self.interval)
        self._owner = os.urandom(16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()
        #: The last error of each job (``None`` after a clean run), for monitoring and tests.
        self.errors: dict[str, str | None] = {}
        self.runs = 0

    # -- one tick ----------------------------------------------------------------------

    def run_once(self) -> dict[str, bool]:
        """Run every job whose lease this process gets; returns ``{job: ran}``."""
        ran: dict[str, bool] = {}
        with self._run_lock:
            for name, job in self.jobs.items():
                if self._stop.is_set() and self._thread is not None:
                    break
                if not self._acquire(name):
                    ran[name] = False
                    continue
                try:
                    job()
                    self.errors[name] = None
                except VaultLockedError:
                    raise
                except Exception as exc:
                    self.errors[name] = f"{type(exc).__name__}: {exc}"
                    _log.warning("scheduled job %s failed: %s", name, self.errors[name])
                finally:
                    self._release(name)
                ran[name] = True
            self.runs += 1
        return ran

    def _acquire(self, name: str) -> bool:
        self._ctx.check_open()
        key = b"L" + name.encode()
        now_ms = int(time.time() * 1000)

        def run(txn: WriteTxn) -> bool:
            raw = txn.get(EVSTATE, key)
            if raw is not None:
                owner, until = _LEASE.unpack(raw)
                if owner != self._owner and until > now_ms:
                    return False
            txn.put(EVSTATE, key, _LEASE.pack(self._owner, now_ms + int(self.lease_seconds * 1000)))
            return True

        return bool(self._ctx.store.write(run))

    def _release(self, name: str) -> None:
        key = b"L" + name.encode()

        def run(txn: WriteTxn) -> None:
            raw = txn.get(EVSTATE, key)
            if raw is not None and _LEASE.unpack(raw)[0] == self._owner:
                txn.delete(EVSTATE, key)

        if not self._ctx.closed:
            self._ctx.store.write(run)

    # -- the background thread ---------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Scheduler:
        """Run the jobs now and then every ``interval`` seconds in a daemon thread."""
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vaultcore-scheduler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except VaultLockedError:
                return
            except Exception as exc:  # a storage error: log and try again next tick
                _log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (waits for a running tick to finish, bounded by *timeout*)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
