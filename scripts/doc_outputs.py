#!/usr/bin/env python3
"""Every command output shown in README.md and docs/*.md, run again and compared.

A shown output is a fenced ``text`` block whose first line is ``$ COMMAND`` (a ``pumpsim``
command, or ``python``/``.venv/bin/python`` running a shipped script). The command runs from the
repository's root in a fresh temporary folder for its outputs (``-o`` paths and figure folders
are written there, never into the checkout). Each later line of the block must appear in the
command's output, in order and verbatim, numbers included; a line ``...`` stands for lines left
out, and a trailing ``# exit N`` on the command line asserts the exit status. A block preceded by
``<!-- doc-output: skip (REASON) -->`` is not run (the reason is printed).

Usage: ``python scripts/doc_outputs.py [FILE.md ...]`` (default: README.md and docs/*.md);
``--show`` prints each command's actual output, to mend a stale block by hand.
Exit status 0 when every block matches, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```text\n(\$ [^\n]*)\n(.*?)^```", re.M | re.S)
SKIP = re.compile(r"<!-- doc-output: skip \(([^)]*)\) -->\s*$")
EXIT = re.compile(r"\s+#\s*exit (\d+)\s*$")


@dataclass
class Block:
    file: Path
    line: int
    command: str
    expect_exit: int | None
    expected: list[str]
    skip: str | None


def blocks(path: Path) -> list[Block]:
    """The shown outputs of a Markdown file: one :class:`Block` per ``$ COMMAND`` line of a
    ``text`` block (a block may show several commands, each followed by its output)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        first = text[: m.start()].count("\n") + 1
        body = [m.group(1)] + (m.group(2).rstrip("\n").split("\n") if m.group(2).strip() else [])
        for k, line in enumerate(body):
            if not line.startswith("$ "):
                continue
            cmd = line[2:]
            e = EXIT.search(cmd)
            expect = int(e.group(1)) if e else None
            cmd = EXIT.sub("", cmd)
            cmd = re.sub(r"\s+#.*$", "", cmd)  # a trailing comment is not part of the command
            nxt = next((j for j in range(k + 1, len(body)) if body[j].startswith("$ ")), len(body))
            out.append(Block(path, first + k, cmd, expect, body[k + 1:nxt], skip.group(1) if skip else None))
    return out


OUTPUT_OPTIONS = ("-o", "--output", "--plot")


def run(block: Block, bin_dir: Path) -> tuple[int, str]:
    """Run a shown command from the repository's root, its outputs in a temporary folder; return
    the exit status of its first command and what it printed (the folder's path left out)."""
    with tempfile.TemporaryDirectory(prefix="pumpsim-doc-") as tmp:
        words = shlex.split(block.command)
        for i in range(1, len(words)):
            if words[i - 1] in OUTPUT_OPTIONS and words[i] != "-":
                words[i] = str(Path(tmp) / Path(words[i]).name)
        words = [{".venv/bin/pumpsim": "pumpsim", ".venv/bin/python": "python"}.get(w, w) for w in words]
        line = " ".join(shlex.quote(w) if w != "|" else w for w in words)
        env = dict(os.environ, COLUMNS="100", MPLBACKEND="Agg",
                   PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        r = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=REPO, capture_output=True, text=True,
                           env=env, timeout=600)
        out = (r.stdout + r.stderr).replace(str(Path(tmp)) + os.sep, "")
        code = r.returncode
        if "|" in words and code == 141:  # a pipe closed early by head: the command's own status is lost
            code = 0
        return code, out


def matches(expected: list[str], actual: str) -> str | None:
    """None when every expected line appears in order; else the first line that does not."""
    lines = actual.split("\n")
    i = 0
    for want in expected:
        if want.strip() == "...":
            continue
        while i < len(lines) and lines[i].rstrip() != want.rstrip():
            i += 1
        if i == len(lines):
            return want
        i += 1
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--show", action="store_true", help="print each command's actual output")
    args = ap.parse_args(argv)
    files = args.files or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    bin_dir = Path(shutil.which("pumpsim") or (Path(sys.executable).parent / "pumpsim")).parent
    failures, checked = 0, 0
    for f in files:
        for b in blocks(f):
            where = f"{b.file.relative_to(REPO)}:{b.line}"
            if b.skip:
                print(f"skip  {where}: $ {b.command} ({b.skip})")
                continue
            code, out = run(b, bin_dir)
            checked += 1
            missing = matches(b.expected, out)
            bad_exit = b.expect_exit is not None and code != b.expect_exit
            if missing is None and not bad_exit and not (b.expect_exit is None and code > 1):
                print(f"ok    {where}: $ {b.command}")
            else:
                failures += 1
                why = (f"exit {code}, expected {b.expect_exit}" if bad_exit else
                       f"exit {code}" if missing is None else f"not in the output: {missing!r}")
                print(f"FAIL  {where}: $ {b.command}: {why}")
            if args.show or (missing is not None or bad_exit):
                print("      " + out.rstrip().replace("\n", "\n      "))
    print(f"{checked} command output(s) checked, {failures} stale")
    if checked == 0:
        print("no command output found: nothing was checked", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
