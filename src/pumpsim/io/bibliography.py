"""The bibliography: every document a source string of the data cites, and who cites it.

``data/bibliography.toml`` lists the documents (title, authors or publishing body, journal or
publisher, year, the sections used, a public address where there is one). A ``source`` string
of the data (and a rule's ``basis``) cites a document when it contains one of the document's
``match`` strings, compared after :func:`normalise`. :func:`data_sources` walks every
``*.toml`` under ``pumpsim/data`` (recursively, so data files added later are covered) and
:func:`uncited` lists the source strings that cite no document: the test suite requires none.
"""
from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

BIBLIOGRAPHY_SCHEMA = "pumpsim.bibliography/1"
BIBLIOGRAPHY_FILE = "bibliography.toml"
#: Keys whose string values are source citations, wherever they appear in a data file.
SOURCE_KEYS = ("source", "basis")
#: Strings a source must never contain: internal names no reader can open.
FORBIDDEN = (re.compile(r"\bseed\s*0\d\d\b", re.IGNORECASE), re.compile(r"\bDOMAIN\.md\b"),
             re.compile(r"(?<!docs/)\bFORMAT\.md\b"))


@dataclass(frozen=True)
class Document:
    key: str
    authors: str
    title: str
    kind: str
    publisher: str
    year: str
    where: str
    url: str
    match: tuple[str, ...]
    note: str = ""

    def citation(self) -> str:
        """One line a reader can look up: authors, title, kind, publisher, year."""
        parts = [self.authors, f"« {self.title} »" if _is_french(self.title) else f"\"{self.title}\"",
                 self.kind, self.publisher, self.year]
        return ", ".join(p for p in parts if p and not p.startswith("(")) + (f". {self.url}" if self.url else "")


@dataclass(frozen=True)
class SourceUse:
    """One source string of the data: the file (relative to the data folder), the field, the text."""

    file: str
    field: str
    text: str


def _is_french(text: str) -> bool:
    return bool(re.search(r"[éèàçêôù]|\b(de|des|la|le|en|et|du)\b", text))


def normalise(text: str) -> str:
    """Case-folded, accents kept, typographic quotes and apostrophes unified, spaces collapsed."""
    t = unicodedata.normalize("NFC", text).casefold()
    for a, b in (("’", "'"), ("‘", "'"), ("«", " "), ("»", " "), ("“", " "), ("”", " "), ("\"", " "),
                 ("\u00a0", " "), ("\u202f", " "), ("–", "-"), ("—", "-")):
        t = t.replace(a, b)
    return re.sub(r"\s+", " ", t).strip()


def _data_root() -> Traversable:
    return resources.files("pumpsim.data")


@functools.cache
def documents() -> tuple[Document, ...]:
    raw = tomllib.loads(_data_root().joinpath(BIBLIOGRAPHY_FILE).read_text(encoding="utf-8"))
    if raw.get("schema") != BIBLIOGRAPHY_SCHEMA:
        raise ValueError(f"{BIBLIOGRAPHY_FILE}: schema must be {BIBLIOGRAPHY_SCHEMA!r}")
    return tuple(Document(d["key"], d["authors"], d["title"], d["kind"], d["publisher"], str(d["year"]), d["where"],
                          d.get("url", ""), tuple(d.get("match") or (d["title"],)), d.get("note", ""))
                 for d in raw["document"])


def cites(text: str) -> list[Document]:
    """The documents a source string cites (in bibliography order)."""
    t = normalise(text)
    return [d for d in documents() if any(normalise(m) in t for m in d.match)]


def forbidden(text: str) -> list[str]:
    """Internal names in a source string that no reader can open (empty when none)."""
    return [m.group(0) for rx in FORBIDDEN for m in rx.finditer(text)]


