"""Perfect integrator (non-spiking)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax

from snnx.neurons._base import Neuron, resolve_trainable


class I(Neuron):  # noqa: E742 - the NIR primitive's name
    r"""Perfect integrator: accumulates its input forever.

    Discrete update, per step ``t`` (``x`` is this step's input)::

        v = v + x

    No spike, no reset, no parameters. Output: ``v``. State: ``{"v"}``.

    NIR: ``nir.I`` with ``r = 1``.

    Args:
        shape: per-sample shape of the layer (int or tuple); ``None`` leaves it to
            :meth:`build` (``Sequential(..., input_shape=...)`` calls it).
        trainable: accepted for uniformity with the other neurons (default
            ``False``); there is nothing to learn, so only ``True``, ``False``
            or ``()`` are valid.

    Example:
        >>> integrator = I(4)
        >>> state = integrator.init_state(batch_shape=2)
        >>> v, state = integrator(jnp.ones((2, 4)), state)

    References:
        NIR primitive ``I`` (Pedersen et al. 2024, *Nature Communications* 15, 8122).
    """

    state_names = ("v",)
    param_names = ()

    def __init__(self, shape: int | Sequence[int] | None = None, *, trainable: bool | Iterable[str] = False):
        super().__init__(shape)
        resolve_trainable(trainable, self.param_names)

    def __call__(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        x = self._check_step(x, state)
        v = state["v"] + x
        return v, {"v": v}
