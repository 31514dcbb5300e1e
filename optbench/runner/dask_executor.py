"""The ``dask`` executor: tasks on a ``dask.distributed`` cluster (see ``executors``).

Connecting to a scheduler is bounded: :func:`probe_scheduler` asks the address for its
identity within ``OPTBENCH_DASK_TIMEOUT`` seconds (default 5) before a client is made, so
an address where no dask scheduler answers is a one-line error, never a hang.
"""
from __future__ import annotations

import logging
import os

from optbench.validate import OptbenchInputError, number

from .executors import _AsyncExecutor, _warm_worker, run_task, usable_cores

DASK_CONNECT_TIMEOUT = 5.0  # seconds for connecting to a scheduler; OPTBENCH_DASK_TIMEOUT


class DaskExecutor(_AsyncExecutor):
    name = "dask"

    def __init__(self, address=None, workers=None, hooks=None, timeout=None, plugins=()):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise OptbenchInputError("the dask executor needs dask.distributed: "
                                     "pip install 'optbench[dask]'") from None
        if timeout is None:
            timeout = number("OPTBENCH_DASK_TIMEOUT", os.environ.get(
                "OPTBENCH_DASK_TIMEOUT", DASK_CONNECT_TIMEOUT), lo=0.0, lo_open=True, text=True)
        timeout = number("timeout", timeout, lo=0.0, lo_open=True)
        self.hooks = hooks or {}
        self.plugins = tuple(plugins)
        self.cluster = None
        self._futs: dict = {}
        self._ac = None
        if address:
            probe_scheduler(address, timeout)  # bounded: Client() alone can hang forever
            try:
                self.client = Client(address, timeout=timeout, set_as_default=False)
            except Exception as e:  # pragma: no cover - the scheduler went away after the probe
                raise OptbenchInputError(f"cannot reach the dask scheduler at {address} within "
                                         f"{timeout:g} s ({_first_line(e)})") from None
        else:
            n = number("workers", workers, lo=1, integer=True) if workers else usable_cores()
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
        # import optbench once on every worker now (warm kernels; a clear error if missing)
        try:
            got = self.client.run(_warm_worker, self.plugins, on_error="return")
        except Exception:  # pragma: no cover - a worker coming or going: tasks still run
            got = {}
        bad = [e for e in got.values() if isinstance(e, ImportError)]
        if bad:
            self.close()
            raise OptbenchInputError(
                f"optbench cannot be imported on {len(bad)} dask worker(s) ({bad[0]}); "
                "install the same optbench in the workers' environment")
        bad = [e for e in got.values() if isinstance(e, OptbenchInputError)]
        if bad:  # a plugin that does not import on a worker (a file not there, ...)
            self.close()
            raise OptbenchInputError(f"on {len(bad)} dask worker(s): {bad[0]}")

    @property
    def workers(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # pragma: no cover
            return 1

    def _limit(self):
        return max(4, 2 * self.workers)

    def _submit(self, task):
        from distributed import as_completed

        if self._ac is None:
            self._ac = as_completed(loop=self.client.loop)
        fut = self.client.submit(run_task, task, self.hooks, False, self.plugins, pure=False)
        self._futs[fut.key] = fut
        self._ac.add(fut)
        return fut.key

    def _next_done(self, inflight):
        from distributed.scheduler import KilledWorker

        fut = next(self._ac)
        self._futs.pop(fut.key, None)
        try:
            out = ("ok", fut.result())
        except KilledWorker as e:
            out = ("died", f"dask worker died while running these runs ({e})")
        except Exception as e:
            out = ("error", f"{type(e).__name__}: {e}")
        fut.release()
        yield fut.key, out

    def close(self, interrupted: bool = False):
        try:
            if self._futs:
                self.client.cancel(list(self._futs.values()))
            self.client.close(timeout=10)
        except Exception:  # pragma: no cover
            pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=10)
            except Exception:  # pragma: no cover
                pass


def _first_line(e) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def probe_scheduler(address: str, timeout: float) -> None:
    """Raise :class:`OptbenchInputError` (one line) unless a dask scheduler answers an
    ``identity`` request at ``address`` within ``timeout`` seconds.

    ``distributed.Client`` bounds only the TCP connect: a listener that accepts and never
    answers the handshake hangs it forever, and a server speaking another protocol can make
    it read a bogus frame length (a MemoryError). The probe runs on its own event loop in a
    daemon thread that is abandoned if it has not finished in time."""
    import asyncio
    import threading

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    def fail(why: str, hint: str = "is it running (`dask scheduler`)?"):
        raise OptbenchInputError(f"cannot reach the dask scheduler at {address} within "
                                 f"{timeout:g} s: {why}; {hint}")

    try:
        scheme, loc = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(loc)
    except (ValueError, TypeError) as e:
        raise OptbenchInputError(f"invalid dask scheduler address {address!r} ({_first_line(e)})"
                                 "; expected tcp://HOST:PORT") from None

    async def ask():  # connect gives up first: a timeout of the whole means no answer
        comm = await connect(address, timeout=0.8 * timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    box: dict = {}

    def target():
        try:
            box["reply"] = asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as e:  # noqa: BLE001 - reported by the waiting thread
            box["error"] = e

    th = threading.Thread(target=target, name="optbench-dask-probe", daemon=True)
    th.start()
    th.join(timeout + 1.0)
    err = box.get("error")
    if th.is_alive() or isinstance(err, (asyncio.TimeoutError, TimeoutError)):
        fail("it accepted the connection but did not answer",
             "is this the address of a running dask scheduler?")
    if isinstance(err, OSError):
        cause = _first_line(err.__cause__) if err.__cause__ is not None else ""
        fail(f"no connection ({cause.rsplit('] ', 1)[-1] if '] ' in cause else 'timed out'})")
    if err is not None:  # e.g. a MemoryError from a bogus frame length: another protocol
        fail("the server there does not speak the dask protocol",
             "is this the scheduler's address?")
    reply = box.get("reply")
    kind = reply.get("type") if isinstance(reply, dict) else None
    if kind != "Scheduler":
        fail(f"it answered as a dask {kind}, not a scheduler" if kind else
             "the server there does not speak the dask protocol",
             "is this the scheduler's address?")
