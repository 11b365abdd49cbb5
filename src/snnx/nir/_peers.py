"""The dialects of Spyx, snnTorch, Norse, Rockpool and Sinabs: what each runs when it imports a NIR file.

Each builder transcribes the framework's NIR importer (the source lines are in
the reasons and docstrings; paths inside the installed packages). The evidence
is in ``tests/data/nir-peers``: every framework exported small networks, read its
own files back and ran them, and ``tests/test_nir_dialects.py`` checks that these
dialects give the same spikes and readouts. Versions: Spyx 1.0.0, snnTorch 1.0.0,
Norse 1.1.0, Rockpool 3.1.0, Sinabs 3.1.3.
"""

from __future__ import annotations

import warnings

import numpy as np

from snnx import layers as L
from snnx import neurons as N
from snnx.nir import _convert as C
from snnx.nir._dialects import Dialect, register
from snnx.nir._errors import NIRError
from snnx.nir._import_table import TABLE, Site
from snnx.nir._peer_neuron import PeerNeuron

_DENSE = ("Affine", "Linear")


def _per_unit(site: Site, value) -> np.ndarray:
    """``value`` broadcast to the node's NIR shape, channels-last float32 (as the layer takes it)."""
    arr = np.broadcast_to(np.asarray(value, np.float64), site.in_shape)
    return C.channels_last(arr).astype(np.float32)


def _neuron(site: Site, framework: str, *, gain=None, **kw) -> list:
    """``[Scale(gain)?, PeerNeuron]``; per-unit keyword values are broadcast to the node's shape."""
    per_unit = ("beta", "threshold", "alpha", "v_leak", "i_leak", "i_gain", "v_init", "i_init", "v_min")
    for key in per_unit:
        if kw.get(key) is not None:
            kw[key] = _per_unit(site, kw[key])
    thr = np.asarray(kw["threshold"])
    if np.any(thr <= 0):
        raise NIRError(
            f"node {site.name!r} ({site.kind}), field 'v_threshold': expected positive thresholds to run it "
            f"as {framework} does (snnx's PeerNeuron counts spikes in thresholds), got "
            f"{thr.ravel()[thr.ravel() <= 0][:4]}",
            node=site.name,
            field="v_threshold",
        )
    pre = [] if gain is None else C.gain_layer(site.in_shape, np.broadcast_to(gain, site.in_shape))
    return [*pre, PeerNeuron(site.snnx_shape, framework=framework, **kw)]


def _refuse(site: Site, dialect: str, field: str, why: str) -> NIRError:
    return NIRError(
        f"node {site.name!r} ({site.kind}), field {field!r}: dialect {dialect!r}: {why}",
        node=site.name,
        field=field,
    )


def _unpadded_pool(dialect: str, why: str):
    def build(site: Site) -> list:
        if np.any(np.asarray(site.node.padding) != 0):
            raise _refuse(site, dialect, "padding", f"{why}; only padding 0 runs the same")
        return TABLE[site.kind].build(site)

    return build


def _close(a, b, rtol=1e-4) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=0))


# -- Spyx 1.0.0 (spyx/nir.py, spyx/nn.py) ------------------------------------------------------

SPYX = "Spyx 1.0.0"


def _spyx_decay(site: Site, field: str) -> np.ndarray:
    return np.clip(1.0 - site.dt / site.tau(field), 0.0, 1.0)  # nir.py:213-225, clipped, never refused


def _spyx_lif(site: Site) -> list:
    """``s = v > thr`` on last step's membrane; ``v = beta v + x - s thr`` (nn.py:214-217).

    ``r``, ``v_leak`` and ``v_reset`` are not read. In a cycle with a dense node, Spyx's RLIF:
    ``v = beta v + x + s W^T - s thr``, the recurrent bias dropped (nir.py:333-340, nn.py:532-534).
    """
    w_rec = None if site.recurrent is None else site.recurrent.T  # NIR (out, in) -> (in, out)
    return _neuron(
        site,
        SPYX,
        beta=_spyx_decay(site, "tau"),
        threshold=site.param("v_threshold"),
        reset_when="next_step_after_decay",
        output="last_step",
        reset="subtract",
        w_rec=w_rec,
    )


