"""``snnx.engine.Graph`` against plain-numpy simulations written from docs/nir-semantics.md:
edges into a node are summed; a back edge carries its source's previous output
(at t = 0: f(0) for a stateless source, zeros for a stateful one)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnx.engine import Graph, Sequential, is_stateful, run
from snnx.neurons import LIF

T, B = 12, 3


def _linear(n_in, n_out, seed):
    layer = nnx.Linear(n_in, n_out, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    layer.kernel[...] = rng.normal(0, 0.8, (n_in, n_out)).astype(np.float32)
    layer.bias[...] = rng.normal(0.3, 0.3, (n_out,)).astype(np.float32)
    return layer


def _np_linear(layer):
    w, b = np.asarray(layer.kernel[...], np.float64), np.asarray(layer.bias[...], np.float64)
    return lambda x: x @ w + b


class NpLIF:
    """v = beta v + x; z = v > thr; v = 0 where z."""

    def __init__(self, beta, thr=1.0):
        self.beta, self.thr = beta, thr

    def __call__(self, x, v):
        v = self.beta * v + x
        z = (v > self.thr).astype(np.float64)
        return z, np.where(z > 0, 0.0, v)


def _x(shape, seed=0):
    return (np.random.default_rng(seed).random((T, B, *shape)) < 0.5).astype(np.float32) * 1.5


def test_residual_graph_matches_numpy():
    fc1, fc2 = _linear(4, 4, 1), _linear(4, 4, 2)
    g = Graph(
        {"fc1": fc1, "lif 1": LIF(4, beta=0.8), "fc2": fc2, "lif/2": LIF(4, beta=0.7)},
        [
            ("input", "fc1"),
            ("fc1", "lif 1"),
            ("lif 1", "fc2"),
            ("fc2", "lif/2"),
            ("lif 1", "lif/2"),
            ("lif/2", "output"),
        ],
    )
    assert g.back_edges == () and g.order == ("fc1", "lif 1", "fc2", "lif/2")
    x = _x((4,))
    y, _ = run(g, jnp.asarray(x))
    f1, f2, n1, n2 = _np_linear(fc1), _np_linear(fc2), NpLIF(0.8), NpLIF(0.7)
    v1 = v2 = np.zeros((B, 4))
    for t in range(T):
        z1, v1 = n1(f1(x[t]), v1)
        z2, v2 = n2(f2(z1) + z1, v2)
        np.testing.assert_array_equal(np.asarray(y[t]), z2)


def test_two_inputs_summed_and_two_outputs():
    fa, fb = _linear(3, 4, 3), _linear(2, 4, 4)
    g = Graph(
        {"fa": fa, "fb": fb, "lif": LIF(4, beta=0.9)},
        [
            ("a", "fa"),
            ("b", "fb"),
            ("fa", "lif"),
            ("fb", "lif"),
            ("lif", "spikes"),
            ("fa", "drive"),
            ("b", "fb"),
        ],
        inputs=("a", "b"),
        outputs=("spikes", "drive"),
    )
    xa, xb = _x((3,), 1), _x((2,), 2)
    y, _ = run(g, {"a": xa, "b": xb})  # a dict input: one (T, B, ...) array per input name
    y_batch_major, _ = run(g, {"a": xa.swapaxes(0, 1), "b": xb.swapaxes(0, 1)}, time_axis=1)
    for k in ("spikes", "drive"):
        np.testing.assert_array_equal(np.asarray(y_batch_major[k]).swapaxes(0, 1), np.asarray(y[k]))
    a, b, n = _np_linear(fa), _np_linear(fb), NpLIF(0.9)
    v = np.zeros((B, 4))
    for t in range(T):
        drive = a(xa[t])
        z, v = n(drive + b(2 * xb[t]), v)  # the edge b -> fb is listed twice: its input summed twice
        np.testing.assert_array_equal(np.asarray(y["spikes"][t]), z)
        np.testing.assert_allclose(np.asarray(y["drive"][t]), drive, rtol=1e-5, atol=1e-5)


def test_three_node_cycle_stateless_back_source_sends_bias_at_t0():
    w = _linear(3, 3, 5)
    g = Graph(
        {"a": LIF(3, beta=0.8), "b": LIF(3, beta=0.6, threshold=0.5), "c": w},
        [("input", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("b", "output")],
        input_shape=3,
    )
    assert g.back_edges == (("c", "a"),)
    x = _x((3,), 3)
    y, _ = run(g, jnp.asarray(x))
    f, na, nb = _np_linear(w), NpLIF(0.8), NpLIF(0.6, 0.5)
    va = vb = np.zeros((B, 3))
    zb = np.zeros((B, 3))
    for t in range(T):
        za, va = na(x[t] + f(zb), va)  # f(0) = bias at t = 0
        zb, vb = nb(za, vb)
        np.testing.assert_array_equal(np.asarray(y[t]), zb)


def test_three_node_cycle_stateful_back_source_sends_zero_at_t0():
    w = _linear(3, 3, 6)
    g = Graph(
        {"L": w, "a": LIF(3, beta=0.8), "b": LIF(3, beta=0.5, threshold=0.8)},
        [("input", "L"), ("L", "a"), ("a", "b"), ("b", "L"), ("b", "output")],
        input_shape=(3,),
    )
    assert g.back_edges == (("b", "L"),)
    x = _x((3,), 4)
    y, _ = run(g, jnp.asarray(x))
    f, na, nb = _np_linear(w), NpLIF(0.8), NpLIF(0.5, 0.8)
    va = vb = np.zeros((B, 3))
    zb = np.zeros((B, 3))
    for t in range(T):
        za, va = na(f(x[t] + zb), va)
        zb, vb = nb(za, vb)
        np.testing.assert_array_equal(np.asarray(y[t]), zb)


def test_self_loop_and_nested_graph():
    rec, fc, out = _linear(4, 4, 7), _linear(2, 4, 8), _linear(4, 2, 9)
    inner = Graph(
        {"lif": LIF(4, beta=0.85), "rec": rec, "leak": lambda v: 0.5 * v},
        [
            ("in", "lif"),
            ("lif", "rec"),
            ("rec", "lif"),
            ("lif", "out"),
            ("in", "leak"),
            ("leak", "leak"),
            ("leak", "out"),
        ],
        inputs="in",
        outputs="out",
        input_shape=4,
    )
    assert set(inner.back_edges) == {("rec", "lif"), ("leak", "leak")}
    g = Graph(
        {"fc": fc, "sub": inner, "ro": out}, [("input", "fc"), ("fc", "sub"), ("sub", "ro"), ("ro", "output")]
    )
    assert is_stateful(g) and is_stateful(inner)
    x = _x((2,), 5)
    y, _ = run(g, jnp.asarray(x))
    f, r, o, n = _np_linear(fc), _np_linear(rec), _np_linear(out), NpLIF(0.85)
    v, z, leak_in = np.zeros((B, 4)), np.zeros((B, 4)), np.zeros((B, 4))
    for t in range(T):
        h = f(x[t])
        leak_prev = 0.5 * leak_in  # stateless self-loop: its previous output, f(0) = 0 at t = 0
        leak_in = h + leak_prev
        z, v = n(h + r(z), v)
        np.testing.assert_allclose(np.asarray(y[t]), o(z + 0.5 * leak_in), rtol=1e-5, atol=1e-5)


def test_jit_and_gradient_reach_bias_on_back_edge():
    w = _linear(3, 3, 10)
    model = Graph(
        {"a": LIF(3, beta=0.8, surrogate="fast_sigmoid"), "w": w},
        [("input", "a"), ("a", "w"), ("w", "a"), ("a", "output")],
        input_shape=3,
    )
    x = jnp.asarray(_x((3,), 6)) * 0.1

    @nnx.jit
    def loss(m, x):
        y, _ = run(m, x)
        return jnp.sum(y)

    eager, _ = run(model, x)
    assert float(loss(model, x)) == pytest.approx(float(jnp.sum(eager)))
    grads = nnx.grad(loss)(model, x)
    assert float(jnp.abs(grads["nodes"]["w"]["bias"][...]).sum()) > 0


def test_state_shapes_and_sequential_node():
    seq = Sequential(_linear(2, 3, 11), LIF(3))
    edges = [("x", "s"), ("s", "w"), ("w", "s"), ("s", "y")]
    g = Graph({"s": seq, "w": _linear(3, 2, 12)}, edges, inputs="x", outputs="y", input_shape=2)
    state = g.init_state(5)
    assert state["back"]["w"].shape == (5, 3)  # stateless source: its previous input
    y, new = g(jnp.ones((5, 2)), state)
    assert y.shape == (5, 3) and jax.tree.structure(new) == jax.tree.structure(state)


@pytest.mark.parametrize(
    ("nodes", "edges", "kwargs", "match"),
    [
        ({"a": LIF(2)}, [("input", "a"), ("a", "nope")], {}, "unknown node 'nope'"),
        ({"a": LIF(2), "b": LIF(2)}, [("input", "a"), ("a", "output")], {}, r"\['b'\] cannot be reached"),
        ({"a": LIF(2), "b": LIF(2)}, [("input", "a"), ("a", "b"), ("a", "output"), ("input", "b")], {},
         r"\['b'\] have no path to an output"),
        ({"a": LIF(2)}, [("input", "a")], {}, "output 'output' receives no edge"),
        ({"a": LIF(2)}, [("input", "a"), ("a", "input"), ("a", "output")], {}, "leads into input"),
        ({"input": LIF(2)}, [("input", "output")], {}, "also used for an input/output"),
        ({"a": 3}, [("input", "a"), ("a", "output")], {}, "must be a module or a callable"),
        ({"a": nnx.Linear(2, 3, rngs=nnx.Rngs(0)), "b": LIF(2)},
         [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")], {"input_shape": 2},
         "different shapes"),
    ],
)  # fmt: skip
def test_validation_errors(nodes, edges, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Graph(nodes, edges, **kwargs)


def test_back_edges_need_input_shape():
    g = Graph({"a": LIF(2), "w": _linear(2, 2, 0)}, [("input", "a"), ("a", "w"), ("w", "a"), ("a", "output")])
    with pytest.raises(ValueError, match="pass `input_shape`"):
        g.init_state(1)


def test_run_rejects_dict_inputs_of_different_lengths():
    g = Graph(
        {"fa": _linear(3, 4, 3), "fb": _linear(2, 4, 4)},
        [("a", "fa"), ("b", "fb"), ("fa", "o"), ("fb", "o")],
        inputs=("a", "b"),
        outputs="o",
    )
    with pytest.raises(ValueError, match=r"`x` inputs must share the time and batch sizes"):
        run(g, {"a": np.zeros((5, 2, 3)), "b": np.zeros((4, 2, 2))})
    with pytest.raises(ValueError, match=r"does not apply to this model: a dict of inputs"):
        run(g, {"a": np.zeros((5, 2, 3)), "b": np.zeros((5, 2, 2))}, engine="layer")


def test_dict_input_checked():
    g = Graph({"a": LIF(2)}, [("p", "a"), ("q", "a"), ("a", "output")], inputs=("p", "q"))
    with pytest.raises(ValueError, match="must be a dict with keys"):
        g(jnp.ones((1, 2)), g.init_state(1))
