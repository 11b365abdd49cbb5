"""Shared test fixtures, and the XLA setting the suite runs with.

The suite compiles hundreds of tiny programs, so compiling, not running, is most
of its time. ``--xla_backend_optimization_level=0`` skips LLVM's optimisation of
the generated CPU code: the numbers are the same IEEE operations (every test
compares values, none measures speed; speed lives in ``benchmarks/``), and the
suite takes about a third less time. Subprocesses started by tests inherit it.
Set ``SNNX_TEST_XLA_OPT=1`` to test the optimised code instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("SNNX_TEST_XLA_OPT") != "1" and "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

DATA = Path(__file__).parent / "data"
NIR_REFS = DATA / "nir-refs"


@pytest.fixture(scope="session")
def nir_refs() -> Path:
    """Folder of reference NIR graphs and peer simulations (a copy of shared/nir-refs)."""
    return NIR_REFS