def _spyx_prepare(flat) -> None:
    """Spyx folds an LIF <-> dense two-node cycle into its RLIF and feeds whatever enters the pair to the
    LIF, ignoring the file's wiring (Spyx's own exports send the input through the dense node:
    nir.py:63-85, 442-447): edges into the dense node from outside the pair go to the LIF."""
    for w, node in flat.nodes.items():
        if type(node).__name__ not in _DENSE:
            continue
        outs = [d for s, d in flat.edges if s == w]
        if len(outs) != 1 or type(flat.nodes[outs[0]]).__name__ != "LIF" or (outs[0], w) not in flat.edges:
            continue
        lif = outs[0]
        moved = [(s, lif) if d == w and s != lif else (s, d) for s, d in flat.edges]
        flat.edges = list(dict.fromkeys(moved))


def _spyx_cycle(flat, src: str) -> str:
    return (
        f"Spyx runs a cycle only as an LIF <-> Affine/Linear pair (its RLIF); {src!r} closes another one "
        f"(a CubaLIF pair gets RCuBaLIF, whose membrane decay the import never sets: nir.py:333-340)"
    )


def _spyx_cuba(site: Site) -> list:
    """``s = v > thr``; ``v -= s thr`` before the decay; ``i = alpha i + x``; ``v = beta v + i``.

    nn.py:451-454; ``w_in``, ``r`` and ``v_leak`` are not read.
    """
    return _neuron(
        site,
        SPYX,
        alpha=_spyx_decay(site, "tau_syn"),
        beta=_spyx_decay(site, "tau_mem"),
        threshold=site.param("v_threshold"),
        reset_when="next_step_before_decay",
        output="last_step",
        reset="subtract",
    )


def _spyx_if(site: Site) -> list:
    """``s = v > thr``; ``v = v + x - s thr`` (nn.py:167-168); r unread."""
    return _neuron(
        site,
        SPYX,
        beta=1.0,
        threshold=site.param("v_threshold"),
        reset_when="next_step_after_decay",
        output="last_step",
        reset="subtract",
    )


def _spyx_flatten(site: Site) -> list:
    """``x.reshape(B, -1)`` of the channels-last tensor: H, W, C order (nn.py:757-758); start_dim unread."""
    start, end, _ = C.flatten_geometry(site.name, site.node, site.in_shape)
    if (start, end) != (0, len(site.in_shape) - 1) and len(site.in_shape) > 1:
        raise _refuse(
            site,
            "spyx",
            "start_dim/end_dim",
            "Spyx flattens every axis whatever the file says (nn.py:757-758); only a full flatten "
            "runs the same",
        )
    return [L.Flatten(order="hwc")]


def _spyx_signature(name, node, dt):
    kind = type(node).__name__
    if kind in ("LIF", "CubaLIF"):
        beta = 1.0 - dt / np.asarray(node.tau if kind == "LIF" else node.tau_mem, np.float64)
        if np.all(beta > 0) and _close(node.r, beta, rtol=1e-5):
            return (
                f"r = 1 - dt/tau = {np.ravel(beta)[0]:.4g} (Spyx writes its decay beta as r, nir.py:587-605)"
            )
    return None


register(
    Dialect(
        "spyx",
        SPYX,
        "gain 1 (r and w_in unread), the spike tested on last step's membrane (one step late), "
        "reset by subtraction, Flatten in H, W, C order",
        same=("Affine", "Linear", "Conv2d"),
        builds={
            "LIF": _spyx_lif,
            "CubaLIF": _spyx_cuba,
            "IF": _spyx_if,
            "Flatten": _spyx_flatten,
            "SumPool2d": _unpadded_pool(
                "spyx", "Spyx pools with SAME padding when any is non-zero (nir.py:197-205)"
            ),
        },
        refuses={
            "LI": "Spyx refuses LI unless a Threshold follows it, and then runs its PSU_LIF, which snnx does "
            "not reproduce (nir.py:291-297)",
            "Threshold": "Spyx runs an LI followed by a Threshold as its PSU_LIF (nir.py:291-297), "
            "which snnx does not reproduce",
        },
        cycles=_spyx_cycle,
        recurrent=("LIF",),
        prepare=_spyx_prepare,
        not_covered="Spyx skips node types it does not know without a word (nir.py:241, 311-313)",
        signature=_spyx_signature,
    )
)


