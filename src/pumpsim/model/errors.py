"""Input errors: every problem of a file, each naming the file, the field and the fix."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    field: str  # e.g. "session[2].rate"; "" for the file as a whole
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}: " if self.field else f"{self.file}: "
        return where + self.message + (f" (fix: {self.fix})" if self.fix else "")


class InputError(Exception):
    """Raised with every problem found in an input; the CLI prints them and exits 2."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Problems:
    """A collector: validation code adds problems and goes on, then :meth:`raise_if_any`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, field: str, message: str, fix: str = "") -> None:
        """Record one problem of this file.

        Parameters
        ----------
        field : str
            The field in the file's own spelling (``session[2].refill.volume``), or ``""``.
        message : str
            What is wrong.
        fix : str, optional
            How to mend it.
        """
        self.items.append(Problem(self.file, field, message, fix))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.items)


def nearest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A 'did you mean' phrase with the nearest known names, or the list of names.

    Parameters
    ----------
    name : str
        The unknown name as written.
    choices : iterable of str
        The known names.
    n : int, optional
        At most this many suggestions.

    Returns
    -------
    str
        "did you mean 'a' or 'b'?", or "known names: ..." when none is close.
    """
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known names: " + ", ".join(choices)
