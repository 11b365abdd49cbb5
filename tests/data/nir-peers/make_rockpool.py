"""Rockpool 3.1.0 reference outputs: its own NIR files, and how it runs snnx's exports.

Run in a Rockpool environment (``requirements-rockpool.txt`` beside this file), never
the project's::

    python3 -m venv /work/peers/venv-rockpool
    /work/peers/venv-rockpool/bin/pip install -r tests/data/nir-peers/requirements-rockpool.txt
    /work/peers/venv-rockpool/bin/python tests/data/nir-peers/make_rockpool.py tests/data/nir-peers

(run ``make_snnx_exports.py`` with the project venv first: part B reads ``snnx_<net>.nir``).

A. For each network (``lif``: LinearTorch -> LIFTorch, exported as CubaLIF; ``lifneuron``:
   LinearTorch -> LIFNeuronTorch, exported as LIF; ``li``: ... -> LinearTorch -> ExpSynTorch,
   exported as LI; ``lif_rec``: LIFTorch with recurrent weights), build it natively at
   ``dt = 1e-3`` with seeded weights, export it with ``rockpool.nn.modules.to_nir`` to
   ``rockpool_<net>.nir``, read it back (``nir.read``) and import it with
   ``rockpool.nn.modules.from_nir``, run the imported model on ``x`` and save
   ``rockpool_<net>.npz``. Import failures are recorded in ``meta["import_error"]``.
B. Import every ``snnx_<net>.nir`` the same way (nir 1.0.4, Rockpool's ``[nir]`` pin, cannot
   read ``v_reset``: the error is recorded, then a copy without ``v_reset`` is read from a
   temporary directory), run it, save ``rockpool_runs_snnx_<net>.npz`` and the errors in
   ``rockpool_runs_snnx.json``.

Every run of an imported model is checked against ``NumpyRockpool``, a numpy transcription
of what ``rockpool/nn/modules/torch/nir.py`` builds (see README-rockpool-sinabs.md):
identical spikes, membranes within 1e-5.

npz layout: ``x`` float32 ``(T, B, *NIR input shape)`` (time-major), ``out``
``(T, B, *out shape)``, ``v__<nir node>`` membranes (``vmem`` after reset; the LI
readout's ``isyn`` is its output), ``native`` (the native model before export), ``meta`` JSON.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import shutil
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import torch
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch, from_nir, to_nir

warnings.filterwarnings("ignore", category=DeprecationWarning)
torch.manual_seed(0)
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
T, B, DT = 60, 2, 1e-3
TAU = DT / np.log(1.25)  # Rockpool decays exp(-dt/tau): 0.8 per step
TAU_SYN = DT / np.log(1 / 0.7)  # 0.7 per step
VERSIONS = {p: md.version(p) for p in ("rockpool", "torch", "nir", "nirtorch")}
RNG = np.random.default_rng(3100)


# ----------------------------------------------------------------------------- numpy transcription


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def _step_pwl(v, thr):
    # rockpool/nn/modules/torch/lif_torch.py:43 (StepPWL): (v >= thr) * floor(v / thr)
    return ((v >= thr) * np.floor(v / thr)).astype(np.float32)


class NumpyRockpool:
    """What ``rockpool.nn.modules.from_nir`` computes, per NIR node, one step at a time (chains)."""

    def __init__(self, graph):
        self.graph = graph
        nxt = dict(graph.edges)
        name = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Input))
        self.order = []
        while name in nxt:
            name = nxt[name]
            if not isinstance(graph.nodes[name], nir.Output):
                self.order.append(name)

    def run(self, x):
        state, outs, rec = {}, [], {}
        for t in range(x.shape[0]):
            h = _f32(x[t])
            for name in self.order:
                h = self._step(name, self.graph.nodes[name], h, state)
                if name in state:
                    rec.setdefault(name, []).append(state[name][0].copy())
            outs.append(h)
        return np.stack(outs), {k: np.stack(a) for k, a in rec.items()}

    def _step(self, name, node, h, state):
        if isinstance(node, (nir.Affine, nir.Linear)):  # nir.py:138-151 LinearTorch(weight.T)
            y = h @ _f32(node.weight).T
            return (y + _f32(node.bias) if isinstance(node, nir.Affine) else y).astype(np.float32)
        if isinstance(node, nir.CubaLIF):  # nir.py:126-136 -> LIFTorch
            dt = np.min(_f32(node.tau_mem) / (1 + _f32(node.r)))  # nir.py:132-134: dt from r
            alpha = np.exp(-dt / _f32(node.tau_mem)).astype(np.float32)  # lif_torch.py:128-129
            beta = np.exp(-dt / _f32(node.tau_syn)).astype(np.float32)
            thr, bias = _f32(node.v_threshold), _f32(node.v_leak)  # nir.py:135: v_leak -> bias
            v, i = state.get(name, (np.zeros_like(h), np.zeros_like(h)))
            i = (i + h) * beta  # lif_torch.py:687, 698 (w_in ignored)
            v = v * alpha + i + bias  # lif_torch.py:697, 701 (r ignored)
            z = _step_pwl(v, thr)  # lif_torch.py:704-706
            state[name] = ((v - z * thr).astype(np.float32), i.astype(np.float32))  # lif_torch.py:709
            return z
        if isinstance(node, nir.LI):  # nir.py:108-113 -> ExpSynTorch, tau cast to int seconds
            dt = np.min(_f32(node.tau) / (1 + _f32(node.r)))
            tau = np.trunc(_f32(node.tau))  # .int()
            with np.errstate(divide="ignore"):
                beta = np.exp(-dt / tau).astype(np.float32)  # exp_syn_torch.py:122
            (i,) = state.get(name, (np.zeros_like(h),))
            i = ((i + h) * beta).astype(np.float32)  # exp_syn_torch.py:129-130
            state[name] = (i,)
            return i.copy()
        if isinstance(node, nir.LIF):  # nir.py:115-124 reads node.tau_mem: nir.LIF has none
            raise AttributeError("'LIF' object has no attribute 'tau_mem'")
        raise NotImplementedError(f"Cannot convert {type(node)} to rockpool module")  # nir.py:153


# ----------------------------------------------------------------------------- running Rockpool


def run_imported(path, x):
    """Rockpool's own import of the file at ``path``; run it on x (T, B, n)."""
    model = from_nir(Path(path))  # from_nir reads only os.PathLike sources itself (nir.py:183)
    graph = nir.read(path)
    recorded = {}
    for name, mod in model.named_children():
        if isinstance(mod, (LIFTorch, LIFNeuronTorch)):
            mod._record = True
            recorded[name] = mod
    with torch.no_grad():
        out, _ = model(torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1))))
    rec = {n: np.swapaxes(m._record_dict["vmem"].numpy(), 0, 1) for n, m in recorded.items()}
    types = {n: type(m).__name__ for n, m in model.named_children()}
    return np.swapaxes(out.numpy(), 0, 1).copy(), rec, types, graph