# -- snnTorch 1.0.0 (snntorch/import_nir.py) ---------------------------------------------------

SNNTORCH = "snnTorch 1.0.0"
SNNTORCH_DT = 1e-4  # import_nir.py:243, 279: every file is read at this step


def snntorch_decay(decay) -> np.ndarray:
    """snnTorch clamps its decays to [0, 1] every step (leaky.py:239, synaptic.py:267-268)."""
    return np.clip(decay, 0.0, 1.0)


def _snntorch_threshold(site: Site, scale) -> float:
    thr = site.param("v_threshold")
    if not np.allclose(scale, 1.0):
        thr = thr / scale
    if np.unique(thr).size != 1:
        raise _refuse(
            site,
            "snntorch",
            "v_threshold",
            "snnTorch needs one threshold for the layer after dividing by the input gain "
            f"(import_nir.py:266-268), got {np.unique(thr)[:4]}",
        )
    return float(np.unique(thr)[0])


def _snntorch_no_leak(site: Site) -> None:
    if not np.allclose(site.param("v_leak"), 0.0):
        raise _refuse(site, "snntorch", "v_leak", "snnTorch asserts v_leak == 0 (import_nir.py:245, 282)")


def _snntorch_lif(site: Site) -> list:
    """``snn.Leaky(beta = 1 - 1e-4/tau, threshold = v_threshold / (r 1e-4/tau))``, reset to 0.

    import_nir.py:242-276; ``v_reset`` is not read.
    """
    _snntorch_no_leak(site)
    tau = site.tau("tau")
    scale = site.param("r") * SNNTORCH_DT / tau
    scale = np.unique(scale)[0] if not np.allclose(scale, 1.0) else scale  # the smallest gain, as snnTorch
    return _neuron(
        site,
        SNNTORCH,
        beta=snntorch_decay(1.0 - SNNTORCH_DT / tau),
        threshold=_snntorch_threshold(site, scale),
        reset="zero",
    )


def _snntorch_cuba(site: Site) -> list:
    """``snn.Synaptic(alpha, beta, threshold = v_threshold / (w_in 1e-4/tau_syn))``, reset to 0.

    import_nir.py:278-319; the current is not reset.
    """
    _snntorch_no_leak(site)
    tau_syn, tau_mem = site.tau("tau_syn"), site.tau("tau_mem")
    if not np.allclose(site.param("r"), tau_mem / SNNTORCH_DT):
        raise _refuse(site, "snntorch", "r", "snnTorch asserts r == tau_mem / 1e-4 (import_nir.py:282-284)")
    scale = site.param("w_in", 1.0) * SNNTORCH_DT / tau_syn
    return _neuron(
        site,
        SNNTORCH,
        alpha=snntorch_decay(1.0 - SNNTORCH_DT / tau_syn),
        beta=snntorch_decay(1.0 - SNNTORCH_DT / tau_mem),
        threshold=_snntorch_threshold(site, scale),
        reset="zero",
    )


