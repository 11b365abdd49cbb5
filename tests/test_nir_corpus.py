"""Every file of the corrupted-NIR corpus imports correctly or raises NIRError naming the problem.

The corpus (``tests/data/corrupt-nir``, made by its ``make_corpus.py``) lists
each file's expected outcome in ``cases.json``. A file must never hang, leak a
raw h5py/JAX/numpy exception or be imported with a part silently dropped. A hang
fails its test (``hang_guard.no_hang``, a generous limit); the import is not timed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import snnx
from hang_guard import no_hang
from snnx.nir import NIRError, from_nir

CORPUS = Path(__file__).parent / "data" / "corrupt-nir"
CASES = json.loads((CORPUS / "cases.json").read_text())
DT = 1e-3


def test_corpus_is_complete():
    assert len(CASES) >= 30
    assert sorted(CASES) == sorted(p.name for p in CORPUS.glob("*.nir"))
    readme = (CORPUS / "README.md").read_text()
    assert all(name in readme for name in CASES)


def _import(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_nir(path, dt=DT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_corrupt_file_imports_or_raises_nir_error(name):
    case = CASES[name]
    if case["expected"] == "ok":
        model = no_hang(_import, CORPUS / name)
        shape = (2, 4, 4) if name == "valid_conv.nir" else (3,)
        y, _ = snnx.run(model, jnp.ones((3, 2, *shape)))
        assert np.all(np.isfinite(np.asarray(y)))
    else:
        with pytest.raises(NIRError, match=case["match"]) as info:
            no_hang(_import, CORPUS / name)
        message = str(info.value)
        assert len(message) > 20 and "Traceback" not in message
