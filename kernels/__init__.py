"""Numba kernels of pumpsim: small, pure, arrays in and arrays out, no I/O.

Installed as ``pumpsim.kernels``; imported only by the simulation layer. They import nothing
from pumpsim. Every module that defines a kernel imports ``kernels/cache.py`` first, which keys
the compiled cache to the kernels' sources; ``kernels/events.py`` (the event codes) imports
nothing at all, so the Python side can read the codes without starting Numba.

Every kernel is compiled with ``error_model="numpy"``: a division by zero would give inf or NaN
instead of raising, and every division in the kernels is guarded (by a positive flow, a
positive length, a positive rate), so no check is compiled into the event loop.
"""