register(
    Dialect(
        "snntorch",
        SNNTORCH,
        "every file read at dt = 1e-4, gain 1 with the threshold divided by r dt/tau instead, reset to 0 "
        "whatever v_reset says",
        same=("Affine", "Linear", "Conv2d", "Flatten"),
        builds={"LIF": _snntorch_lif, "CubaLIF": _snntorch_cuba},
        refuses={
            "IF": "snnTorch builds a Leaky(beta=0.9) with init_hidden=False whose (spikes, membrane) tuple "
            "becomes the layer's output (import_nir.py:226-240): the network cannot run",
            **{
                k: "snnTorch has no mapping for it: ValueError 'Unknown node type' (import_nir.py:510-519)"
                for k in ("LI", "SumPool2d", "Threshold", "CubaLI", "I", "Scale", "Delay", "AvgPool2d")
            },
        },
        no_dt="snnTorch 1.0 reads every file at dt = 1e-4 (import_nir.py:243, 279)",
        cycles="snnTorch's import crashes on its own recurrent files ('GraphModule' object has no attribute "
        "'items') and runs other cycles without the recurrent bias at t = 0 (nirtorch "
        "nir_interpreter.py:248-255)",
        uses_dt=False,
    )
)


# -- Norse 1.1.0 (norse/torch/utils/import_nir.py) ---------------------------------------------

NORSE = "Norse 1.1.0"


def _norse_lif(site: Site) -> list:
    """``v += dt/tau (x + v_leak - v)``, reset to 0, r unread, v starts at v_leak (import_nir.py:120-130)."""
    rate = site.dt / site.tau("tau")
    v_leak = site.param("v_leak")
    return _neuron(
        site,
        NORSE,
        gain=rate,
        beta=1.0 - rate,
        v_leak=v_leak,
        v_init=v_leak,
        threshold=site.param("v_threshold"),
        reset="zero",
    )


def _norse_cuba(site: Site) -> list:
    """``i += dt/tau_syn (v_leak - i + w_in x)``; ``v += dt/tau_mem (v_leak - v + r i)``; reset to 0;
    both start at v_leak (import_nir.py:39-53, 97-118)."""
    syn, mem = site.dt / site.tau("tau_syn"), site.dt / site.tau("tau_mem")
    v_leak = site.param("v_leak")
    return _neuron(
        site,
        NORSE,
        gain=syn * site.param("w_in", 1.0),
        alpha=1.0 - syn,
        i_leak=v_leak,
        i_gain=mem * site.param("r"),
        beta=1.0 - mem,
        v_leak=v_leak,
        v_init=v_leak,
        i_init=v_leak,
        threshold=site.param("v_threshold"),
        reset="zero",
    )


def _norse_if(site: Site) -> list:
    """``IAFCell``: ``v += x``, reset to 0, r unread (import_nir.py:93-96)."""
    return _neuron(site, NORSE, beta=1.0, threshold=site.param("v_threshold"), reset="zero")


def _norse_cycle(flat, src: str) -> str | None:
    """Norse's back edges carry nothing at t = 0 (nirtorch graph_executor.py:112-121), NIR's carry the
    source's output on zero state: the same unless that output is an Affine's bias."""
    node = flat.nodes[src]
    if type(node).__name__ == "Affine" and np.any(np.asarray(node.bias) != 0):
        return (
            f"its source {src!r} is an Affine with a bias, which NIR's back edge carries at t = 0 and "
            f"Norse's does not (nirtorch graph_executor.py:112-121)"
        )
    return None


register(
    Dialect(
        "norse",
        NORSE,
        "r unread for LIF and IF, reset to 0 whatever v_reset says, membranes (and currents) start at v_leak",
        same=("Affine", "Linear", "Conv2d", "Flatten"),
        builds={
            "LIF": _norse_lif,
            "CubaLIF": _norse_cuba,
            "IF": _norse_if,
            "SumPool2d": _unpadded_pool(
                "norse", "Norse pools with LPPool2d(1) and drops the padding (import_nir.py:131-138)"
            ),
        },
        refuses={
            "LI": "Norse has no LI mapping and drops the node without a word; the network then returns the "
            "output of the node before it (import_nir.py:62-138, nirtorch graph_executor.py:165-167)",
        },
        cycles=_norse_cycle,
        not_covered="Norse's import returns no module for it, and the node is dropped (import_nir.py:62-138)",
    )
)


# -- Rockpool 3.1.0 (rockpool/nn/modules/torch/nir.py) -----------------------------------------

ROCKPOOL = "Rockpool 3.1.0"


