"""Which weights to quantise, and how: :class:`Rule`, the presets, and the weights a model offers.

A weight is addressed by the key of the layer that owns it, as
``snnx.engine.layer_keys`` names layers (``"0"``, ``"2.1"``, a ``Graph`` node
name, a NIR node name), and by the op that uses it:

* ``"dense"``: the kernel of an ``nnx.Linear`` (key: the layer's key);
* ``"conv"``: the kernel of an ``nnx.Conv`` (key: the layer's key);
* ``"recurrent"``: the kernel of a recurrent neuron's ``recurrent`` ``nnx.Linear``
  (``RLIF``, ``RIF``, ``RCuBaLIF``; key: ``"<neuron key>.recurrent"``).

Biases and neuron parameters stay in float: a bias is added once per step to a
sum of many weights, so its bits cost little and save little.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

import jax.numpy as jnp
from flax import nnx

from snnx import _checks

OPS = ("dense", "conv", "recurrent")
# qtype -> (storage bits, what it is); qwix computes every one but "ternary" (snnx's own absmean rule)
QTYPES = {
    "int8": (8, "8-bit integers, symmetric"),
    "int7": (7, "7-bit integers, symmetric"),
    "int6": (6, "6-bit integers, symmetric"),
    "int5": (5, "5-bit integers, symmetric"),
    "int4": (4, "4-bit integers, symmetric"),
    "int3": (3, "3-bit integers, symmetric"),
    "int2": (2, "2-bit integers {-2, -1, 0, 1} (qwix's symmetric int2)"),
    "ternary": (2, "{-1, 0, +1} times a per-channel scale, the mean |w| (BitNet b1.58)"),
    "fp8": (8, "float8_e4m3fn"),
    "fp8_e5m2": (8, "float8_e5m2"),
    "nf4": (4, "4-bit NormalFloat levels (non-uniform)"),
}
# calibration methods snnx runs itself; the others are qwix's own strings ("absmax,0.9", "minmax", "rms,3")
OWN_CALIBRATIONS = ("mse", "gptq")
QWIX_CALIBRATIONS = ("absmax", "minmax", "rms", "fixed")
ASYMMETRIC_QTYPES = ("int8", "int4")  # the qtypes qwix's "minmax" (zero point) supports


def jax_qtype(qtype: str):
    """What qwix takes for ``qtype``: a JAX dtype for built-in types, the name for its synthetic ones."""
    return {
        "int8": jnp.int8,
        "int4": jnp.int4,
        "fp8": jnp.float8_e4m3fn,
        "fp8_e5m2": jnp.float8_e5m2,
        "ternary": "int2",
    }.get(qtype, qtype)


@dataclasses.dataclass(frozen=True)
class Rule:
    """Quantise the weights whose key matches ``path`` and whose op is in ``ops``.

    Args:
        qtype: one of ``snnx.quant.QTYPES``: ``"int8"``, ``"int4"`` (and
            ``"int2"``...``"int7"``), ``"ternary"``, ``"fp8"``, ``"fp8_e5m2"``, ``"nf4"``.
        path: a regular expression matched in full against the weight's key
            (see :func:`snnx.quant.targets`); ``".*"`` takes every weight.
        ops: which ops the rule covers: ``"dense"``, ``"conv"``, ``"recurrent"``.
        per_channel: one scale per output channel (the last axis of the kernel);
            ``False``: one scale for the whole tensor.
        calibration: how the scale (and the rounding) is chosen:

            * ``"absmax"``: the largest |w| maps to the largest level (qwix);
            * ``"mse"``: per scale, the clipping ratio in [0.5, 1] that minimises
              the squared weight error (a grid of 51 ratios; snnx);
            * ``"gptq"``: GPTQ rounding, which minimises the error of the layer's
              output on calibration data (qwix's ``contrib.gptq_core``; dense and
              recurrent weights; needs ``data=``);
            * any other qwix calibration string, e.g. ``"absmax,0.9"``, ``"minmax"``
              (asymmetric, with a zero point; int8 and int4), ``"rms,3"``.

            ``"ternary"`` always uses its own rule (the mean |w|).
        tile_size: sub-channel scales: one per ``tile_size`` entries along the
            input axis (qwix's ``tiled_axes``); ``None``: whole channels.

    Example:
        >>> rule = Rule("int4", path="0", calibration="mse")   # the first layer only
        >>> rule.bits
        4
    """

    qtype: str = "int8"
    path: str = ".*"
    ops: tuple[str, ...] = OPS
    per_channel: bool = True
    calibration: str = "absmax"
    tile_size: int | None = None

    def __post_init__(self):
        if not isinstance(self.qtype, str) or self.qtype not in QTYPES:
            raise _checks.OptionError(
                f"`qtype` must be one of {list(QTYPES)} (what snnx.quant computes through qwix), "
                f"got {self.qtype!r}"
            )
        _checks.instance_of("path", self.path, str, "a regular expression (str)")
        try:
            re.compile(self.path)
        except re.error as err:
            raise _checks.OptionError(f"`path` {self.path!r} is not a regular expression: {err}") from None
        ops = (self.ops,) if isinstance(self.ops, str) else tuple(self.ops)
        bad = [op for op in ops if op not in OPS]
        if bad or not ops:
            raise _checks.OptionError(f"`ops` must name some of {list(OPS)}, got {list(ops)}")
        object.__setattr__(self, "ops", ops)
        _checks.instance_of("per_channel", self.per_channel, bool, "a bool")
        _checks.instance_of("calibration", self.calibration, str, "a calibration name (str)")
        method = self.calibration.split(",")[0].strip().lower()
        if method not in (*QWIX_CALIBRATIONS, *OWN_CALIBRATIONS):
            raise _checks.OptionError(
                f"`calibration` must be one of {[*QWIX_CALIBRATIONS[:2], *OWN_CALIBRATIONS]} or a qwix "
                f"calibration string such as 'absmax,0.9' or 'rms,3', got {self.calibration!r}"
            )
        if method == "minmax" and self.qtype not in ASYMMETRIC_QTYPES:
            raise _checks.OptionError(
                f"`calibration`='minmax' (asymmetric, with a zero point) works with qtype "
                f"{list(ASYMMETRIC_QTYPES)}, got qtype {self.qtype!r}"
            )
        if self.tile_size is not None:
            _checks.positive_int("tile_size", self.tile_size)

    @property
    def bits(self) -> int:
        """Bits stored per weight."""
        return QTYPES[self.qtype][0]

    @property
    def method(self) -> str:
        """The calibration method's name (``"absmax"`` for ``"absmax,0.9"``)."""
        return self.calibration.split(",")[0].strip().lower()

    def describe(self) -> dict:
        """Plain values (NIR metadata, ``config.json``)."""
        return {
            "qtype": self.qtype,
            "per_channel": self.per_channel,
            "calibration": self.calibration,
            "tile_size": -1 if self.tile_size is None else int(self.tile_size),
        }

    @classmethod
    def from_qwix(cls, rule) -> Rule:
        """The snnx rule for a ``qwix.QtRule``/``qwix.QuantizationRule`` (weights only).

        ``module_path`` becomes ``path``, ``weight_qtype`` the qtype,
        ``weight_calibration_method`` the calibration and ``tile_size`` the
        tiles; ``op_names`` (``dot_general``, ``einsum``, ``conv_general_dilated``)
        select the ops. Activation quantisation (``act_qtype``) is refused: the
        activations between spiking layers are binary spikes already.
        """
        if getattr(rule, "act_qtype", None) is not None:
            raise _checks.OptionError(
                f"qwix rule for {rule.module_path!r} sets act_qtype={rule.act_qtype!r}: snnx.quant quantises "
                f"weights (the activations between spiking layers are binary spikes); drop act_qtype"
            )
        if rule.weight_qtype is None:
            raise _checks.OptionError(f"qwix rule for {rule.module_path!r} has no weight_qtype")
        names = {
            jnp.dtype(jnp.int8): "int8",
            jnp.dtype(jnp.int4): "int4",
            jnp.dtype(jnp.float8_e4m3fn): "fp8",
            jnp.dtype(jnp.float8_e5m2): "fp8_e5m2",
        }
        qtype = rule.weight_qtype
        if not isinstance(qtype, str):
            qtype = names.get(jnp.dtype(qtype), str(qtype))
        ops = set()
        for op in rule.op_names or ("dot_general", "conv_general_dilated"):
            ops.update({"dot_general": ("dense", "recurrent"), "einsum": ("dense", "recurrent")}.get(op, ()))
            if op.startswith("conv"):
                ops.add("conv")
        tile = rule.tile_size
        return cls(
            qtype,
            path=rule.module_path,
            ops=tuple(op for op in OPS if op in ops) or OPS,
            calibration=rule.weight_calibration_method,
            tile_size=None if tile is None else int(tile),
        )


@dataclasses.dataclass(frozen=True)
class Target:
    """One quantisable weight: its key, op, the module that holds it, and the rule that applies."""

    key: str
    op: str
    module: nnx.Module
    rule: Rule | None = None


def targets(model) -> list[Target]:
    """Every weight ``snnx.quant`` can quantise in ``model``, in model order (no rule applied).

    Example:
        >>> m = Sequential(nnx.Linear(4, 8, rngs=nnx.Rngs(0)), RLIF(8, rngs=nnx.Rngs(1)))
        >>> [(t.key, t.op) for t in targets(m)]
        [('0', 'dense'), ('1.recurrent', 'recurrent')]
    """
    from snnx.engine._record import catalogue

    out: list[Target] = []
    seen: set[int] = set()

    def add(key, op, module):
        if id(module) not in seen:
            seen.add(id(module))
            out.append(Target(key, op, module))

    for entry in catalogue(model):
        if not entry.leaf:
            continue
        _collect(entry.layer, entry.key, add)
    return out


def _collect(layer, key: str, add) -> None:
    if isinstance(layer, nnx.Linear):
        add(key, "dense", layer)
        return
    if isinstance(layer, nnx.Conv):
        add(key, "conv", layer)
        return
    for path, sub in nnx.iter_modules(layer) if isinstance(layer, nnx.Module) else ():
        if sub is layer or not isinstance(sub, (nnx.Linear, nnx.Conv)):
            continue
        name = ".".join(map(str, path))
        op = "conv" if isinstance(sub, nnx.Conv) else ("recurrent" if name == "recurrent" else "dense")
        add(f"{key}.{name}", op, sub)


def as_rules(rules) -> tuple[Rule, ...]:
    """``rules`` as a tuple of :class:`Rule`: a qtype name, a Rule, a qwix rule, or a sequence of them."""
    if isinstance(rules, str):
        return (Rule(rules),)
    if isinstance(rules, Rule):
        return (rules,)
    if _is_qwix_rule(rules):
        return (Rule.from_qwix(rules),)
    if isinstance(rules, Sequence) and rules:
        out = []
        for item in rules:
            if isinstance(item, str):
                out.append(Rule(item))
            elif isinstance(item, Rule):
                out.append(item)
            elif _is_qwix_rule(item):
                out.append(Rule.from_qwix(item))
            else:
                raise _checks.ArgumentTypeError(
                    f"`rules` entries must be a qtype name, snnx.quant.Rule or qwix.QtRule, got "
                    f"{type(item).__name__}"
                )
        return tuple(out)
    raise _checks.ArgumentTypeError(
        f"`rules` must be a qtype name (one of {list(QTYPES)}), a snnx.quant.Rule, a qwix.QtRule or a "
        f"non-empty list of them, got {rules!r}"
    )


def _is_qwix_rule(obj) -> bool:
    return all(hasattr(obj, a) for a in ("module_path", "weight_qtype", "act_qtype", "op_names"))


def assign(model, rules: Iterable[Rule]) -> list[Target]:
    """The targets each rule takes (the first rule that matches a weight wins).

    A rule that matches no weight is an error that lists the weights: a typo
    in ``path`` must not leave a model silently in float.
    """
    rules = tuple(rules)
    found = targets(model)
    if not found:
        raise _checks.OptionError(
            f"{type(model).__name__} has no weight snnx.quant can quantise (the kernels of nnx.Linear, "
            f"nnx.Conv and recurrent neurons)"
        )
    used = [False] * len(rules)
    chosen = []
    for t in found:
        for i, rule in enumerate(rules):
            if t.op in rule.ops and re.fullmatch(rule.path, t.key):
                used[i] = True
                chosen.append(dataclasses.replace(t, rule=rule))
                break
    for i, rule in enumerate(rules):
        if not used[i]:
            listing = ", ".join(f"{t.key!r} ({t.op})" for t in found)
            raise _checks.OptionError(
                f"rule {i} (path={rule.path!r}, ops={list(rule.ops)}) matches no weight; the weights are: "
                f"{listing}"
            )
    return chosen
