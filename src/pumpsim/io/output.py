"""Writing files safely: atomically (temporary file, then rename), never over an input.

One writer for every command (FORMAT.md §2, "nothing is overwritten or half-written"):

- A regular file is written to a temporary file in the same folder, flushed, then renamed over
  the destination: a command interrupted (Ctrl-C, SIGKILL) or failing while it writes leaves the
  destination as it was. A killed writer leaves its temporary file behind; the name carries the
  writer's process id (``.NAME.PID.XXXX.tmp``) and the next write into that folder removes the
  temporary files of writers that are no longer running.
- The file replaced keeps its permissions (a 0600 patient report stays 0600); a new file gets
  the usual mode (0666 less the umask), or 0600 when it holds patient data (``private``).
- A symbolic link is followed: its target is replaced, the link stays.
- A destination that exists and is not a regular file (``/dev/null``, a named pipe, a
  terminal) is written through, never replaced by a file.
- A folder of outputs (the figures of ``plot -o DIR``) is written whole: the new files go to a
  sibling temporary folder, which then takes the folder's place (:func:`write_folder`), so a
  killed write never leaves old and new figures mixed.
- One rule for folders: the folder that holds an output must exist (pumpsim creates an output
  *folder* such as ``plot -o DIR``, but never its missing parents).

Every failure to write is an :class:`OutputError` naming the file and the fix (the CLI exits 2).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from pumpsim.model.errors import InputError, Problem


class OutputError(InputError):
    """An output that cannot be written where it was asked (the CLI exits 2 and names the fix)."""


def _fail(dest: str | Path, option: str, message: str, fix: str) -> OutputError:
    return OutputError([Problem(str(dest), option, message, fix)])


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _writable_folder(folder: Path, dest: str | Path, option: str) -> None:
    if not folder.exists():
        raise _fail(dest, option, f"the folder {folder} does not exist", "create it or choose another path")
    if not folder.is_dir():
        raise _fail(dest, option, f"{folder} is not a folder", "choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _fail(dest, option, f"the folder {folder} is not writable by this user", "choose a folder you may write into")


def check_destination(dest: str | Path, inputs: Iterable[str | Path], option: str = "-o") -> Path:
    """Refuse an output path before anything is computed (exit 2, nothing written).

    Parameters
    ----------
    dest : str or Path
        The output file asked for.
    inputs : iterable of str or Path
        The command's input files: the output may be none of them.
    option : str, optional
        The option that named ``dest``, for the message.

    Returns
    -------
    Path
        ``dest`` as a path.

    Raises
    ------
    OutputError
        The output is an input, a folder, or lies in a folder that is missing or not writable.
    """
    d = Path(dest)
    for i in inputs:
        src = Path(i)
        same = d.resolve() == src.resolve() or (d.exists() and src.exists() and os.path.samefile(d, src))
        if same:
            raise _fail(dest, option, "the output would overwrite an input file", "choose another output path")
    if d.is_dir():
        raise _fail(dest, option, "is a directory", "give a file name")
    _writable_folder(d.resolve().parent, dest, option)
    return d


def check_folder(folder: str | Path, inputs: Iterable[str | Path], names: Iterable[str], option: str = "-o") -> Path:
    """Refuse an output folder before anything is computed: it must be a folder (or not exist yet,
    in an existing writable parent) and none of the files it will hold may be an input.

    Parameters
    ----------
    folder : str or Path
        The output folder asked for.
    inputs : iterable of str or Path
        The command's input files.
    names : iterable of str
        The file names the folder will hold.
    option : str, optional
        The option that named ``folder``, for the message.

    Returns
    -------
    Path
        ``folder`` as a path.
    """
    f = Path(folder)
    if f.exists() and not f.is_dir():
        raise _fail(folder, option, "is not a folder", "give a folder for the figures")
    _writable_folder(f.resolve().parent, folder, option)
    inputs = list(inputs)
    for name in names:
        target = f / name
        for i in inputs:
            if target.resolve() == Path(i).resolve():
                raise _fail(target, option, "the output would overwrite an input file", "choose another folder")
    return f


def _clean_stale(folder: Path, name: str) -> None:
    """Remove the temporary files that killed writers of ``name`` left in ``folder``."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[^.]+\.tmp$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            m = pattern.match(entry.name)
            if m and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def write_atomic(dest: str | Path, data: str | bytes, *, private: bool = False, option: str = "-o") -> None:
    """Write ``data`` to ``dest`` so that it is either wholly written or left as it was.

    Parameters
    ----------
    dest : str or Path
        The output file (a symbolic link is followed to its target).
    data : str or bytes
        The content; text is written as UTF-8.
    private : bool, optional
        The content holds patient data: a new file is created 0600.
    option : str, optional
        The option that named ``dest``, for messages.

    Raises
    ------
    OutputError
        The file could not be written (permission, full disk, ...); the destination is unchanged.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    d = Path(os.path.realpath(dest))
    try:
        st = os.stat(d)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _fail(dest, option, f"cannot be written: {e.strerror or e}", "choose another output path") from e
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _fail(dest, option, "is a directory", "give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):  # a device or a pipe: write through
        try:
            with open(d, "wb") as f:
                f.write(payload)
                f.flush()
        except OSError as e:
            raise _fail(dest, option, f"cannot be written: {e.strerror or e}", "choose another output path") from e
        return
    _writable_folder(d.parent, dest, option)
    _clean_stale(d.parent, d.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{d.name}.{os.getpid()}.", suffix=".tmp", dir=d.parent)
    except OSError as e:
        raise _fail(dest, option, f"cannot be written: {e.strerror or e}", "choose a folder you may write into") from e
    try:
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)  # the replaced file keeps its permissions
        elif private:
            mode = 0o600
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _fail(dest, option, f"cannot be written: {e.strerror or e}", "free space or choose another output path") from e
        raise


def _folder_pattern(name: str) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(name)}\.(new|old)\.(\d+)\.[^.]+$")


def _recover_folder(folder: Path) -> None:
    """Finish or undo what a killed :func:`write_folder` left: restore the old folder if the
    swap was cut between its two renames, and remove the temporary folders of dead writers."""
    pattern = _folder_pattern(folder.name)
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(folder.parent), key=lambda e: e.name):
            m = pattern.match(entry.name)
            if not m or _alive(int(m.group(2))):
                continue
            if m.group(1) == "old" and not folder.exists():
                os.rename(entry.path, folder)
            else:
                shutil.rmtree(entry.path, ignore_errors=True)


def write_folder(folder: str | Path, files: Mapping[str, bytes], *, option: str = "-o") -> list[Path]:
    """Write a folder of outputs whole: the new files and any other file the folder already
    holds go to a sibling temporary folder, which then takes the folder's place.

    Parameters
    ----------
    folder : str or Path
        The output folder (created if missing; its parent must exist).
    files : mapping of str to bytes
        File name to content.
    option : str, optional
        The option that named the folder, for messages.

    Returns
    -------
    list of Path
        The files written, in ``files`` order.

    Raises
    ------
    OutputError
        The folder could not be written; what it held is unchanged.
    """
    f = Path(os.path.realpath(folder))
    check_folder(f, (), files.keys(), option)
    _recover_folder(f)
    try:
        new = Path(tempfile.mkdtemp(prefix=f".{f.name}.new.{os.getpid()}.", dir=f.parent))
    except OSError as e:
        raise _fail(folder, option, f"cannot be written: {e.strerror or e}", "choose a folder you may write into") from e
    try:
        if f.exists():
            os.chmod(new, stat.S_IMODE(os.stat(f).st_mode))
            for entry in os.scandir(f):  # files of the folder that are not ours stay
                if entry.name not in files:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.copytree(entry.path, new / entry.name, symlinks=True)
                    elif entry.is_symlink():
                        os.symlink(os.readlink(entry.path), new / entry.name)
                    else:
                        shutil.copy2(entry.path, new / entry.name)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(new, 0o777 & ~umask)
        for name, data in files.items():
            write_atomic(new / name, data, option=option)
        if f.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{f.name}.old.{os.getpid()}.", dir=f.parent))
            os.rmdir(old)
            os.rename(f, old)
            try:
                os.rename(new, f)
            except BaseException:
                os.rename(old, f)  # put the old folder back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(new, f)
    except BaseException as e:
        shutil.rmtree(new, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, InputError):
            raise _fail(folder, option, f"cannot be written: {e.strerror or e}", "free space or choose another folder") from e
        raise
    return [f / name for name in files]