def _rockpool_step(site: Site, tau) -> float:
    """Rockpool's own step ``min(tau / (1 + r))`` (nir.py:108-136); refused unless positive and finite."""
    r = site.param("r")
    if np.any(r <= -1):
        raise _refuse(
            site, "rockpool", "r", (f"Rockpool's step tau / (1 + r) needs r > -1, got {r[r <= -1][:4]}")
        )
    return float(np.min(tau / (1.0 + r)))


def _rockpool_cuba(site: Site) -> list:
    """``LIFTorch`` at its own step ``dt' = min(tau_mem / (1 + r))`` (nir.py:126-136): ``i = beta (i + x)``,
    ``v = alpha v + i + v_leak``, ``floor(v/thr)`` spikes when ``v >= thr``, subtracted
    (lif_torch.py:687-709)."""
    tau_syn, tau_mem = site.tau("tau_syn"), site.tau("tau_mem")
    step = _rockpool_step(site, tau_mem)
    alpha, beta = np.exp(-step / tau_mem), np.exp(-step / tau_syn)
    return _neuron(
        site,
        ROCKPOOL,
        gain=beta,
        alpha=beta,
        beta=alpha,
        v_leak=site.param("v_leak") / (1.0 - alpha),
        threshold=site.param("v_threshold"),
        spikes="count",
        test=">=",
        reset="subtract",
        max_spikes=2**16,
    )


def rockpool_li_decay(tau, step: float) -> np.ndarray:
    """Rockpool's LI decay per step, exp(-step / int(tau)): 0 where tau truncates to 0 s (nir.py:111)."""
    whole = np.trunc(np.asarray(tau, np.float64))
    return np.where(whole > 0, np.exp(-step / np.where(whole > 0, whole, 1.0)), 0.0)


def _rockpool_li(site: Site) -> list:
    """``ExpSynTorch(tau=int(tau), dt=min(tau/(1+r)))``: ``i = (i + x) exp(-dt/int(tau))``.

    nir.py:108-113: ``int`` truncates seconds.
    """
    tau = site.tau("tau")
    decay = rockpool_li_decay(tau, _rockpool_step(site, tau))
    if np.any(np.trunc(tau) == 0):
        warnings.warn(
            f"node {site.name!r} (LI): Rockpool 3.1 casts tau to whole seconds (nir.py:111), so tau = "
            f"{np.ravel(tau)[0]:.3g} s gives a decay of 0 and an output that is always 0; dialect='rockpool' "
            f"reproduces that",
            stacklevel=6,
        )
    gain = C.channels_last(decay.astype(np.float32))
    return [L.Scale(site.snnx_shape, gain), N.LI(site.snnx_shape, gain)]


def _rockpool_signature(name, node, dt):
    if type(node).__name__ in ("LIF", "CubaLIF", "LI"):
        tau = np.asarray(node.tau_mem if hasattr(node, "tau_mem") else node.tau, np.float64)
        if _close(node.r, tau * np.exp(-dt / tau) / dt, rtol=1e-5):
            return "r = tau exp(-dt/tau) / dt"
    return None


_ROCKPOOL_NONE = "Rockpool has no mapping for it: NotImplementedError 'Cannot convert' (nir.py:153)"

register(
    Dialect(
        "rockpool",
        ROCKPOOL,
        "its own step dt' = min(tau_mem / (1 + r)), exponential decays, w_in and r unread, several spikes "
        "per step with subtractive reset",
        same=_DENSE,
        builds={"CubaLIF": _rockpool_cuba, "LI": _rockpool_li},
        refuses={
            "LIF": "Rockpool's import crashes on it: AttributeError 'LIF' object has no attribute 'tau_mem' "
            "(nir.py:118)",
            **{
                k: _ROCKPOOL_NONE
                for k in (
                    "IF",
                    "I",
                    "Conv1d",
                    "Conv2d",
                    "SumPool2d",
                    "AvgPool2d",
                    "Flatten",
                    "Scale",
                    "Threshold",
                    "Delay",
                    "CubaLI",
                )
            },
        },
        no_dt="Rockpool 3.1 derives its own step, min(tau / (1 + r)), from the file (nir.py:108-136)",
        cycles="Rockpool folds a CubaLIF <-> Affine cycle into a recurrent LIFTorch and drops its bias "
        "(nir.py:72-106), which snnx does not reproduce",
        uses_dt=False,
        signature=_rockpool_signature,
    )
)


