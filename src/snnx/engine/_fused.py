"""Fused time scans with a hand-written backward pass for the LIF family (``LIF``, ``LI``, ``IF``).

Autodiff of ``jax.lax.scan`` over a neuron step accumulates the gradient of
every parameter the body closes over *inside* the reverse loop: for a scalar
or per-unit ``beta`` that is one reduction over the batch per parameter per
step, which on CPU costs more than the elementwise work itself. Here the
backward pass is one reverse ``lax.scan`` that carries only ``dL/dv`` and emits
``dL/du_t`` (``u_t``: the membrane after integrating, before the reset), with
elementwise work only; every parameter gradient is computed after the loop as
one vectorised reduction over all ``T * B`` samples, e.g.
``dbeta = sum_t dL/du_t * (v_{t-1} - v_leak)``.

The forward values are computed with the same operations, in the same order,
as the neurons' ``__call__`` (spikes are bit-identical); the gradients are
those of autodiff of the step (surrogate derivative, ``detach_reset``, reset
modes), up to float rounding. The clip of ``beta`` to [0, 1] stays outside the
kernel, under ordinary autodiff, so its gradient is exactly ``jnp.clip``'s.

Residuals: ``u_t`` for every step (one ``(T, B, *shape)`` array); ``v_{t-1}``,
the spikes and the reset are recomputed from it.

Being a ``jax.custom_vjp``, the kernel has reverse-mode derivatives (of any
order) but no forward mode: ``jax.jvp``/``jax.jacfwd`` through ``run`` need
``engine="step"`` (or ``_layerwise.FUSED_NEURONS = False``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_RESETS = ("zero", "subtract", "none")


def _reduce_to(g: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sum ``g`` over the axes that broadcasting ``shape`` to ``g.shape`` added or stretched."""
    lead = g.ndim - len(shape)
    out = jnp.sum(g, axis=tuple(range(lead))) if lead else g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if stretched:
        out = jnp.sum(out, axis=stretched, keepdims=True)
    return out.reshape(shape)


