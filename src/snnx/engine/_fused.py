"""Fused time scans with a hand-written backward pass for the leaky family.

The family: ``LIF``, ``LI``, ``IF``, ``RIF`` and ``RLIF`` (``snnx.neurons._leaky``).

Autodiff of ``jax.lax.scan`` over a neuron step accumulates the gradient of
every parameter the body closes over *inside* the reverse loop: for a scalar
or per-unit ``beta`` that is one reduction over the batch per parameter per
step, which on CPU costs more than the elementwise work itself. Here the
backward pass is one reverse ``lax.scan`` that carries only ``dL/dv`` and
computes ``dL/du_t`` (``u_t``: the membrane after integrating, before the
reset), with elementwise work only; parameter gradients are accumulated per
sample and reduced once after the loop, e.g.
``dbeta = sum_t dL/du_t * (v_{t-1} - v_leak)``.

Memory: the only residual is ``u_t`` for every step (one ``(T, B, *shape)``
array); ``v_{t-1}``, the spikes and the reset are recomputed from it. Both
loops update one sequence buffer in place: the forward loop writes ``u_t`` over
its input ``x_t``, the backward loop ``dL/du_t`` over ``u_t``. Every other read
of the buffer comes after the write of the step (or, for ``u_t`` in the
backward loop, from the carry), which is what lets XLA skip the copy. With an
output projection (``w_out``: the ``nnx.Linear`` after the neuron, a small one
such as a readout) the spikes are projected inside the loop and never stored;
the projection's weight gradient is accumulated in the backward loop. Without
these, a training step of ``Linear -> LIF -> Linear -> LI`` holds four
``(T, B, hidden)`` temporaries instead of one, and on CPU every fresh temporary
beyond malloc's mmap threshold (32 MiB) is page-faulted in again on every call.

The forward loop calls the neurons' own step functions
(:func:`snnx.neurons._leaky.leaky_integrate` and ``leaky_fire``), so spikes
are bit-identical to ``__call__``; only the backward pass is written here. The gradients are
those of autodiff of the step (surrogate derivative, ``detach_reset``, reset
modes), up to float rounding. The clip of ``beta`` to [0, 1] stays outside the
kernel, under ordinary autodiff, so its gradient is exactly ``jnp.clip``'s.

Being a ``jax.custom_vjp``, the kernel has reverse-mode derivatives (of any
order) but no forward mode: ``jax.jvp``/``jax.jacfwd`` through ``run`` need
``Options(fused=False)`` or ``engine="step"`` (``run`` says so when it happens).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snnx.neurons._leaky import LeakyConfig, leaky_fire, leaky_integrate


def _reduce_to(g: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sum ``g`` over the axes that broadcasting ``shape`` to ``g.shape`` added or stretched."""
    lead = g.ndim - len(shape)
    out = jnp.sum(g, axis=tuple(range(lead))) if lead else g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if stretched:
        out = jnp.sum(out, axis=stretched, keepdims=True)
    return out.reshape(shape)


def _at(buf: jax.Array, t) -> jax.Array:
    return jax.lax.dynamic_index_in_dim(buf, t, keepdims=False)


def _put(buf: jax.Array, value: jax.Array, t) -> jax.Array:
    return jax.lax.dynamic_update_index_in_dim(buf, value, t, 0)


def _matmul(a: jax.Array, w: jax.Array) -> jax.Array:
    """``a @ w`` over the last axis of ``a`` (as ``nnx.Linear`` computes it)."""
    return jax.lax.dot_general(a, w, (((a.ndim - 1,), (0,)), ((), ())))


def _matmul_t(a: jax.Array, w: jax.Array) -> jax.Array:
    """``a @ w.T`` over the last axis of ``a``."""
    return jax.lax.dot_general(a, w, (((a.ndim - 1,), (1,)), ((), ())))


def _add_last(a: jax.Array, bias: jax.Array) -> jax.Array:
    return a + jnp.reshape(bias, (1,) * (a.ndim - 1) + (-1,))


