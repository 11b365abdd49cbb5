"""Every file of the corrupted-NIR corpus imports correctly or raises NIRError naming the problem, fast.

The corpus (``tests/data/corrupt-nir``, made by its ``make_corpus.py``) lists
each file's expected outcome in ``cases.json``. A file must never hang, leak a
raw h5py/JAX/numpy exception or be imported with a part silently dropped.
"""

from __future__ import annotations

import json
import signal
import time
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import snnx
from snnx.nir import NIRError, from_nir

CORPUS = Path(__file__).parent / "data" / "corrupt-nir"
CASES = json.loads((CORPUS / "cases.json").read_text())
DT = 1e-3
LIMIT_S = 1.0


def test_corpus_is_complete():
    assert len(CASES) >= 30
    assert sorted(CASES) == sorted(p.name for p in CORPUS.glob("*.nir"))
    readme = (CORPUS / "README.md").read_text()
    assert all(name in readme for name in CASES)


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    """Compile what every import needs once, so the per-file time measures the import itself."""
    from_nir(CORPUS / "valid_base.nir", dt=DT)
    from_nir(CORPUS / "valid_conv.nir", dt=DT)


def _alarm(signum, frame):
    raise TimeoutError("import hung")


@pytest.mark.parametrize("name", sorted(CASES))
def test_corrupt_file_imports_or_raises_nir_error_within_a_second(name):
    case = CASES[name]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)  # a hang fails the test instead of the suite
    try:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            if case["expected"] == "ok":
                model = from_nir(CORPUS / name, dt=DT)
            else:
                with pytest.raises(NIRError, match=case["match"]) as info:
                    from_nir(CORPUS / name, dt=DT)
        elapsed = time.perf_counter() - t0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert elapsed < LIMIT_S, f"{name}: import took {elapsed:.2f} s"
    if case["expected"] == "ok":
        shape = (2, 4, 4) if name == "valid_conv.nir" else (3,)
        y, _ = snnx.run(model, jnp.ones((3, 2, *shape)))
        assert np.all(np.isfinite(np.asarray(y)))
    else:
        message = str(info.value)
        assert len(message) > 20 and "Traceback" not in message