def check_numpy(graph, x, out, rec, what):
    ref, ref_v = NumpyRockpool(graph).run(x)
    np.testing.assert_array_equal(out, ref, err_msg=what)  # spikes (and the LI readout) exactly
    for name, v in rec.items():
        # torch's float32 exp differs from numpy's by 1 ulp for some decays; with subtract reset
        # the membrane carries that through 60 steps: 1e-4 absolute covers it (spikes stay exact)
        np.testing.assert_allclose(v, ref_v[name], rtol=1e-5, atol=1e-4, err_msg=f"{what} v__{name}")


def _linear(n_in, n_out, mean, std, bias):
    w = torch.tensor(RNG.normal(mean, std, (n_in, n_out)), dtype=torch.float32)  # Rockpool: (in, out)
    if bias is None:
        return LinearTorch((n_in, n_out), weight=w, has_bias=False)
    return LinearTorch((n_in, n_out), weight=w, bias=torch.full((n_out,), bias), has_bias=True)


THR = torch.tensor([0.8, 1.0, 1.2, 1.5, 0.9])


def _lif(n=5, **kw):
    return LIFTorch(
        n, tau_mem=torch.full((n,), TAU), tau_syn=torch.full((n,), TAU_SYN), threshold=THR[:n], dt=DT, **kw
    )


