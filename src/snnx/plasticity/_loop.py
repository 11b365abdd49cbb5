"""``train_stdp``: step a ``nnx.Linear`` and a spiking neuron over time while a rule updates the kernel."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from snnx import _checks
from snnx.plasticity import _common
from snnx.plasticity._rstdp import RSTDP
from snnx.plasticity._stdp import STDP

UPDATES = ("step", "end")


def train_stdp(
    layer: nnx.Linear, neuron, rule: STDP | RSTDP, x, *, reward=None, update: str = "step"
) -> tuple[jax.Array, jax.Array]:
    r"""Run ``layer -> neuron`` over the time axis of ``x`` and let ``rule`` update ``layer.kernel``.

    One ``jax.lax.scan`` over time; per step ``t``::

        z_t, v = neuron(x_t @ K + b, v)                   # the neuron's one-step contract
        rule_state, dw = rule.step(rule_state, x_t, z_t, K [, reward_t])
        K = K + dw                                        (update="step": online, every step)

    With ``update="end"`` the kernel stays fixed during ``x`` and changes once afterwards by
    ``rule.from_recording(x, z, K [, reward])`` (a trial-based update; the spikes are then those of
    ``snnx.run(snnx.Sequential(layer, neuron), x)``). Traces, eligibility and the neuron's state
    start at zero at every call, so one call is one trial (or a batch of trials run side by side,
    sharing the kernel). The new kernel is written to ``layer.kernel``; ``layer.bias`` is read,
    never learnt.

    Works under ``nnx.jit`` (pass the modules as arguments; rules are static pytrees, so
    ``rule`` may be an argument too). Looping over samples or batches is the caller's: e.g. an
    ``nnx.jit``-compiled function that calls ``train_stdp`` once per batch.

    Args:
        layer: the plastic ``nnx.Linear`` with kernel ``(n_pre, n_post)``.
        neuron: a spiking neuron of per-sample shape ``(n_post,)`` (``snnx.LIF`` etc.; built here if
            it has no shape yet) following the one-step contract ``neuron(x_t, state) -> (z_t, state)``.
        rule: :class:`STDP` or :class:`RSTDP`.
        x: presynaptic spikes of shape ``(T, B, n_pre)``.
        reward: for :class:`RSTDP` only (and required there): the reward at every step, ``(T,)`` or
            ``(T, B)``.
        update: ``"step"`` (online) or ``"end"`` (once, after the whole of ``x``).

    Returns:
        ``(spikes, dw)``: the neuron's output ``(T, B, n_post)`` and the total change of the kernel
        ``(n_pre, n_post)`` (new kernel minus old).

    Example:
        >>> layer, lif = nnx.Linear(64, 10, rngs=nnx.Rngs(0)), snnx.LIF(10, beta=0.9, inhibition=True)
        >>> rule = STDP(a_plus=0.01, a_minus=0.01, w_min=0.0, w_max=1.0)
        >>> x = (jax.random.uniform(jax.random.key(0), (25, 8, 64)) < 0.3).astype(jnp.float32)
        >>> spikes, dw = nnx.jit(train_stdp)(layer, lif, rule, x)   # layer.kernel += dw happened
    """
    if not isinstance(layer, nnx.Linear):
        raise _checks.ArgumentTypeError(f"`layer` must be a flax.nnx.Linear, got {type(layer).__name__}")
    if not isinstance(rule, (STDP, RSTDP)):
        raise _checks.ArgumentTypeError(
            f"`rule` must be snnx.plasticity.STDP or RSTDP, got {type(rule).__name__}"
        )
    _checks.one_of("update", update, UPDATES)
    if not (hasattr(neuron, "init_state") and callable(neuron)):
        raise _checks.ArgumentTypeError(
            f"`neuron` must follow the neuron contract (init_state and __call__(x, state)), "
            f"got {type(neuron).__name__}"
        )
    k0 = layer.kernel[...]
    n_pre, n_post = k0.shape
    if getattr(neuron, "shape", None) is None and hasattr(neuron, "build"):
        neuron.build((n_post,))
    if tuple(getattr(neuron, "shape", ())) != (n_post,):
        raise _checks.ShapeError(
            f"`neuron` must have shape ({n_post},) to take the output of `layer` (kernel {tuple(k0.shape)}), "
            f"got {getattr(neuron, 'shape', None)}"
        )
    x = _common.check_spikes("x", x, k0, side="pre", lead="T, B")
    t, b = x.shape[:2]
    rewarded = isinstance(rule, RSTDP)
    if rewarded and reward is None:
        raise ValueError("`reward` is required with an RSTDP rule: an array of shape (T,) or (T, B)")
    if not rewarded and reward is not None:
        raise ValueError("`reward` is for RSTDP only; an STDP rule takes no reward (pass reward=None)")
    r = _rewards(reward, t, b) if rewarded else jnp.zeros((t, b), k0.dtype)
    bias = layer.bias[...] if layer.bias is not None else jnp.zeros((n_post,), k0.dtype)
    online = update == "step"

    def body(carry, inputs):
        k, neuron_state, rule_state = carry
        s_t, r_t = inputs
        z, neuron_state = neuron(s_t @ k + bias, neuron_state)
        if online:
            args = (rule_state, s_t, z, k, r_t) if rewarded else (rule_state, s_t, z, k)
            rule_state, dw = rule.step(*args)
            k = k + dw
        return (k, neuron_state, rule_state), z

    rule_state = rule.init_state(b, n_pre, n_post) if online else {}
    (k, _, _), spikes = jax.lax.scan(body, (k0, neuron.init_state(b), rule_state), (x, r))
    if not online:
        dw = rule.from_recording(x, spikes, k0, r) if rewarded else rule.from_recording(x, spikes, k0)
        k = k0 + dw
    layer.kernel[...] = k
    return spikes, k - k0


def _rewards(reward, t: int, b: int) -> jax.Array:
    r = jnp.asarray(reward, jnp.float32)
    if r.shape not in ((t,), (t, b)):
        raise _checks.ShapeError(
            f"`reward` must have shape (T,) = {(t,)} or (T, B) = {(t, b)}, got {tuple(r.shape)}"
        )
    return jnp.broadcast_to(r[:, None] if r.ndim == 1 else r, (t, b))
