"""``from_nir(..., dialect=...)`` reproduces what each framework computes when it runs a NIR file.

The references are the frameworks' own runs (``tests/data/nir-peers``, made by the
``make_*.py`` scripts there in each framework's environment, never this one):
Spyx 1.0.0, snnTorch 1.0.0 and Norse 1.1.0 (README.md), Rockpool 3.1.0 and Sinabs
3.1.3 (README-rockpool-sinabs.md) each exported small networks, imported its own file
and other frameworks' files, and ran them. For every run, the dialect of the
framework that ran it must give the same spikes and readouts within 1e-5, or refuse
the file where snnx does not reproduce it (the list below, each with its reason).
The default dialect must still follow NIR's equations on the same files
(``tests/nir_euler.py``, an independent numpy simulator).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import snnx
from nir_euler import EulerGraph
from snnx.nir import NIRError, PeerNeuron, dialects, from_nir, read
from snnx.nir._import import node_states

PEERS = Path(__file__).parent / "data" / "nir-peers"
REFS = Path(__file__).parent / "data" / "nir-refs" / "graphs"
DIALECT = {name: name for name in ("spyx", "snntorch", "norse", "rockpool", "sinabs")}

# Runs the dialect refuses on purpose (regex of the reason), where the framework ran the file.
REFUSED = {
    "norse_li": r"'3' \(LI\).*Norse has no LI mapping and drops the node",
    "snntorch_runs_spyx_rlif": r"closes a cycle.*snnTorch",
    "norse_runs_snntorch_rlif": r"'1.w_rec' is an Affine with a bias.*Norse's does not",
    "sinabs_runs_snnx_cubalif": r"\(CubaLIF\).*Sinabs has no mapping for it.*skips the node",
}
# Runs where the framework itself failed: the dialect refuses the file too, except where the framework
# fails only because of its batch handling (these run as the framework does on one sample).
FAILED_RUNS_THAT_RUN = {
    "snntorch_conv", "snntorch_runs_spyx_conv", "norse_runs_snntorch_conv", "norse_runs_spyx_conv",
}  # fmt: skip


def _runs():
    """(case, the file that was run, dialect, npz) of every framework run in tests/data/nir-peers."""
    cases = []
    for npz in sorted(PEERS.glob("*.npz")):
        base = npz.stem
        peer = base.split("_")[0]
        if peer not in DIALECT:
            continue
        graph = base.split("_runs_", 1)[1] if "_runs_" in base else base
        path = PEERS / f"{graph}.nir"
        if not path.exists():
            path = REFS / f"{graph}.nir"
        if path.exists():  # a framework's runs of other frameworks' files: the full tier
            marks = [pytest.mark.slow] if "_runs_" in base else []
            cases.append(pytest.param(base, path, DIALECT[peer], npz, id=base, marks=marks))
    return cases


def _load(npz):
    data = np.load(npz)
    return data, json.loads(str(data["meta"]))


def _import(path, dialect, meta):
    dt = meta.get("dt") if dialect in ("spyx", "norse") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. Rockpool's always-zero LI, said once per import
        return from_nir(path, dt, dialect=dialect)


@pytest.mark.parametrize(("base", "path", "dialect", "npz"), _runs())
def test_dialect_reproduces_the_framework_running_the_file(base, path, dialect, npz):
    data, meta = _load(npz)
    if base in REFUSED:
        assert "out" in data.files  # the framework did run it: snnx refuses on purpose
        with pytest.raises(NIRError, match=REFUSED[base]):
            _import(path, dialect, meta)
        return
    if "out" not in data.files:  # the framework failed on the file
        if base in FAILED_RUNS_THAT_RUN:
            snnx.run(_import(path, dialect, meta), data["x"][:, :1])
        else:
            with pytest.raises(NIRError, match=rf"dialect {dialect!r}"):
                _import(path, dialect, meta)
        return
    model = _import(path, dialect, meta)
    out, states = snnx.run(model, data["x"], return_states=True)
    out, ref = np.asarray(out), data["out"]
    assert out.shape == ref.shape
    spiking = set(np.unique(ref)) <= set(range(2**16)) and ref.max() >= 1
    if spiking:  # spike trains (counts for Sinabs and Rockpool): identical
        np.testing.assert_array_equal(out, ref)
    else:  # readouts (membranes)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    mine = node_states(model, states)  # the membranes the framework recorded under the file's node names
    for key in (k for k in data.files if k.startswith("v__") and k[3:] in mine):
        v = np.asarray(mine[key[3:]]["v"])
        np.testing.assert_allclose(v.reshape(data[key].shape), data[key], rtol=1e-4, atol=1e-4)


def test_every_framework_and_case_is_exercised():
    runs = {p.values[0]: p.values[2] for p in _runs()}
    assert set(runs.values()) == set(DIALECT)
    assert set(REFUSED) <= set(runs) and FAILED_RUNS_THAT_RUN <= set(runs)
    # the frameworks' own round trips with spikes in them, per framework
    for peer, nets in {"spyx": ("lif", "cubalif", "if", "conv"), "snntorch": ("lif", "cubalif"),
                       "norse": ("lif", "cubalif", "if"), "rockpool": ("lif", "lif_rec"),
                       "sinabs": ("lif", "if", "li", "conv")}.items():  # fmt: skip
        for net in nets:
            data, _ = _load(PEERS / f"{peer}_{net}.npz")
            assert "out" in data.files and np.abs(data["out"]).sum() > 0, (peer, net)


def test_several_spikes_per_step_and_one_step_late_spikes_are_reproduced():
    """The cases that tell the dialects apart really occur in the references."""
    sinabs, _ = _load(PEERS / "sinabs_lif.npz")
    assert sinabs["out"].max() >= 2  # Sinabs emits several spikes in one step
    spyx, meta = _load(PEERS / "spyx_lif.npz")
    late = np.asarray(snnx.run(_import(PEERS / "spyx_lif.nir", "spyx", meta), spyx["x"])[0])
    on_time = np.asarray(snnx.run(from_nir(PEERS / "spyx_lif.nir", meta["dt"], dialect="nir"), spyx["x"])[0])
    assert not np.array_equal(late, on_time)  # the NIR reading of Spyx's file differs from Spyx's run


NIR_CHECKED = [
    "spyx_lif", "spyx_cubalif", "spyx_if", "spyx_conv", "snntorch_lif", "snntorch_cubalif", "norse_lif",
    "norse_cubalif", "norse_if", "norse_li", "rockpool_lif", "sinabs_lif", "sinabs_if", "sinabs_li",
    "sinabs_conv", "snnx_lif", "snnx_cubalif", "snnx_if", "snnx_li", "snnx_conv",
]  # fmt: skip


@pytest.mark.parametrize("name", NIR_CHECKED)
def test_default_dialect_still_follows_nir_on_the_same_files(name):
    data, meta = _load(PEERS / f"{name}.npz")
    dt = meta.get("dt") or 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's signature warning
        graph = read(PEERS / f"{name}.nir")
        got = np.asarray(snnx.run(from_nir(graph, dt), data["x"])[0])
    ref, _ = EulerGraph(graph, dt).run(data["x"].astype(np.float64))
    ref = next(iter(ref.values())).reshape(got.shape)
    if set(np.unique(ref)) <= {0.0, 1.0}:
        assert np.array_equal(got, ref) or np.mean(got != ref) < 1e-3  # float32 vs float64 at the threshold
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "framework"),
    [("spyx_lif", "Spyx 1.0.0"), ("rockpool_lif", "Rockpool 3.1.0"), ("sinabs_lif", "Sinabs 3.1.3")],
)
def test_a_known_deviant_export_warns_once_naming_the_framework_and_dialect(name, framework):
    _, meta = _load(PEERS / f"{name}.npz")
    dialect = name.split("_")[0]
    dt = 1e-3 if dialect == "sinabs" else meta["dt"]  # Sinabs has no dt: a user's typical one
    with pytest.warns(UserWarning) as caught:
        from_nir(PEERS / f"{name}.nir", dt)
    said = [str(w.message) for w in caught if "signature" in str(w.message)]
    assert len(said) == 1 and framework in said[0] and f"dialect={dialect!r}" in said[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # naming the dialect, even NIR's own, silences it
        from_nir(PEERS / f"{name}.nir", dt, dialect="nir")


def test_faithful_exports_do_not_warn():
    for name in ("snnx_lif", "snnx_cubalif", "snntorch_lif", "norse_lif"):
        _, meta = _load(PEERS / f"{name}.npz")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            from_nir(PEERS / f"{name}.nir", meta["dt"])


def test_bad_dialect_arguments_name_what_is_known():
    path = PEERS / "snnx_lif.nir"
    known = re.escape(f"`dialect` must be one of {list(dialects())}, got 'brian'")
    with pytest.raises(ValueError, match=known):
        from_nir(path, 1e-3, dialect="brian")
    assert dialects()[0] == "nir" and set(DIALECT) <= set(dialects())
    with pytest.raises(ValueError, match=r"`reset` .* cannot be combined with dialect='spyx'"):
        from_nir(path, 1e-3, dialect="spyx", reset="subtract")
    with pytest.raises(TypeError, match=r"dt=None.*'spyx' does not"):
        from_nir(path, None, dialect="spyx")
    with pytest.raises(TypeError, match=r"dt=None.*'nir' does not"):
        from_nir(path, None)
    from_nir(PEERS / "sinabs_lif.nir", None, dialect="sinabs")  # Sinabs counts time in steps


def test_a_primitive_a_dialect_does_not_cover_is_refused_naming_what_it_covers():
    with pytest.raises(
        NIRError, match=r"'layer_1' \(IF\): dialect 'rockpool' .*NotImplementedError.*nir\.py:153"
    ):
        from_nir(PEERS / "spyx_if.nir", None, dialect="rockpool")
    with pytest.raises(NIRError, match=r"\(LIF\).*'rockpool'.*tau_mem"):
        from_nir(PEERS / "snnx_lif.nir", None, dialect="rockpool")
    with pytest.raises(NIRError, match=r"\(Linear\).*'sinabs'.*no mapping"):
        from_nir(REFS / "braille_noDelay_noBias_subtract.nir", None, dialect="sinabs")


def test_dialect_refusals_of_values_name_the_field():
    # norse_lif.nir has v_leak 0.1
    with pytest.raises(NIRError, match=r"field 'v_leak': dialect 'snntorch'.*v_leak == 0"):
        from_nir(PEERS / "norse_lif.nir", None, dialect="snntorch")
    with pytest.raises(NIRError, match=r"field 'v_leak': dialect 'sinabs'"):
        from_nir(PEERS / "norse_lif.nir", None, dialect="sinabs")


def test_dialects_that_count_in_steps_say_they_do_not_use_dt():
    unused = r"dialect='snntorch' does not use dt=0.005: snnTorch 1.0 reads every file at dt = 1e-4"
    with pytest.warns(UserWarning, match=unused):
        from_nir(PEERS / "snntorch_lif.nir", 5e-3, dialect="snntorch")
    with pytest.warns(
        UserWarning, match=r"dialect='sinabs' does not use dt=0.001: Sinabs 3.1 reads tau as a number"
    ):
        from_nir(PEERS / "sinabs_lif.nir", 1e-3, dialect="sinabs")


def test_values_a_peer_neuron_cannot_run_are_refused_naming_node_and_field():
    graph = read(PEERS / "sinabs_lif.nir")
    graph.nodes["1"].v_threshold = np.zeros_like(graph.nodes["1"].v_threshold)
    with pytest.raises(
        NIRError, match=r"node '1' \(LIF\), field 'v_threshold': expected positive thresholds"
    ):
        from_nir(graph, None, dialect="sinabs")
    graph = read(PEERS / "rockpool_lif.nir")
    node = next(n for n in graph.nodes.values() if type(n).__name__ == "CubaLIF")
    node.r = np.full_like(node.r, -1.0)
    with pytest.raises(
        NIRError, match=r"field 'r': dialect 'rockpool': Rockpool's step tau / \(1 \+ r\) needs r > -1"
    ):
        from_nir(graph, None, dialect="rockpool")


def _numpy_peer(x, beta, thr, *, count=False, ge=False, subtract=False, v_min=-np.inf, late=False):
    """A plain loop of the neuron, written from the PeerNeuron docstring."""
    v, zs = np.zeros(x.shape[1:]), []
    for xt in x:
        if late:  # next-step reset after the decay, output one step late (Spyx's LIF)
            z_last = (v > thr).astype(float)
            v = beta * v + xt - z_last * thr
            zs.append(z_last)
            continue
        v = beta * v + xt
        hit = v >= thr if ge else v > thr
        z = np.where(hit, np.floor(v / thr) if count else 1.0, 0.0)
        v = v - z * thr if subtract else np.where(z > 0, 0.0, v)
        v = np.maximum(v, v_min)
        zs.append(z)
    return np.stack(zs)


@pytest.mark.parametrize(
    "kw",
    [
        {"count": True, "ge": True, "subtract": True},
        {"count": True, "ge": True, "subtract": True, "v_min": -1.5},
        {"late": True},
        {"ge": True},
        {},
    ],
)
def test_peer_neuron_against_a_numpy_loop(kw):
    x = np.random.default_rng(3).normal(0.8, 2.0, (40, 2, 6)).astype(np.float32)
    x[5] = 1.5  # exactly at the threshold after a reset: '>' and '>=' differ
    opts = {
        "spikes": "count" if kw.get("count") else "binary",
        "test": ">=" if kw.get("ge") else ">",
        "reset": "subtract" if kw.get("subtract") or kw.get("late") else "zero",
        "v_min": kw.get("v_min"),
    }
    if kw.get("late"):
        opts.update(reset_when="next_step_after_decay", output="last_step")
    neuron = PeerNeuron(6, beta=0.75, threshold=1.5, **opts)
    got, _ = snnx.run(neuron, x)
    np.testing.assert_array_equal(np.asarray(got), _numpy_peer(x.astype(np.float64), 0.75, 1.5, **kw))


def test_peer_neuron_rejects_bad_options():
    with pytest.raises(ValueError, match=r"`spikes` must be one of \['binary', 'count'\], got 'many'"):
        PeerNeuron(3, 0.9, 1.0, spikes="many")
    with pytest.raises(ValueError, match=r"`output='last_step'` needs a next-step reset"):
        PeerNeuron(3, 0.9, 1.0, output="last_step")
    with pytest.raises(ValueError, match=r"`threshold` must be positive"):
        PeerNeuron(3, 0.9, 0.0)
    with pytest.raises(ValueError, match=r"`w_rec` must be an \(N, N\) matrix .*reset_when='same_step'"):
        PeerNeuron(3, 0.9, 1.0, w_rec=np.eye(3))
    with pytest.raises(ValueError, match=r"`w_rec` must be an \(N, N\) matrix .*got shape \(2, 2\)"):
        PeerNeuron(3, 0.9, 1.0, reset_when="next_step_after_decay", w_rec=np.eye(2))
    with pytest.raises(
        snnx.ShapeError, match=r"`beta` must be a scalar or broadcast to the layer shape \(3,\)"
    ):
        PeerNeuron(3, np.full(5, 0.9), 1.0)
    with pytest.raises(ValueError, match=r"`i_gain` acts on the synaptic current, which needs `alpha`"):
        PeerNeuron(3, 0.9, 1.0, i_gain=2.0)
    with pytest.raises(ValueError, match=r"`max_spikes` bounds `spikes='count'`"):
        PeerNeuron(3, 0.9, 1.0, max_spikes=2)
    with pytest.raises(ValueError, match=r"`v_reset` is the value of reset='zero'"):
        PeerNeuron(3, 0.9, 1.0, reset="subtract", v_reset=0.5)
    with pytest.raises(ValueError, match=r"`max_spikes` must be None or a positive int, got 0"):
        PeerNeuron(3, 0.9, 1.0, spikes="count", max_spikes=0)