def _nets():
    yield (
        "lif",
        8,
        Sequential(_linear(8, 5, 0.15, 0.35, 0.0), _lif()),
        (
            "LinearTorch(8->5, bias) -> LIFTorch(tau_mem: decay 0.8, "
            "tau_syn: decay 0.7, per-unit thresholds, dt 1e-3)"
        ),
    )
    yield (
        "lifneuron",
        8,
        Sequential(
            _linear(8, 5, 0.6, 1.0, 0.05),
            LIFNeuronTorch(5, tau_mem=torch.full((5,), TAU), threshold=THR, dt=DT),
        ),
        "LinearTorch(8->5) -> LIFNeuronTorch(decay 0.8, per-unit thresholds)",
    )
    yield (
        "li",
        8,
        Sequential(
            _linear(8, 5, 0.15, 0.35, 0.0),
            _lif(),
            _linear(5, 3, 0.3, 0.6, None),
            ExpSynTorch(3, tau=torch.full((3,), TAU), dt=DT),
        ),
        "LinearTorch(8->5) -> LIFTorch -> LinearTorch(5->3, no bias) -> ExpSynTorch(decay 0.8) readout",
    )
    w_rec = torch.tensor(RNG.normal(-0.2, 0.3, (5, 5)), dtype=torch.float32)
    yield (
        "lif_rec",
        8,
        Sequential(_linear(8, 5, 0.15, 0.35, 0.0), _lif(has_rec=True, w_rec=w_rec)),
        ("LinearTorch(8->5) -> LIFTorch(has_rec=True, seeded w_rec): the export has no recurrent edge"),
    )


def part_a():
    for net, n_in, model, desc in _nets():
        x = (RNG.random((T, B, n_in)) < 0.3).astype(np.float32)
        meta = {"peer": "rockpool", "versions": VERSIONS, "dt": DT, "net": net, "description": desc}
        notes = []
        with torch.no_grad():
            model.reset_state()
            native, _, _native_rec = model(
                torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, 1))), record=True
            )
            native = np.swapaxes(native.numpy(), 0, 1).copy()
            graph = to_nir(model)  # default sample data zeros((1, size_in)): Input keeps that batch dim
        for node in graph.nodes.values():  # nir.py:246-250: LI tau/r left attached to autograd
            for f in ("tau", "r", "v_leak"):
                if isinstance(getattr(node, f, None), torch.Tensor):
                    setattr(node, f, getattr(node, f).detach().numpy())
                    notes.append(f"{type(node).__name__}.{f} was a torch tensor (detached before nir.write)")
        path = OUT / f"rockpool_{net}.nir"
        nir.write(path, graph)
        graph = nir.read(path)
        meta["exported_nodes"] = {k: type(v).__name__ for k, v in graph.nodes.items()}
        meta["exported_edges"] = sorted(map(list, graph.edges))
        meta["exported_params"] = {
            k: {
                f: np.asarray(getattr(v, f)).ravel()[:5].tolist()
                for f in ("tau", "tau_mem", "tau_syn", "r", "w_in", "v_leak", "v_threshold")
                if hasattr(v, f)
            }
            for k, v in graph.nodes.items()
            if isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI))
        }
        meta["dt_rockpool_import_derives"] = {
            k: float(np.min(np.asarray(getattr(v, "tau_mem", getattr(v, "tau", 0))) / (1 + np.asarray(v.r))))
            for k, v in graph.nodes.items()
            if isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI))
        }
        meta["input_shape_in_file"] = np.asarray(
            next(v for v in graph.nodes.values() if isinstance(v, nir.Input)).input_type["input"]
        ).tolist()
        arrays = {}
        try:
            out, rec, types, graph = run_imported(path, x)
        except Exception as e:
            meta["import_error"] = f"{type(e).__name__}: {e}"
            meta["import_traceback_tail"] = traceback.format_exc().strip().splitlines()[-4:]
            try:  # the transcription must fail the same way
                NumpyRockpool(graph).run(x)
                raise AssertionError("NumpyRockpool ran a graph Rockpool refused")
            except type(e):
                pass
            out = None
        if out is not None:
            check_numpy(graph, x, out, rec, f"rockpool_{net}")
            meta["module_types_after_import"] = types
            same = bool(np.array_equal(out, native))
            meta["imported_equals_native"] = same
            if not same:
                notes.append(
                    f"imported != native: max |diff| {float(np.abs(out - native).max()):.4g}, "
                    f"spike counts {out.sum():.0f} vs {native.sum():.0f}"
                )
            arrays = {"out": out, **{f"v__{k}": v for k, v in rec.items()}}
        meta["how"] = (
            "rockpool.nn.modules.to_nir(model) -> nir.write -> rockpool.nn.modules.from_nir(Path(file)); "
            "run on x as (B, T, n), back to (T, B, n)"
        )
        meta["notes"] = "; ".join(
            notes + (["out agrees with NumpyRockpool (asserted)"] if out is not None else [])
        )
        np.savez_compressed(OUT / f"rockpool_{net}.npz", x=x, native=native, meta=json.dumps(meta), **arrays)
        print(f"rockpool_{net}: native sum {native.sum():.1f}, {meta.get('import_error') or meta['notes']}")


