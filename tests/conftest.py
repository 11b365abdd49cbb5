"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
NIR_REFS = DATA / "nir-refs"


@pytest.fixture(scope="session")
def nir_refs() -> Path:
    """Folder of reference NIR graphs and peer simulations (a copy of shared/nir-refs)."""
    return NIR_REFS
