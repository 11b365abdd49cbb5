"""Truncated backpropagation through time: one optimizer update per window of ``window`` steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from snnx.engine import Options, run
from snnx.train._data import check_count
from snnx.train._steps import (
    LossFn,
    MetricFn,
    _check,
    _prepare_input,
    _rates,
    _scalar_loss,
    all_finite,
    as_metrics,
    hashable_record,
    resolve_forward,
)


def _join(first, middle, last):
    """Concatenate along time: ``first`` ``(k, ...)``, ``middle`` ``(n, k, ...)`` from the scan, ``last``."""
    parts = [first]
    if middle is not None:
        parts.append(jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), middle))
    if last is not None:
        parts.append(last)
    if len(parts) == 1:
        return first
    return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *parts)


def make_tbptt_update(
    loss_fn: LossFn,
    *,
    window: int,
    metrics: Mapping[str, MetricFn] | Sequence[MetricFn] | None = None,
    num_steps: int | None = None,
    options: Options | None = None,
    record=None,
) -> Callable:
    """The (unjitted) truncated-BPTT update: one optimizer step per window of ``window`` time steps.

    Time ``t = 0 .. T-1`` is cut into consecutive windows ``W_0, W_1, ...`` of
    ``window`` steps (the last one shorter when ``T % window != 0``). With
    ``s_0 = model.init_state(B)`` and ``theta`` the model's ``nnx.Param``
    variables, each window ``j`` in order does::

        outputs_j, s_{j+1} = run(model, x[W_j], stop_gradient(s_j), options=options)
        loss_j = loss_fn(outputs_j, y)                   # loss_fn(outputs_j, y, activity_j) with record
        g_j = d loss_j / d theta                         # s_j is a constant: no gradient across windows
        optimizer.update(model, g_j)                     # the next window runs the updated parameters

    so the backward pass holds one window's activations, never ``T`` steps'.
    The first window runs with ``state=None`` (``run`` builds ``s_0``), so
    ``window >= T`` is exactly :func:`make_train_step`'s update. Full windows
    after the first run in one ``jax.lax.scan`` over ``(model, optimizer)``
    split into a pure carry (mutable NNX state such as ``nnx.Dropout``'s RNG
    counters included), plus one call for the shorter remainder: compile time
    does not grow with ``T / window``.

    Args:
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (``loss_fn(outputs,
            targets, activity)`` with ``record``), applied to each window's
            outputs ``(window, B, ...)`` alone.
        window: steps per truncation window, an int ``>= 1``.
        metrics: ``{name: fn(outputs, targets) -> scalar}`` or a list of such
            functions (named by ``__name__``), evaluated on the whole
            sequence's outputs (the windows' stop-gradient outputs
            concatenated along time).
        num_steps: ``T`` when ``x`` is bit-packed along axis 0
            (:func:`snnx.encoders.pack_spikes`), else ``None``.
        options: a :class:`snnx.engine.Options` for ``run``.
        record: layers whose outputs each window's loss sees (``run``'s
            ``record``, e.g. ``"spikes"``); the values then gain
            ``"rate/<key>"``, each layer's mean activity over the whole
            sequence.

    Returns:
        ``update(model, optimizer, x, y) -> (loss, values, finite)``, not
        compiled (wrap it in ``nnx.jit``, or call it inside a traced
        function): ``model`` and the ``nnx.Optimizer`` are updated in place,
        once per window; ``x`` is time-major ``(T, B, ...)``, ``y`` of shape
        ``(B, ...)``. ``loss`` is the mean of the window losses, ``values``
        the metrics, ``finite`` whether every gradient of every window is
        finite. Nothing is read back to the host.

    Example:
        >>> update = nnx.jit(make_tbptt_update(losses.max_membrane_cross_entropy, window=25,
        ...                                    metrics={"accuracy": metrics.max_membrane_accuracy}))
        >>> opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
        >>> loss, values, finite = update(model, opt, x, y)   # x: (100, B, ...): four updates

    References:
        Williams & Peng (1990), "An efficient gradient-based algorithm for
        on-line training of recurrent network trajectories", Neural
        Computation 2(4).
    """
    window = check_count("window", window)
    record = hashable_record(record)
    num_steps = _check(loss_fn, num_steps, record)
    resolve_forward(None, options, record)  # validates `options`
    metric_fns = as_metrics(metrics)

    def step(model, optimizer, x_w, y, state):
        """One window from ``state``: gradient, update; ``(loss, outputs, activity, state, finite)``."""

        def objective(m):
            out = run(m, x_w, state, options=options, record=record)
            activity = None if record is None else out[2].outputs
            return _scalar_loss(loss_fn, out[0], y, activity), (out[0], activity, out[1])

        (loss, (outputs, activity, new_state)), grads = nnx.value_and_grad(objective, has_aux=True)(model)
        optimizer.update(model, grads)
        sg = jax.lax.stop_gradient
        return loss, sg(outputs), sg(activity), sg(new_state), all_finite(grads)

    def update(model, optimizer, x, y):
        x = _prepare_input(x, num_steps)
        n_steps = x.shape[0]
        first = min(window, n_steps)
        n_mid = (n_steps - first) // window
        rest_start = first + n_mid * window

        loss0, out0, act0, state, finite0 = step(model, optimizer, x[:first], y, None)
        losses, finites = [loss0[None]], [finite0[None]]
        out_mid = act_mid = out_last = act_last = None

        if n_mid:
            xs = x[first:rest_start].reshape(n_mid, window, *x.shape[1:])
            graphdef, pure = nnx.split((model, optimizer))

            def body(carry, x_w):
                pure_c, s = carry
                m, opt = nnx.merge(graphdef, pure_c)
                loss_w, out_w, act_w, s, fin_w = step(m, opt, x_w, y, s)
                return (nnx.state((m, opt)), s), (loss_w, out_w, act_w, fin_w)

            (pure, state), (loss_m, out_mid, act_mid, fin_m) = jax.lax.scan(body, (pure, state), xs)
            nnx.update((model, optimizer), pure)
            losses.append(loss_m)
            finites.append(fin_m)

        if rest_start < n_steps:
            loss_l, out_last, act_last, _, fin_l = step(model, optimizer, x[rest_start:], y, state)
            losses.append(loss_l[None])
            finites.append(fin_l[None])

        outputs = _join(out0, out_mid, out_last)
        activity = None if record is None else _join(act0, act_mid, act_last)
        loss = jnp.mean(jnp.concatenate(losses))
        values = {name: fn(outputs, y) for name, fn in metric_fns.items()}
        values.update(_rates(activity))
        return loss, values, jnp.all(jnp.concatenate(finites))

    return update
