"""Numba kernels of pumpsim: small, pure, arrays in and arrays out, no I/O.

Installed as ``pumpsim.kernels``; imported only by the simulation layer (:mod:`pumpsim.engine`).
"""
