"""Sending Monte-Carlo chunks to a Dask distributed cluster (``pumpsim simulate --dask``).

Each chunk is a pure function of (plan, first run, number of runs): the runs' random streams
are keyed by the seed and the run index, so which worker computes a chunk, and when, changes
nothing. Results are merged in chunk order as they arrive (sums of counts).

Pointing it at a real cluster: start ``dask scheduler`` on one machine and ``dask worker
tcp://SCHEDULER:8786`` on each of the others (each with pumpsim installed, the same version),
then ``pumpsim simulate TABLE --dask tcp://SCHEDULER:8786``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator


def map_chunks(address: str, fn: Callable, plan, chunks: list[tuple[int, int]],
               workers: int | None = None) -> Iterator:
    """Yield ``fn(plan, first, n)`` for every chunk, computed on the cluster at ``address``.

    The plan is scattered once to every worker; the results are yielded as they complete
    (not in chunk order), the cluster closed afterwards.

    Parameters
    ----------
    address : str
        ``"local"`` (a LocalCluster of ``workers`` processes, one thread each) or the address of
        a Dask scheduler (``tcp://host:8786``).
    fn : callable
        ``fn(plan, first, n)``, a pure function of its arguments (e.g.
        :func:`pumpsim.sim.montecarlo.run_summary`).
    plan : object
        Passed to ``fn`` as is, picklable (a :class:`pumpsim.sim.montecarlo.Plan`).
    chunks : list of tuple of (int, int)
        (first run index, number of runs) of each chunk [run counts].
    workers : int or None
        Worker processes of a local cluster [count]; None: 2. Unused with a scheduler address.

    Returns
    -------
    Iterator
        A generator of ``fn(plan, first, n)`` for each chunk, in order of completion (a
        :class:`pumpsim.sim.montecarlo.ChunkSummary` of counts [runs] for ``run_summary``).
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise SystemExit("pumpsim: --dask needs dask.distributed: pip install 'pumpsim[dask]'") from e
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        remote_plan = client.scatter(plan, broadcast=True)
        futures = [client.submit(fn, remote_plan, first, n, pure=False) for first, n in chunks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
