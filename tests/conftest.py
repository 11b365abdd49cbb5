"""Shared test fixtures, and the XLA setting the suite runs with.

The suite compiles hundreds of tiny programs, so compiling, not running, is most
of its time. ``--xla_backend_optimization_level=0`` skips LLVM's optimisation of
the generated CPU code: the numbers are the same IEEE operations (every test
compares values, none measures speed; speed lives in ``benchmarks/``), and the
suite takes about a third less time. Subprocesses started by tests inherit it.
Set ``SNNX_TEST_XLA_OPT=1`` to test the optimised code instead.

Many tests compile the same program again (a new closure around the same
model, a worker or a subprocess that builds the same step), so the suite also
shares JAX's persistent compilation cache between all its processes: a fresh
temporary folder per run, made by the first process (pytest itself, before it
starts the xdist workers) and handed to the workers and to every subprocess
through ``JAX_COMPILATION_CACHE_DIR``. A cached program is the compiled output
of the same HLO with the same flags, so no result can change; the cache only
skips repeated compilations. Nothing survives the run. ``SNNX_TEST_JAX_CACHE=0``
turns it off.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("SNNX_TEST_XLA_OPT") != "1" and "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

if os.environ.get("SNNX_TEST_JAX_CACHE") != "0" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="snnx-test-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # only the process that made it
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # small programs are most of them
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

DATA = Path(__file__).parent / "data"
NIR_REFS = DATA / "nir-refs"


@pytest.fixture(scope="session")
def nir_refs() -> Path:
    """Folder of reference NIR graphs and peer simulations (a copy of shared/nir-refs)."""
    return NIR_REFS
