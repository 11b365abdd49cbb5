"""Shared test fixtures, and the XLA setting the suite runs with.

The suite compiles hundreds of tiny programs, so compiling, not running, is most
of its time. Three XLA flags make compiling cheaper; every test compares values,
none measures speed (speed lives in ``benchmarks/``):

- ``--xla_backend_optimization_level=0`` skips LLVM's optimisation of the
  generated CPU code: about a third less time;
- ``--xla_cpu_use_fusion_emitters=false`` generates the fused element-wise loops
  with XLA's older emitter instead of its MLIR pipeline, which costs about half
  the compile time of a small program: the suite's CPU time falls by another
  third;
- ``--xla_cpu_parallel_codegen_split_count=1`` compiles a program's code as one
  LLVM module instead of pieces on parallel threads, which for tiny programs
  costs more than it saves (about a tenth).

Each is added only when ``XLA_FLAGS`` does not set it already and the installed
jaxlib knows it (XLA stops at an unknown flag), so a newer jaxlib that drops one
still runs the suite. They compute the same operations (results may differ in
the last bits), and the suite passes either way. Subprocesses started by tests
inherit the flags (tests that set ``XLA_FLAGS`` for a subprocess append to
them). Set ``SNNX_TEST_XLA_OPT=1`` to test the code users get (XLA's defaults).

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
import fcntl
import importlib.util
import json
import mmap
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import pytest


def _xla_knows(flag: str) -> bool:
    """Whether the installed jaxlib's XLA has ``flag`` (its name is in the library), without importing it."""
    spec = importlib.util.find_spec("jaxlib")
    if spec is None or spec.origin is None:
        return False
    for lib in Path(spec.origin).parent.glob("*.so"):
        if lib.stat().st_size > 10_000_000:  # the one large library holds XLA; the others are stubs
            with lib.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data.find(flag.encode()) >= 0:
                    return True
    return False


_FAST_COMPILE = {
    "xla_backend_optimization_level": "0",
    "xla_cpu_use_fusion_emitters": "false",
    "xla_cpu_parallel_codegen_split_count": "1",
}
if os.environ.get("SNNX_TEST_XLA_OPT") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    for _name, _value in _FAST_COMPILE.items():
        if _name not in _flags and _xla_knows(_name):
            _flags += f" --{_name}={_value}"
    os.environ["XLA_FLAGS"] = _flags.strip()

if os.environ.get("SNNX_TEST_JAX_CACHE") != "0" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="snnx-test-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # only the process that made it
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # small programs are most of them
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

DATA = Path(__file__).parent / "data"
NIR_REFS = DATA / "nir-refs"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def pytest_collection_modifyitems(items):
    """The tests that share a ``once_per_run`` result first, in their order; then all others, in theirs."""
    items.sort(key=lambda item: "once_per_run" not in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def nir_refs() -> Path:
    """Folder of reference NIR graphs and peer simulations (a copy of shared/nir-refs)."""
    return NIR_REFS


@pytest.fixture
def run_example_here(monkeypatch, capsys):
    """``run(name, out)``: run ``examples/<name>`` in this process as ``python examples/<name> <out>``
    (``sys.argv``, working directory ``out``, ``__name__ == "__main__"``) and return what it printed.

    For the examples whose time is compiling: in this process they skip a fresh interpreter's
    start-up and imports (about 3 s each). The examples that train for long run as subprocesses
    with XLA's code optimisation on (``test_examples_tutorials.run_example``).
    """

    def run(name: str, out: Path) -> str:
        path = EXAMPLES / name
        monkeypatch.setattr(sys, "argv", [str(path), str(out)])
        monkeypatch.chdir(out)
        capsys.readouterr()  # what the test printed before is not the example's
        runpy.run_path(str(path), run_name="__main__")
        return capsys.readouterr().out

    return run


@pytest.fixture(scope="session")
def once_per_run(tmp_path_factory):
    """``once_per_run(name, make)``: the JSON-able result of ``make()``, computed by one process per run.

    Under xdist, the tests that share a costly module fixture can land on both workers, and each
    would compute it: the first worker to ask computes it and leaves it in the run's shared
    temporary folder (under a lock), the other reads it. Without xdist it is simply ``make()``.
    The tests that use it are collected first (above), so that they usually all fall in the first
    batch xdist hands to one worker, and the other never waits for the lock.
    """

    def get(name: str, make):
        if "PYTEST_XDIST_WORKER" not in os.environ:
            return make()
        shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above every worker's own
        done = shared / f"{name}.json"
        with open(shared / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not done.exists():
                done.write_text(json.dumps(make()))
        return json.loads(done.read_text())

    return get