def leaky_scan(
    xs: jax.Array,
    v0: jax.Array,
    beta,
    v_leak,
    threshold,
    v_reset,
    *,
    leak: bool,
    spiking: bool,
    reset: str = "zero",
    detach_reset: bool = True,
    derivative=None,
    return_states: bool = False,
    z0: jax.Array | None = None,
    w_rec: jax.Array | None = None,
    b_rec: jax.Array | None = None,
    x_bias: jax.Array | None = None,
):
    """Scan ``u = beta * v + (1 - beta) * v_leak + x`` (``u = v + x`` without ``leak``) over time.

    With ``spiking``: ``z = H(u - threshold)``, reset ``reset`` (``v_reset`` for
    ``"zero"``), output ``z``; without: output ``u`` (the LI readout). ``beta``
    must already be clipped. Unused parameters may be given as ``0.0``. With
    ``w_rec`` (and ``z0``, the previous spikes; ``b_rec`` an optional bias), the
    recurrent term ``z_prev @ w_rec (+ b_rec)`` is added to ``u`` after ``x``
    (``RLIF``); the state is then ``(v, z)``. ``x_bias`` (the bias of the ``nnx.Linear``
    that produced ``xs``, left out there) is added to every step's input first:
    ``x_t + x_bias`` is the same value the Linear would have produced, without
    writing and reading ``(T, B, *shape)`` once more.

    Returns ``(ys, v_final)``, or ``(ys, vs)`` (the state after every step) with
    ``return_states``; with ``w_rec`` the second item is ``(v, z)``.
    """
    if reset not in _RESETS:  # pragma: no cover - checked by the neurons
        raise ValueError(f"unknown reset {reset!r}")
    dtype = xs.dtype
    params = tuple(jnp.asarray(p, dtype) for p in (beta, v_leak, threshold, v_reset))
    rec = w_rec is not None
    if rec:
        params += (w_rec, jnp.zeros((), dtype) if b_rec is None else b_rec)
    else:
        z0 = jnp.zeros((), dtype)
    dims = (((v0.ndim - 1,), (0,)), ((), ()))
    has_bias = x_bias is not None
    params += (jnp.zeros((), dtype) if x_bias is None else x_bias,)

    def recurrent(z, w, bias):
        y = jax.lax.dot_general(z, w, dims)
        if b_rec is not None:
            y += jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        return y

    def integrate(v, x, b, vl):
        if leak:
            return b * v + (1.0 - b) * vl + x
        return v + x

    def fire(u, th, vr):
        """Spikes and the membrane after the reset, from ``u``; forward values only."""
        if not spiking:
            return u, u
        z = (u - th > 0).astype(dtype)
        if reset == "zero":
            return z, u * (1.0 - z) + z * vr
        if reset == "subtract":
            return z, u - z * th
        return z, u

    def forward(xs, v0, z0, params, keep_u: bool):
        """The time loop. ``u_t`` is written over the input ``x_t`` in the buffer the loop carries.

        Once step ``t``'s input is read, its slot receives ``u_t``; everything
        else the step needs (the new state, the spikes for the recurrence) is
        read back from the updated buffer, so the only read of the old slot
        feeds the write. XLA then updates the buffer in place (when nothing
        else reads ``xs`` afterwards; in ``run`` it is a matmul's fresh result)
        instead of copying it every step: no zero-initialised output array and
        one ``(T, B, *shape)`` temporary less. Spikes and per-step states are
        computed from the stacked ``u`` after the loop, with the same
        elementwise operations as inside it.
        """
        b, vl, th, vr = params[:4]

        def body(carry, t):
            v, z_prev, buf = carry
            x = jax.lax.dynamic_index_in_dim(buf, t, keepdims=False)
            if has_bias:
                x = x + jnp.reshape(params[-1], (1,) * (x.ndim - 1) + (-1,))
            u = integrate(v, x, b, vl)
            if rec:
                u = u + recurrent(z_prev, *params[4:6])
            buf = jax.lax.dynamic_update_index_in_dim(buf, u, t, 0)
            z, v = fire(jax.lax.dynamic_index_in_dim(buf, t, keepdims=False), th, vr)
            return (v, z if rec else z_prev, buf), None

        steps = jnp.arange(xs.shape[0])
        (v_final, z_final, us), _ = jax.lax.scan(body, (v0, z0, xs), steps)
        ys, vs = fire(us, th, vr)
        if return_states:
            second = (vs, ys) if rec else vs
        else:
            second = (v_final, z_final) if rec else v_final
        return (ys, second), us

    @jax.custom_vjp
    def kernel(xs, v0, z0, params):
        return forward(xs, v0, z0, params, keep_u=False)[0]

    def kernel_fwd(xs, v0, z0, params):
        out, us = forward(xs, v0, z0, params, keep_u=True)
        return out, (us, out[0], v0, z0, params)

    def kernel_bwd(res, cts):
        us, ys, v0, z0, params = res
        b, vl, th, vr = params[:4]
        gys, g_second = cts
        if rec:
            g_v_state, g_z_state = g_second
        else:
            g_v_state, g_z_state = g_second, None
        zero = jnp.zeros_like(v0)

        def spike_grads(gv, gy, u):
            """dL/du, and the per-sample contributions to dL/dthreshold and dL/dv_reset."""
            if not spiking:
                gu = gv + gy
                return gu, None, None
            d = derivative(u - th).astype(dtype)
            z = (u - th > 0).astype(dtype)
            if reset == "zero":
                gu = gv * (1.0 - z)
                gz = gy if detach_reset else gy + gv * (vr - u)
                return gu + gz * d, -(gz * d), gv * z
            if reset == "subtract":
                gz = gy if detach_reset else gy - gv * th
                return gv + gz * d, -(gz * d) - gv * z, None
            return gv + gy * d, -(gy * d), None

        # Reverse loop: elementwise work (and, with recurrence, the one matmul dL/dz_prev = dL/du @ W^T).
        # The parameter gradients are accumulated per sample (elementwise adds into (B, *shape)
        # carries, no reduction inside the loop) and reduced once after it; XLA drops the
        # accumulators of parameters nobody differentiates.
        # dL/du_t is written over dL/dy_t in the incoming cotangent's buffer, in place as in the
        # forward loop: the slot's old value feeds only the write, everything else reads dL/du_t
        # back. The threshold gradient, the one other user of dL/dy_t, is affine in it, so its
        # dL/dy_t part is summed over time before the loop (and handed to the loop, which orders
        # that read before the first write).
        gy_free = 0.0  # stands for the part of dL/dy that does not come from ``gys``

        def body(carry, inp):
            gv, gz_next, acc, g_buf = carry
            t = inp[0]
            gy_extra = gy_free
            if return_states:
                gv = gv + inp[1]
                if rec:
                    gy_extra = inp[2]
            if rec:
                gy_extra = gy_extra + gz_next
            u = us[t]
            gu = spike_grads(gv, jax.lax.dynamic_index_in_dim(g_buf, t, keepdims=False) + gy_extra, u)[0]
            g_buf = jax.lax.dynamic_update_index_in_dim(g_buf, gu, t, 0)
            gu = jax.lax.dynamic_index_in_dim(g_buf, t, keepdims=False)
            _, g_th_t, g_vr_t = spike_grads(gv, gy_extra, u)
            v_prev = jnp.where(t == 0, v0, fire(us[jnp.maximum(t - 1, 0)], th, vr)[1])
            acc = (
                acc[0] + gu * (v_prev - vl),
                acc[1] + gu * (1.0 - b),
                acc[2] + g_th_t if g_th_t is not None else acc[2],
                acc[3] + g_vr_t if g_vr_t is not None else acc[3],
            )
            gz_prev = (
                jax.lax.dot_general(gu, params[4], (((gu.ndim - 1,), (1,)), ((), ()))) if rec else gz_next
            )
            return ((b * gu if leak else gu), gz_prev, acc, g_buf), None

        steps = jnp.arange(us.shape[0])
        g_th0 = zero
        if spiking:  # the dL/dy part of the threshold gradient: -sum_t dL/dy_t * H'(u_t - threshold)
            g_th0 = -jnp.sum(gys * derivative(us - th).astype(dtype), axis=0)
        acc0 = (zero, zero, g_th0, zero)
        if return_states:
            seq = (steps, g_v_state) + ((g_z_state,) if rec else ())
            init = (zero, zero if rec else jnp.zeros((), dtype), acc0, gys)
        else:
            seq = (steps,)
            init = (g_v_state, g_z_state if rec else jnp.zeros((), dtype), acc0, gys)
        (gv0, gz0, acc, gus), _ = jax.lax.scan(body, init, seq, reverse=True)
        g_b = _reduce_to(acc[0], b.shape) if leak else jnp.zeros_like(b)
        g_vl = _reduce_to(acc[1], vl.shape) if leak else jnp.zeros_like(vl)
        g_th = _reduce_to(acc[2], th.shape) if spiking else jnp.zeros_like(th)
        g_vr = _reduce_to(acc[3], vr.shape) if spiking and reset == "zero" else jnp.zeros_like(vr)
        g_params = (g_b, g_vl, g_th, g_vr)
        if rec:
            # dW = sum_t z_{t-1}^T dL/du_t: one GEMM over all T * B rows instead of one per step.
            z_prev = jnp.concatenate([z0[None], ys[:-1]], axis=0)
            n = us.shape[-1]
            g_w = jax.lax.dot_general(z_prev.reshape(-1, n), gus.reshape(-1, n), (((0,), (0,)), ((), ())))
            g_bias = _reduce_to(gus, params[5].shape) if b_rec is not None else jnp.zeros_like(params[5])
            g_params += (g_w, g_bias)
        g_params += (_reduce_to(gus, params[-1].shape) if has_bias else jnp.zeros_like(params[-1]),)
        if not rec:
            gz0 = jnp.zeros_like(z0)
        return gus, gv0, gz0, g_params

    kernel.defvjp(kernel_fwd, kernel_bwd)
    return kernel(xs, v0, z0, params)


