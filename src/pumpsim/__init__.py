"""pumpsim: pump telemetry simulator and dosing safety kernel for implanted intrathecal pumps.

Decision support for professionals, not a medical device.

The Python API (docs/API.md) is importable from here, lazily: ``import pumpsim`` loads neither
numpy, Numba, SciPy nor matplotlib; each function imports what it needs when called.

>>> import pumpsim
>>> table = pumpsim.load_table("scenarios/example.toml")     # doctest: +SKIP
>>> result = pumpsim.validate(table)                           # doctest: +SKIP
>>> result.verdict, result.violations[0].at                    # doctest: +SKIP
"""
from pumpsim._version import __version__

#: The public API (pumpsim.api), resolved on first use.
API = ("load_table", "validate", "simulate", "plan", "ValidateResult", "SimulateResult", "ViolationRecord",
       "DoseSummary", "ReservoirSummary")

__all__ = ["__version__", "plots", *API]


def __getattr__(name: str):
    if name in API:
        from pumpsim import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    if name in ("plots", "figures"):  # the figure functions (matplotlib is imported when one is called)
        import importlib

        return importlib.import_module("pumpsim.render.figures")
    raise AttributeError(f"module 'pumpsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({k for k in globals() if not k.startswith("_") or k == "__version__"} | set(API) | {"plots"})
