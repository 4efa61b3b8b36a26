"""Simulation: lowering a table to the kernels' records (:mod:`.lower`), the Numba engine
(:mod:`.engine`), the plain-Python reference (:mod:`.reference`), the one-run entry that picks the
cheaper of the two (:mod:`.simulation`), Monte-Carlo orchestration (:mod:`.montecarlo`), its
statistics (:mod:`.stats`) and Dask (:mod:`.cluster`).

It may import :mod:`pumpsim.model.table` and :mod:`pumpsim.io`, and it is the only package that imports
the Numba kernels (``pumpsim.kernels``, ``kernels/`` at the repository's top).
"""
