"""Data-parallel placement for :func:`snnx.train.fit`: a device mesh, sharded batches, replicated state.

JAX is the distributed engine; this module only decides *where arrays live*.
With a mesh whose ``"data"`` axis spans ``D`` devices:

- a batch ``x`` (time-major ``(T, B, ...)``) is sharded along its batch axis,
  ``PartitionSpec(None, "data")``, and the targets ``y`` ``(B, ...)`` along
  axis 0, ``PartitionSpec("data")``: each device holds ``B / D`` samples;
- the model state and the optimizer state are replicated on every device of
  the mesh, except the variables a ``param_sharding`` rule assigns a
  ``PartitionSpec`` (e.g. a large kernel split over a ``"model"`` axis);
- the jitted step is the same program: XLA's SPMD partitioner sees sharded
  inputs and inserts the gradient all-reduce itself (no ``pmap``, no ``psum`` in
  user code); the default forward pass runs per device under ``jax.shard_map``
  (:meth:`Placement.per_device` says why).

Several processes (one per host, after ``jax.distributed.initialize``) each pass
their *own* batch of ``B / process_count`` samples; :func:`Placement.batch`
assembles the global array with ``jax.make_array_from_process_local_data``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

#: Name of the mesh axis that batches are split along.
DATA_AXIS = "data"

ParamRule = Callable[[str, jax.Array], "PartitionSpec | None"]


def make_mesh(devices="auto", *, model: int = 1) -> Mesh:
    """A mesh ``("data",)`` (or ``("data", "model")`` when ``model > 1``) over the devices.

    Args:
        devices: ``"auto"`` for every device of every process (``jax.devices()``),
            an int ``N`` for the first ``N`` devices, or a sequence of devices.
        model: size of a second ``"model"`` axis for ``param_sharding`` rules;
            the data axis gets ``len(devices) // model`` devices.

    Returns:
        A ``jax.sharding.Mesh`` with ``Auto`` axis types (XLA propagates shardings).
    """
    available = jax.devices()
    if isinstance(devices, str):
        if devices != "auto":
            raise ValueError(f"`devices` must be 'auto', an int or a sequence of devices, got {devices!r}")
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"`devices` must be in [1, {len(available)}] (the devices JAX sees: "
                f"{available[0].platform} x {len(available)}), got {devices}"
            )
        if jax.process_count() > 1 and devices != len(available):
            raise ValueError(
                f"`devices` must be 'auto' or {len(available)} (every device) with "
                f"{jax.process_count()} processes, got {devices}"
            )
        chosen = available[: int(devices)]
    else:
        try:
            chosen = list(devices)
        except TypeError:
            raise TypeError(
                f"`devices` must be 'auto', an int or a sequence of devices, got {type(devices).__name__}"
            ) from None
        if not chosen:
            raise ValueError("`devices` must not be empty")
    if isinstance(model, bool) or not isinstance(model, (int, np.integer)) or model < 1:
        raise ValueError(f"`model` must be a positive int, got {model!r}")
    if len(chosen) % model:
        raise ValueError(f"`model` ({model}) must divide the number of devices ({len(chosen)})")
    shape, names = (
        ((len(chosen),), (DATA_AXIS,))
        if model == 1
        else ((len(chosen) // model, model), (DATA_AXIS, "model"))
    )
    return jax.make_mesh(shape, names, axis_types=(AxisType.Auto,) * len(names), devices=chosen)


def as_mesh(mesh) -> Mesh | None:
    """Validate ``fit``'s ``mesh``: ``None``, ``"auto"``, a device count, or a ``Mesh`` with a data axis.

    A ``Mesh`` with ``Explicit`` axes (``jax.make_mesh``'s default) is rebuilt over
    the same devices with ``Auto`` axes, so unchanged model code partitions.
    """
    if mesh is None:
        return None
    if isinstance(mesh, Mesh):
        if DATA_AXIS not in mesh.axis_names:
            raise ValueError(
                f"`mesh` must have an axis named {DATA_AXIS!r} to shard batches along, "
                f"got axes {tuple(mesh.axis_names)}"
            )
        if any(t != AxisType.Auto for t in mesh.axis_types):
            # Explicit axes would make shardings part of the types, and model code (a reshape
            # merging time and a sharded batch axis) would need out_sharding annotations; with
            # Auto axes XLA propagates shardings and the same model code runs unchanged.
            mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
        return mesh
    if isinstance(mesh, str) or (isinstance(mesh, (int, np.integer)) and not isinstance(mesh, bool)):
        if isinstance(mesh, str) and mesh != "auto":
            raise ValueError(
                f"`mesh` must be None, 'auto', a device count or a jax.sharding.Mesh, got {mesh!r}"
            )
        if not isinstance(mesh, str) and not 1 <= mesh <= jax.device_count():
            raise ValueError(
                f"`mesh` as a device count must be in [1, {jax.device_count()}] (the devices JAX sees), "
                f"got {mesh}"
            )
        return make_mesh(mesh)
    raise TypeError(
        f"`mesh` must be None, 'auto', a device count or a jax.sharding.Mesh, got {type(mesh).__name__}"
    )


def _path_name(path) -> str:
    """``"layers/0/kernel"`` for a state path (the trailing ``.value`` of a Variable dropped)."""
    if path and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "value":
        path = path[:-1]
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)


def _as_rule(param_sharding) -> ParamRule:
    if param_sharding is None:
        return lambda name, value: None
    if isinstance(param_sharding, Mapping):
        rules = []
        for pattern, spec in param_sharding.items():
            if not isinstance(spec, PartitionSpec):
                raise TypeError(
                    f"`param_sharding[{pattern!r}]` must be a jax.sharding.PartitionSpec, "
                    f"got {type(spec).__name__}"
                )
            rules.append((re.compile(pattern), spec))
        return lambda name, value: next((spec for rx, spec in rules if rx.search(name)), None)
    if callable(param_sharding):
        return param_sharding
    raise TypeError(
        "`param_sharding` must be None, a mapping regex -> PartitionSpec or a callable "
        f"(path, value) -> PartitionSpec | None, got {type(param_sharding).__name__}"
    )


class Placement:
    """Where batches and training state live on a device mesh; what ``fit(..., mesh=...)`` uses.

    Batches ``x`` ``(T, B, ...)`` are split along ``B`` over the mesh's ``"data"``
    axis, targets ``y`` ``(B, ...)`` along axis 0; model and optimizer state are
    replicated, except variables that ``param_sharding`` assigns a
    ``PartitionSpec``. The public use is :meth:`per_device`, for a custom
    ``forward=`` of :func:`snnx.train.fit` that should run per device as the
    default forward does.

    Args:
        mesh: what ``fit`` accepts: ``"auto"`` (every device), a device count, or
            a ``jax.sharding.Mesh`` with a ``"data"`` axis (``Explicit`` axes are
            rebuilt as ``Auto`` over the same devices).
        param_sharding: ``None`` (replicate everything), a mapping
            ``{regex: PartitionSpec}`` searched in the ``/``-joined state path
            (``"layers/0/kernel"``; optimizer moments end in the same path), or a
            callable ``(path, value) -> PartitionSpec | None``.

    Example:
        >>> placement = Placement(jax.make_mesh((jax.device_count(),), ("data",)))
        >>> forward = placement.per_device(lambda m, x: snnx.run(m, x)[0], model)
        >>> fit(model, optax.adam(1e-3), loss_fn, data, mesh=placement.mesh, forward=forward)
    """

    def __init__(self, mesh, param_sharding=None):
        if mesh is None:
            raise TypeError("`mesh` must be 'auto', a device count or a jax.sharding.Mesh, got None")
        mesh = as_mesh(mesh)
        self.mesh = mesh
        self.data_size = int(mesh.shape[DATA_AXIS])
        self.processes = jax.process_count()
        #: batch samples each process must supply per device group: local batch % this == 0.
        self.local_divisor = max(1, self.data_size // self.processes)
        self._rule = _as_rule(param_sharding)
        self._replicated = NamedSharding(mesh, PartitionSpec())

    def check_batch_size(self, name: str, batch_size: int) -> None:
        """``ValueError`` unless a process-local batch of ``batch_size`` splits evenly over the data axis."""
        if batch_size % self.local_divisor:
            raise ValueError(
                f"`{name}` ({batch_size}) must be divisible by the {self.local_divisor} data-parallel "
                f"devices per process (mesh axis {DATA_AXIS!r} of size {self.data_size} over "
                f"{self.processes} process(es)); use a multiple of {self.local_divisor}"
            )

    def _shard(self, array: np.ndarray, spec: PartitionSpec) -> jax.Array:
        return jax.make_array_from_process_local_data(NamedSharding(self.mesh, spec), array)

    def batch(self, batch, *, allow_replicated: bool = False):
        """``(x, y)`` host batch -> global arrays: ``x`` sharded on axis 1, ``y`` on axis 0.

        A batch whose size does not split over the data axis is an error, or, with
        ``allow_replicated`` on a single process (evaluation's last batch), is
        replicated on every device instead (same results, no parallelism).
        """
        x, y = (np.asarray(a) for a in batch)
        if x.ndim < 2 or y.ndim < 1 or y.shape[0] != x.shape[1]:
            raise ValueError(
                f"a batch must be time-major x of shape (T, B, ...) with y of shape (B, ...), "
                f"got x {x.shape} and y {y.shape}"
            )
        n = x.shape[1]
        if n % self.local_divisor:
            if allow_replicated and self.processes == 1:
                return jax.device_put(x, self._replicated), jax.device_put(y, self._replicated)
            raise ValueError(
                f"a batch of x shape {x.shape} (batch axis 1: {n} samples) does not split over the "
                f"{self.local_divisor} data-parallel devices per process; batch sizes must be multiples "
                f"of {self.local_divisor}"
            )
        return self._shard(x, PartitionSpec(None, DATA_AXIS)), self._shard(y, PartitionSpec(DATA_AXIS))

    def _sharding_of(self, path, value) -> NamedSharding:
        name = _path_name(path)
        spec = self._rule(name, value)
        if spec is None:
            return self._replicated
        if not isinstance(spec, PartitionSpec):
            raise TypeError(
                f"`param_sharding` for {name!r} must give a PartitionSpec or None, got {type(spec).__name__}"
            )
        shape = np.shape(value)
        if len(spec) > len(shape):
            raise ValueError(
                f"`param_sharding` spec {spec} for {name!r} has more axes than its shape {shape}"
            )
        for axis, names in enumerate(spec):
            names = () if names is None else (names,) if isinstance(names, str) else tuple(names)
            size = int(np.prod([self.mesh.shape[a] for a in names])) if names else 1
            if shape[axis] % size:
                raise ValueError(
                    f"`param_sharding` spec {spec} for {name!r}: axis {axis} of shape {shape} "
                    f"is not divisible by mesh axes {names} (size {size})"
                )
        return NamedSharding(self.mesh, spec)

    def per_device(self, forward, model):
        """``forward`` run by each device on its own ``B / D`` samples (``jax.shard_map`` over ``"data"``).

        Why: the layer-major engine merges time and batch, ``(T, B, ...) -> (T * B, ...)``,
        for one large GEMM per layer; with ``B`` sharded, XLA's partitioner can only
        do that reshape by gathering the whole batch onto every device (no
        parallelism left). Inside ``shard_map`` each device runs the unchanged
        model on its local ``(T, B / D, ...)`` block; the loss, the metrics and
        the update stay in the global program, and the gradient of the
        replicated parameters is summed over devices by the transpose of
        ``shard_map`` (one all-reduce, executed by XLA). Only the ``"data"`` axis
        is manual, so variables sharded over other axes stay sharded.

        Exact because samples do not interact in the forward pass; models with
        mutable NNX state (RNG streams, batch statistics), whose updates would be
        lost per device, and batches that do not split are run as they are.
        """
        from snnx.engine._rules import has_mutable_state

        if has_mutable_state(model):
            return forward
        mesh, data_size = self.mesh, self.data_size

        def sharded(m, x):
            if x.ndim < 2 or x.shape[1] % data_size:
                return forward(m, x)
            graphdef, state = nnx.split(m)

            def local(state, x_local):
                return forward(nnx.merge(graphdef, state), x_local)

            batch = PartitionSpec(None, DATA_AXIS)
            return jax.shard_map(
                local,
                mesh=mesh,
                in_specs=(PartitionSpec(), batch),
                out_specs=batch,
                axis_names={DATA_AXIS},
                check_vma=False,
            )(state, x)

        return sharded

    def state(self, *objects) -> None:
        """Put the full ``nnx.state`` of each object (model, optimizer) on the mesh, in place."""
        for obj in objects:
            state = nnx.state(obj)
            shardings = jax.tree_util.tree_map_with_path(self._sharding_of, state)
            nnx.update(obj, jax.device_put(state, shardings))