def _walk(node, path: str, file: str, out: list[SourceUse]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else k
            if k in SOURCE_KEYS and isinstance(v, str):
                out.append(SourceUse(file, p, v))
            else:
                _walk(v, p, file, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            label = node[i].get("id") if isinstance(v, dict) and isinstance(v.get("id"), str) else None
            _walk(v, f"{path}[{label or i + 1}]", file, out)


def _toml_files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            out.extend(_toml_files(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(".toml") and entry.name != BIBLIOGRAPHY_FILE:
            out.append((prefix + entry.name, entry))
    return out


@functools.cache
def data_sources() -> tuple[SourceUse, ...]:
    """Every ``source`` and ``basis`` string in every data file, with its file and field."""
    out: list[SourceUse] = []
    for name, entry in _toml_files(_data_root()):
        _walk(tomllib.loads(entry.read_text(encoding="utf-8")), "", name, out)
    return tuple(out)


def uncited() -> list[SourceUse]:
    """Source strings of the data that cite no document of the bibliography."""
    return [u for u in data_sources() if not cites(u.text)]


def cited_by() -> dict[str, list[SourceUse]]:
    """Document key -> the data values that cite it."""
    out: dict[str, list[SourceUse]] = {d.key: [] for d in documents()}
    for u in data_sources():
        for d in cites(u.text):
            out[d.key].append(u)
    return out


# --------------------------------------------------------------------------- renderings
def as_json() -> list[dict]:
    users = cited_by()
    return [{"key": d.key, "authors": d.authors, "title": d.title, "kind": d.kind, "publisher": d.publisher,
             "year": d.year, "where": d.where, "url": d.url or None, "note": d.note or None,
             "cited_by": [f"{u.file}: {u.field}" for u in users[d.key]]} for d in documents()]


def as_text() -> str:
    users = cited_by()
    lines = []
    for d in documents():
        lines.append(f"[{d.key}] {d.citation()}")
        lines.append(f"    where: {d.where}")
        if d.note:
            lines.append(f"    note: {d.note}")
        cited = users[d.key]
        lines.append(f"    cited by {len(cited)} data value(s)" + (":" if cited else ""))
        lines.extend(f"      {u.file}: {u.field}" for u in cited)
    return "\n".join(lines) + "\n"


MARKDOWN_HEAD = """# Bibliography

Every document pumpsim's data cites, generated from `src/pumpsim/data/bibliography.toml`
(`pumpsim sources --format markdown`; a test keeps this file in sync). `pumpsim sources` also lists,
for each document, the data values that cite it; `--format bibtex` exports the list. The rules
and the values are in [RULES.md](RULES.md). A document marked "not read" is cited as another
document reports it; a paraphrased title says so.
"""


def as_markdown() -> str:
    lines = [MARKDOWN_HEAD]
    for d in documents():
        lines.append(f"- **[{d.key}]** {d.citation()}")
        lines.append(f"  - sections used: {d.where}")
        if d.note:
            lines.append(f"  - note: {d.note}")
    return "\n".join(lines) + "\n"


def _bib_escape(text: str) -> str:
    return text.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}").replace("&", "\\&") \
        .replace("%", "\\%").replace("#", "\\#").replace("_", "\\_")


def as_bibtex() -> str:
    out = []
    for d in documents():
        year = re.search(r"\d{4}", d.year)
        fields = [("author", f"{{{_bib_escape(d.authors)}}}"), ("title", f"{{{_bib_escape(d.title)}}}"),
                  ("howpublished", f"{{{_bib_escape(', '.join(p for p in (d.kind, d.publisher) if p))}}}"),
                  ("year", f"{{{year.group(0) if year else 'n.d.'}}}"), ("note", f"{{{_bib_escape(d.where)}}}")]
        if d.url:
            fields.append(("url", f"{{{d.url}}}"))
        body = ",\n".join(f"  {k} = {v}" for k, v in fields)
        out.append(f"@misc{{{d.key},\n{body}\n}}")
    return "\n\n".join(out) + "\n"