def leaky_scan(
    cfg: LeakyConfig,
    p: dict,
    xs: jax.Array,
    state: dict,
    *,
    return_states: bool = False,
    x_bias: jax.Array | None = None,
    w_out: jax.Array | None = None,
    b_out: jax.Array | None = None,
):
    """Scan the leaky step ``cfg``/``p`` (:func:`snnx.neurons._leaky.leaky_step`) over ``xs``.

    ``state``: ``{"v"}`` (``{"v", "z"}`` for a recurrent ``cfg``), every array
    of ``xs``'s dtype. ``x_bias`` (the bias of the ``nnx.Linear`` that produced
    ``xs``, left out there) is added to every step's input first: ``x_t +
    x_bias`` is the same value the Linear would have produced, without writing
    and reading ``(T, B, *shape)`` once more. With ``w_out`` (spiking, without
    ``return_states``) the output is ``z_t @ w_out (+ b_out)`` instead of
    ``z_t``: the ``nnx.Linear`` that follows the neuron, applied per step.

    Returns ``(ys, final_state)``, or ``(ys, states)`` (the state after every
    step, stacked on time) with ``return_states``.
    """
    rec, proj, spiking, leak = cfg.recurrent, w_out is not None, cfg.spiking, cfg.leak
    if proj and (not spiking or return_states):  # pragma: no cover - guarded by the planner
        raise ValueError("an output projection needs a spiking neuron and no per-step states")
    dtype = xs.dtype
    P = dict(p)
    optional = {"x_bias": x_bias, "w_out": w_out, "b_out": b_out}
    P.update({k: v for k, v in optional.items() if v is not None})
    for k in ("beta", "v_leak", "threshold", "v_reset"):  # unused ones as zero scalars: one signature
        P.setdefault(k, jnp.zeros((), dtype))
    v0 = state["v"]
    z0 = state["z"] if rec else jnp.zeros((), dtype)
    derivative = cfg.surrogate.derivative if spiking else None

    def fire(u, p):
        """Spikes and the membrane after the reset: the neurons' own step (forward values only)."""
        return leaky_fire(cfg, p, u)

    def project(z, p):
        y = _matmul(z, p["w_out"])
        return _add_last(y, p["b_out"]) if "b_out" in p else y

    def forward(xs, v0, z0, p):
        """The time loop; ``u_t`` is written over ``x_t`` in the buffer the loop carries.

        The old slot feeds only the write; the step's state and spikes are read
        back from the updated buffer. Spikes and per-step states are computed
        from the stacked ``u`` after the loop (the same elementwise operations
        as inside it), unless they are projected inside it.
        """

        def body(carry, t):
            v, z_prev, buf = carry
            x = _at(buf, t)
            if "x_bias" in p:
                x = _add_last(x, p["x_bias"])
            u = leaky_integrate(cfg, p, v, x, z_prev)
            buf = _put(buf, u, t)
            z, v = fire(_at(buf, t), p)
            return (v, z if rec else z_prev, buf), (project(z, p) if proj else None)

        (v_final, z_final, us), projected = jax.lax.scan(body, (v0, z0, xs), jnp.arange(xs.shape[0]))
        if proj:
            ys, vs = projected, None
        else:
            ys, vs = fire(us, p)
        if return_states:
            second = (vs, ys) if rec else vs
        else:
            second = (v_final, z_final) if rec else v_final
        return (ys, second), us

    @jax.custom_vjp
    def kernel(xs, v0, z0, p):
        return forward(xs, v0, z0, p)[0]

    def kernel_fwd(xs, v0, z0, p):
        out, us = forward(xs, v0, z0, p)
        return out, (us, v0, z0, p)

    def kernel_bwd(res, cts):
        us, v0, z0, p = res
        th = p["threshold"]
        gys, g_second = cts
        if rec:
            g_v_state, g_z_state = g_second
        else:
            g_v_state, g_z_state = g_second, None
        zero = jnp.zeros_like(v0)

        def spike_grads(gv, gy, u, z):
            """dL/du, and the per-sample contributions to dL/dthreshold and dL/dv_reset."""
            if not spiking:
                return gv + gy, None, None
            d = derivative(u - th).astype(dtype)
            if cfg.reset == "zero":
                gu = gv * (1.0 - z)
                gz = gy if cfg.detach_reset else gy + gv * (p["v_reset"] - u)
                return gu + gz * d, -(gz * d), gv * z
            if cfg.reset == "subtract":
                gz = gy if cfg.detach_reset else gy - gv * th
                return gv + gz * d, -(gz * d) - gv * z, None
            return gv + gy * d, -(gy * d), None

        # Reverse loop: elementwise work, plus the per-step matmuls of the recurrence
        # (dL/dz_prev = dL/du @ W^T) and of the projection (dL/dz = dL/dy @ W_out^T, and its
        # weight gradient z^T dL/dy). Per-sample accumulators (elementwise adds into (B, *shape)
        # carries) are reduced once after the loop; XLA drops those nobody differentiates.
        # u_t arrives in the carry (read from the buffer one step earlier, or before the loop);
        # dL/du_t is written over it, and u_{t-1} is then read from the updated buffer.
        def body(carry, inp):
            gv, gz_next, acc, u, buf = carry
            t, gy, extra = inp[0], inp[1], inp[2:]
            if rec:  # z_t from the spikes computed before the loop (the same values as fire(u_t))
                z, extra = extra[-1], extra[:-1]
            else:
                z = fire(u, p)[0] if spiking else None
            if proj:
                acc = {**acc, "w_out": acc["w_out"] + jax.lax.dot_general(z, gy, (((0,), (0,)), ((), ())))}
                gy = _matmul_t(gy, p["w_out"])
            if return_states:
                gv = gv + extra[0]
                if rec:
                    gy = gy + extra[1]
            if rec:
                gy = gy + gz_next
            gu, g_th_t, g_vr_t = spike_grads(gv, gy, u, z)
            buf = _put(buf, gu, t)
            gu = _at(buf, t)  # read back: the consumers below share the stored value
            u_prev = _at(buf, jnp.maximum(t - 1, 0))
            v_prev = jnp.where(t == 0, v0, fire(u_prev, p)[1])
            acc = {
                **acc,
                "beta": acc["beta"] + gu * (v_prev - p["v_leak"]),
                "v_leak": acc["v_leak"] + gu * (1.0 - p["beta"]),
                "threshold": acc["threshold"] + g_th_t if g_th_t is not None else acc["threshold"],
                "v_reset": acc["v_reset"] + g_vr_t if g_vr_t is not None else acc["v_reset"],
            }
            gz_prev = _matmul_t(gu, p["w_rec"]) if rec else gz_next
            return ((p["beta"] * gu if leak else gu), gz_prev, acc, u_prev, buf), None

        steps = jnp.arange(us.shape[0])
        acc0 = {"beta": zero, "v_leak": zero, "threshold": zero, "v_reset": zero}
        if proj:
            acc0["w_out"] = jnp.zeros_like(p["w_out"])
        seq = (steps, gys)
        if return_states:
            seq += (g_v_state,) + ((g_z_state,) if rec else ())
            gv_init, gz_init = zero, (zero if rec else jnp.zeros((), dtype))
        else:
            gv_init, gz_init = g_v_state, (g_z_state if rec else jnp.zeros((), dtype))
        if rec:  # every step's spikes, for the recurrent weight gradient after the loop
            zs = fire(us, p)[0]
            seq += (zs,)  # read by the loop, hence computed before the loop overwrites ``us``
        init = (gv_init, gz_init, acc0, _at(us, us.shape[0] - 1), us)
        (gv0, gz0, acc, _, gus), _ = jax.lax.scan(body, init, seq, reverse=True)
        g = {
            "beta": _reduce_to(acc["beta"], p["beta"].shape) if leak else jnp.zeros_like(p["beta"]),
            "v_leak": _reduce_to(acc["v_leak"], p["v_leak"].shape) if leak else jnp.zeros_like(p["v_leak"]),
            "threshold": _reduce_to(acc["threshold"], th.shape) if spiking else jnp.zeros_like(th),
            "v_reset": (
                _reduce_to(acc["v_reset"], p["v_reset"].shape)
                if spiking and cfg.reset == "zero"
                else jnp.zeros_like(p["v_reset"])
            ),
        }
        if rec:
            # dW = sum_t z_{t-1}^T dL/du_t: one GEMM over all T * B rows instead of one per step.
            z_prev = jnp.concatenate([z0[None], zs[:-1]], axis=0)
            n = us.shape[-1]
            g["w_rec"] = jax.lax.dot_general(
                z_prev.reshape(-1, n), gus.reshape(-1, n), (((0,), (0,)), ((), ()))
            )
            if "b_rec" in p:
                g["b_rec"] = _reduce_to(gus, p["b_rec"].shape)
        if "x_bias" in p:
            g["x_bias"] = _reduce_to(gus, p["x_bias"].shape)
        if proj:
            g["w_out"] = acc["w_out"]
            if "b_out" in p:
                g["b_out"] = _reduce_to(gys, p["b_out"].shape)
        g_z0 = gz0 if rec else jnp.zeros_like(z0)
        g = {k: v.astype(p[k].dtype) for k, v in g.items()}  # parameters may be of a narrower dtype
        return gus, gv0.astype(v0.dtype), g_z0.astype(z0.dtype), g

    kernel.defvjp(kernel_fwd, kernel_bwd)
    ys, second = kernel(xs, v0, z0, P)
    if rec:
        return ys, {"v": second[0], "z": second[1]}
    return ys, {"v": second}


def fused_scan(layer, xs: jax.Array, state: dict, *, return_states: bool, x_bias=None, out=None):
    """Run leaky neuron ``layer`` over ``xs`` with :func:`leaky_scan` (the planner checked it applies).

    ``x_bias``: see :func:`leaky_scan`. ``out``: the plain ``nnx.Linear`` applied
    to the spikes inside the loop (the layer after the neuron); the result is
    then that layer's output. Returns ``(ys, final_state)`` or, with
    ``return_states``, ``(ys, states)``.
    """
    layer._check_step(xs[0], state)
    cfg, p = layer.leaky()
    proj = {}
    if out is not None:
        proj = {"w_out": out.kernel[...], "b_out": out.bias[...] if out.use_bias else None}
    return leaky_scan(cfg, p, xs, state, return_states=return_states, x_bias=x_bias, **proj)