def _strip_v_reset(src, dst):
    shutil.copy(src, dst)
    removed = []
    with h5py.File(dst, "r+") as f:
        f.visititems(
            lambda n, o: removed.append(n) if isinstance(o, h5py.Dataset) and n.endswith("/v_reset") else None
        )
        for name in removed:
            del f[name]
    return removed


def part_b():
    report = {}
    for src in sorted(OUT.glob("snnx_*.nir")):
        net = src.stem[len("snnx_") :]
        ref = np.load(OUT / f"snnx_{net}.npz")
        x, snnx_out = ref["x"], ref["out"]
        entry = {}
        with tempfile.TemporaryDirectory() as tmp:
            path = src
            try:
                nir.read(src)
                entry["read"] = "ok"
            except Exception as e:
                entry["read_error"] = f"{type(e).__name__}: {e}"
                path = Path(tmp) / src.name
                entry["removed_for_retry"] = _strip_v_reset(src, path)
            try:
                out, rec, types, graph = run_imported(path, x)
            except Exception as e:
                entry["import_or_run_error"] = f"{type(e).__name__}: {e}"
                report[net] = entry
                print(f"rockpool runs snnx_{net}: {entry['import_or_run_error']}")
                continue
        check_numpy(graph, x, out, rec, f"rockpool_runs_snnx_{net}")
        entry["module_types_after_import"] = types
        entry["spikes_identical_to_snnx"] = bool(np.array_equal(out, snnx_out))
        entry["max_abs_diff_vs_snnx"] = float(np.abs(out - snnx_out).max())
        entry["counts"] = {"rockpool": float(out.sum()), "snnx": float(snnx_out.sum())}
        meta = {
            "peer": "rockpool",
            "versions": VERSIONS,
            "net": net,
            "source": src.name,
            **entry,
            "how": "nir.read check; copy without v_reset in a temp dir if needed -> from_nir(Path(file))",
        }
        np.savez_compressed(
            OUT / f"rockpool_runs_snnx_{net}.npz",
            x=x,
            out=out,
            meta=json.dumps(meta),
            **{f"v__{k}": v for k, v in rec.items()},
        )
        report[net] = entry
        print(f"rockpool runs snnx_{net}: identical {entry['spikes_identical_to_snnx']}")
    (OUT / "rockpool_runs_snnx.json").write_text(
        json.dumps({"versions": VERSIONS, "runs": report}, indent=1) + "\n"
    )


if __name__ == "__main__":
    part_a()
    part_b()