def fused_types() -> tuple[type, ...]:
    """The neuron types :func:`fused_neuron_scan` covers (matched exactly: a subclass may change the step)."""
    from snnx.neurons import IF, LI, LIF, RLIF

    return (LIF, LI, IF, RLIF)


def plain_linear(module) -> bool:
    """``module`` is an ``nnx.Linear`` that computes ``dot_general(z, kernel) (+ bias)`` in float32."""
    from flax import nnx

    return (
        type(module) is nnx.Linear
        and module.dtype is None
        and module.param_dtype == jnp.float32
        and module.precision is None
        and module.preferred_element_type is None
        and module.dot_general is jax.lax.dot_general
        and getattr(module, "promote_dtype", None) is not None
    )


def fused_neuron_scan(layer, xs: jax.Array, state: dict, *, return_states: bool, x_bias=None):
    """Run neuron ``layer`` (exactly ``LIF``, ``LI``, ``IF`` or ``RLIF``) over ``xs`` with :func:`leaky_scan`.

    ``x_bias``: see :func:`leaky_scan`. Returns ``(ys, final_state)`` or, with
    ``return_states``, ``(ys, states)``; ``None`` when the layer or the dtypes are
    not covered (the caller then scans ``layer`` itself).
    """
    kind = type(layer)
    if kind not in fused_types():
        return None
    from snnx.neurons import IF, LI, RLIF

    names = {"v", "z"} if kind is RLIF else {"v"}
    if not isinstance(state, dict) or set(state) != names:
        return None
    v0 = state["v"]
    xs = jnp.asarray(xs)
    if xs.dtype != v0.dtype or v0.dtype != jnp.float32 or xs.shape[1:] != v0.shape:
        return None
    rec = {}
    if kind is RLIF:
        lin = layer.recurrent
        if not plain_linear(lin) or state["z"].dtype != v0.dtype or state["z"].shape != v0.shape:
            return None
        rec = {"z0": state["z"], "w_rec": lin.kernel[...], "b_rec": lin.bias[...] if lin.use_bias else None}
        if rec["w_rec"].dtype != v0.dtype:
            return None
    layer._check_step(xs[0], state)
    names = ("beta", "v_leak") if kind is not IF else ()
    names += ("threshold", "v_reset") if kind is not LI else ()
    values = {n: getattr(layer, n)[...] for n in names}
    if any(jnp.asarray(v).dtype != xs.dtype for v in values.values()):
        return None
    if x_bias is not None and (x_bias.dtype != xs.dtype or x_bias.shape != xs.shape[-1:]):
        return None
    beta = jnp.clip(values["beta"], 0.0, 1.0) if "beta" in values else 0.0
    ys, second = leaky_scan(
        xs,
        v0,
        beta,
        values.get("v_leak", 0.0),
        values.get("threshold", 0.0),
        values.get("v_reset", 0.0),
        leak=kind is not IF,
        spiking=kind is not LI,
        reset=getattr(layer, "reset", "none"),
        detach_reset=getattr(layer, "detach_reset", True),
        derivative=layer.surrogate.derivative if kind is not LI else None,
        return_states=return_states,
        x_bias=x_bias,
        **rec,
    )
    if kind is RLIF:
        return ys, {"v": second[0], "z": second[1]}
    return ys, {"v": second}