# -- Sinabs 3.1.3 (sinabs/nir.py) ---------------------------------------------------------------

SINABS = "Sinabs 3.1.3"


def _sinabs_decay(site: Site) -> np.ndarray:
    return np.exp(-1.0 / site.tau("tau"))  # tau in steps (layers/lif.py:121)


def _sinabs_lif(site: Site) -> list:
    """``LIFSqueeze(norm_input=False)``: ``v = exp(-1/tau) v + x``, ``trunc(v/thr)`` spikes, subtracted.

    nir.py:94-108; ``r`` is not read.
    """
    if not np.allclose(site.param("v_leak"), 0.0):
        raise _refuse(site, "sinabs", "v_leak", "Sinabs refuses a non-zero v_leak (nir.py:97-98)")
    return _neuron(
        site,
        SINABS,
        beta=_sinabs_decay(site),
        threshold=site.param("v_threshold"),
        spikes="count",
        test=">=",
        reset="subtract",
    )


def _sinabs_if(site: Site) -> list:
    """``IAFSqueeze(min_v_mem=-v_threshold)``: ``v = v + x``, spikes as LIF, then ``v >= -thr``.

    nir.py:86-92.
    """
    thr = site.param("v_threshold")
    return _neuron(
        site, SINABS, beta=1.0, threshold=thr, spikes="count", test=">=", reset="subtract", v_min=-thr
    )


def _sinabs_li(site: Site) -> list:
    """``ExpLeakSqueeze(norm_input=False)``: ``v = exp(-1/tau) v + x`` (nir.py:68-84)."""
    if not np.allclose(site.param("r"), 1.0) or not np.allclose(site.param("v_leak"), 0.0):
        raise _refuse(site, "sinabs", "r", "Sinabs refuses an LI with r != 1 or v_leak != 0 (nir.py:73-76)")
    return [N.LI(site.snnx_shape, C.channels_last(_sinabs_decay(site).astype(np.float32)))]


def _sinabs_signature(name, node, dt):
    if type(node).__name__ in ("LIF", "LI"):
        tau = np.asarray(node.tau, np.float64)
        if np.all(np.asarray(node.r) == 1.0) and np.all(tau >= 1.0) and np.all(tau >= 1000 * dt):
            return f"tau = {np.ravel(tau)[0]:.4g} with r = 1: a time constant in steps (nir.py:164-177)"
    return None


_SINABS_NONE = (
    "Sinabs has no mapping for it, and nirtorch skips the node without a word "
    "(nir.py:25-120, nirtorch graph_executor.py:153-154)"
)

register(
    Dialect(
        "sinabs",
        SINABS,
        "tau in steps (decay exp(-1/tau)), r unread, several spikes per step with subtractive reset, "
        "IF clamped at -v_threshold",
        same=("Affine", "Conv2d", "Flatten"),
        builds={
            "LIF": _sinabs_lif,
            "IF": _sinabs_if,
            "LI": _sinabs_li,
            "SumPool2d": _unpadded_pool("sinabs", "Sinabs ignores the padding of SumPool2d (nir.py:109-112)"),
        },
        refuses={
            k: _SINABS_NONE
            for k in (
                "Linear",
                "CubaLIF",
                "CubaLI",
                "I",
                "Scale",
                "Threshold",
                "Delay",
                "AvgPool2d",
                "Conv1d",
            )
        },
        uses_dt=False,
        no_dt="Sinabs 3.1 reads tau as a number of steps (layers/lif.py:121)",
        cycles="how Sinabs runs a cycle was not measured (tests/data/nir-peers); refused rather than guessed",
        signature=_sinabs_signature,
    )
)
