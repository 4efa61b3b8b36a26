"""Where Numba keeps the compiled kernels: a folder named by a hash of the kernels' sources.

Numba checks only the timestamp of the file that holds a function, not of the kernels it
calls, so an edited ``rng.py`` would leave ``montecarlo.py``'s cached machine code stale; and a
reinstall leaves old cache files behind in site-packages. Here every kernel of this folder is
cached in ``<root>/kernels-<hash>``, the hash taken over all the ``*.py`` sources of the folder:
any change to any kernel selects a fresh folder, and nothing is ever written into the installed
package.

``<root>`` is ``$NUMBA_CACHE_DIR/pumpsim`` when the user set ``NUMBA_CACHE_DIR`` (CI does), else
``$XDG_CACHE_HOME/pumpsim`` or ``~/.cache/pumpsim``. If that folder cannot be written, a
temporary folder is used for this process and one line on stderr says so. When a kernel is
compiled (not loaded from the cache), one line on stderr says why the process waits; these two
lines are the only output of ``kernels/`` (the kernels themselves do no I/O).

Installed on import (every module of this folder that defines a kernel imports this one, so it
is in place before the first decorator runs): a cache locator (Numba's interface for choosing
where a function is cached) placed first in Numba's list; it claims only the functions defined
in this folder.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from numba.core import caching, event

HERE = Path(__file__).resolve().parent


def sources_hash(folder: Path = HERE) -> str:
    """A short hash of every ``*.py`` source of ``folder`` (names and contents)."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.py")):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """The folder that holds the keyed cache folders (see the module text)."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user) / "pumpsim"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pumpsim"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


_folder: Path | None = None
_temporary = False


def cache_folder() -> Path:
    """This process's cache folder for the kernels (chosen once, created if needed)."""
    global _folder, _temporary
    if _folder is None:
        key = sources_hash()
        folder = cache_root() / f"kernels-{key}"
        if not _writable(folder):
            tmp = Path(tempfile.mkdtemp(prefix=f"pumpsim-kernels-{key}-"))
            print(f"pumpsim: cannot write the kernel cache in {folder}; compiling into {tmp} "
                  "(set NUMBA_CACHE_DIR to a writable folder to keep it)", file=sys.stderr)
            folder = tmp
            _temporary = True
        _folder = folder
    return _folder


def persistent() -> bool:
    """Whether the cache folder outlives this process (False: the temporary fallback)."""
    cache_folder()
    return not _temporary


def compiled(module: str, function: str) -> bool:
    """Whether the cache folder holds compiled code of ``function`` of ``module`` (its index)."""
    return any(cache_folder().glob(f"{module}.{function}-*.nbi"))


class KernelsCacheLocator(caching._CacheLocator):
    """Numba cache locator for the functions of this folder: the keyed folder above; the
    sources' hash is the freshness stamp (so neither timestamps nor reinstalls matter)."""

    def __init__(self, py_func, py_file):
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_folder())

    def ensure_cache_path(self):
        os.makedirs(self._cache_path, exist_ok=True)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return Path(self._cache_path).name

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if Path(py_file).resolve().parent != HERE:
                return None
        except OSError:
            return None
        return cls(py_func, py_file)


class _Announce(event.Listener):
    """One line on stderr when the first kernel of this folder starts compiling."""

    done = False

    def on_start(self, ev):
        if _Announce.done:
            return
        try:
            source = ev.data["dispatcher"].py_func.__code__.co_filename
        except (AttributeError, KeyError, TypeError):
            return
        if Path(source).resolve().parent == HERE:
            _Announce.done = True
            print("pumpsim: compiling the simulation kernels (first run after an install or an upgrade, "
                  f"several seconds; cached in {cache_folder()})", file=sys.stderr, flush=True)

    def on_end(self, ev):
        pass


def skip_blas_probe() -> None:
    """Load Numba's array functions without its probe for a BLAS library.

    When Numba first registers its NumPy implementations (at the first compilation or cache
    load) it imports ``scipy.linalg`` only to learn whether ``np.dot`` could call a BLAS
    (0.15-0.35 s of every ``simulate``, ``plan``...). The kernels use no linear algebra, so
    the probe is answered "no" here, once, before anything else loads them; Numba's own
    ``ensure_blas`` is put back at once, so linear algebra compiled later in the same process
    still finds the BLAS of SciPy. Nothing is done if ``scipy.linalg`` is already loaded (the
    probe is then free) or Numba's array functions are (too late).
    """
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    try:
        import numba.np.linalg as nplinalg
    except ImportError:  # another Numba layout: keep its probe
        return
    probe = getattr(nplinalg, "ensure_blas", None)
    if probe is None:
        return

    def no_blas() -> None:
        raise ImportError("pumpsim: no BLAS probe while loading Numba's array functions")

    nplinalg.ensure_blas = no_blas
    try:
        import numba.np.arraymath  # noqa: F401  (registers the array functions, probe answered)
    finally:
        nplinalg.ensure_blas = probe


def announced() -> bool:
    """Whether this process has printed the line that says the kernels are compiling."""
    return _Announce.done


_installed = False


def install() -> None:
    """Put :class:`KernelsCacheLocator` first in Numba's list of locators, and the compile
    notice among Numba's listeners (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    skip_blas_probe()
    event.register("numba:compile", _Announce())
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # the name before Numba 0.60
    classes = impl._locator_classes
    if KernelsCacheLocator not in classes:
        classes.insert(0, KernelsCacheLocator)


install()
