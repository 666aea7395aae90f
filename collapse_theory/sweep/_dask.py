"""Running a sweep's cells on a Dask cluster (a LocalCluster, or an existing one)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ._grid import Grid, _cell_key


def _client(scheduler, workers: int):
    """(client, owned) for a Client, an address / scheduler file, or a new LocalCluster.

    ``owned`` is what to close at the end: False (the caller's Client), None
    (a client of an existing cluster) or the LocalCluster started here.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is not None:
        if isinstance(scheduler, (str, Path)) and Path(scheduler).is_file():
            return Client(scheduler_file=str(scheduler)), None
        return Client(str(scheduler)), None
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"NUMBA_NUM_THREADS": str(threads)},
    )
    return Client(cluster), cluster


def _run_dask(grid: Grid, func, todo, scheduler, n_local: int, retries: int, finish, bar) -> int:
    from distributed import as_completed

    from ._run import _run_cell

    client, cluster = _client(scheduler, n_local)
    # Task keys name the cell (readable on the dashboard) and this call: a key
    # reused by a second sweep of the same grid on the same cluster races the
    # release of the first call's futures, and the scheduler can forget the
    # new task (seen as a hang). Results do not depend on keys: seeds come
    # from the cell's coordinates.
    token = uuid.uuid4().hex[:12]
    failed = 0
    futures = {}
    try:
        for idx, p in todo:
            fut = client.submit(
                _run_cell,
                func,
                p,
                grid.seed,
                idx,
                key=f"sweep-{_cell_key(idx)}-{token}",
                retries=retries,
                pure=False,
            )
            futures[fut] = idx
        # results travel with the completion events (no round trip per cell)
        for fut, rec in as_completed(list(futures), with_results=True, raise_errors=False):
            idx = futures[fut]
            if isinstance(rec, BaseException) or fut.status == "error":
                # e.g. KilledWorker after the cell's workers died repeatedly
                exc = rec if isinstance(rec, BaseException) else fut.exception()
                rec = {"index": list(idx), "status": "error", "error": f"{type(exc).__name__}: {exc}"}
            failed += rec["status"] != "ok"
            finish(rec)
            bar.update(1)
            bar.set_postfix(failed=failed)
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
        if cluster is not False:
            client.close()
        if cluster is not None and cluster is not False:
            cluster.close()
    return failed


