"""Shared fixtures: tables written as TOML text, parsed by the real reader."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pumpsim.io.tables import parse_table_bytes

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "example.toml"

BASE = """
schema = "pumpsim.table/1"
horizon = "30 day"
[pump]
model = "synchromed-ii-20"
"""


def parse(text: str, name: str = "t.toml", profile: str | None = None):
    """Parse a table from TOML text (dedented); returns (table, profile)."""
    return parse_table_bytes(textwrap.dedent(text).encode(), name, profile)


@pytest.fixture
def example_path() -> Path:
    return EXAMPLE
