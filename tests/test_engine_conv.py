"""``Options.conv_weight_grad``: a 2-D ``nnx.Conv``'s kernel gradient as an im2col GEMM.

The custom convolution (``snnx.engine._conv``) must give ``nnx.Conv``'s output and
autodiff's input gradient bit for bit, and a kernel gradient equal to a float64 numpy
im2col reference; ``run`` with it must equal the step engine (spikes exact, gradients
to 1e-5), and the plan must say which kernel gradient each conv uses and why.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnx.engine import Options, Sequential, _conv, plan, run
from snnx.engine._options import backend_defaults
from snnx.layers import Flatten, SumPool
from snnx.neurons import IF, LI, LIF


def _numpy_dw(x, g, kh, kw, strides, pads):
    """dW[i, j, c, o] = sum over (n, ho, wo) of x_padded[n, ho*sh + i, wo*sw + j, c] * g[n, ho, wo, o]."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    (lh, hh), (lw, hw) = pads
    xp = np.pad(x, ((0, 0), (lh, hh), (lw, hw), (0, 0)))
    _, ho, wo, _ = g.shape
    sh, sw = strides
    patches = np.empty((x.shape[0], ho, wo, kh, kw, x.shape[3]))
    for a in range(ho):
        for b in range(wo):
            patches[:, a, b] = xp[:, a * sh : a * sh + kh, b * sw : b * sw + kw, :]
    return np.einsum("nabijc,nabo->ijco", patches, g)


def _numpy_pads(padding, size, k, stride):
    """SAME: out = ceil(size / stride), the extra padding split low-first as XLA does; VALID: none."""
    if padding == "VALID":
        return (0, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return (total // 2, total - total // 2)


# (in (N, H, W, C_in), C_out, kernel, strides, padding, bias)
SHAPES = [
    ((3, 7, 9, 1), 4, (3, 3), 1, "SAME", True),
    ((2, 9, 8, 3), 5, (3, 2), 2, "SAME", False),
    ((2, 11, 7, 3), 6, (5, 3), (2, 1), "VALID", True),
    ((4, 6, 5, 2), 3, (3, 3), 2, ((1, 2), (0, 1)), True),
    ((2, 5, 5, 3), 2, (1, 1), 1, 1, False),
]


def _grads(fn, layer, x, g):
    graphdef, params = nnx.split(layer)
    y, vjp = jax.vjp(lambda p, x: fn(nnx.merge(graphdef, p), x), params, x)
    dp, dx = vjp(g)
    return y, dx, dp


@pytest.mark.parametrize(("in_shape", "c_out", "kernel", "strides", "padding", "bias"), SHAPES)
def test_the_custom_conv_is_nnx_conv_with_a_gemm_kernel_gradient(in_shape, c_out, kernel, strides, padding,
                                                                  bias):
    layer = nnx.Conv(in_shape[3], c_out, kernel, strides, padding=padding, use_bias=bias, rngs=nnx.Rngs(0),
                     bias_init=nnx.initializers.normal(1.0))  # fmt: skip
    assert _conv.supports(layer, jnp.float32) is None
    x = jax.random.normal(jax.random.key(1), in_shape)
    g = jax.random.normal(jax.random.key(2), layer(x).shape)
    ref_y, ref_dx, ref_dp = _grads(lambda m, x: m(x), layer, x, g)
    y, dx, dp = _grads(_conv.apply, layer, x, g)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(ref_y))  # forward: bit for bit
    np.testing.assert_array_equal(np.asarray(dx), np.asarray(ref_dx))  # input gradient: bit for bit
    s = (strides, strides) if isinstance(strides, int) else strides
    if isinstance(padding, str):
        pads = [_numpy_pads(padding, in_shape[1 + a], kernel[a], s[a]) for a in range(2)]
    else:
        pads = [(padding, padding)] * 2 if isinstance(padding, int) else padding
    expected = _numpy_dw(x, g, *kernel, s, pads)
    dw, atol = np.asarray(dp["kernel"][...]), 1e-5 * np.abs(expected).max()
    np.testing.assert_allclose(dw, expected, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(dw, np.asarray(ref_dp["kernel"][...]), rtol=1e-5, atol=atol)
    if bias:
        np.testing.assert_array_equal(np.asarray(dp["bias"][...]), np.asarray(ref_dp["bias"][...]))
        np.testing.assert_allclose(np.asarray(dp["bias"][...]), np.asarray(g, np.float64).sum((0, 1, 2)),
                                   rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 5 * 5 * 9 * 4, 10**9])
def test_the_weight_gradient_is_the_same_for_every_chunking(chunk_bytes):
    # 1 byte: one sample per chunk (7 scan steps); 3 samples' patches: 2 steps and a remainder; 1 GB: one GEMM
    x = jax.random.normal(jax.random.key(3), (7, 5, 5, 1))
    g = jax.random.normal(jax.random.key(4), (7, 5, 5, 2))
    dw = jax.jit(lambda x, g: _conv.weight_grad(x, g, (3, 3, 1, 2), (1, 1), "SAME", chunk_bytes=chunk_bytes))
    dw = dw(x, g)
    expected = _numpy_dw(x, g, 3, 3, (1, 1), [(1, 1), (1, 1)])
    np.testing.assert_allclose(np.asarray(dw), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_bfloat16_keeps_the_forward_and_input_gradient_and_accumulates_in_float32():
    layer = nnx.Conv(3, 4, (3, 3), padding="SAME", param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(5), (2, 6, 6, 3)).astype(jnp.bfloat16)
    g = jax.random.normal(jax.random.key(6), (2, 6, 6, 4)).astype(jnp.bfloat16)
    ref_y, ref_dx, _ = _grads(lambda m, x: m(x), layer, x, g)
    y, dx, dp = _grads(_conv.apply, layer, x, g)
    assert y.dtype == jnp.bfloat16 and dp["kernel"][...].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(ref_y, np.float32))
    np.testing.assert_array_equal(np.asarray(dx, np.float32), np.asarray(ref_dx, np.float32))
    expected = _numpy_dw(np.asarray(x, np.float32), np.asarray(g, np.float32), 3, 3, (1, 1), [(1, 1)] * 2)
    np.testing.assert_allclose(np.asarray(dp["kernel"][...], np.float32), expected, rtol=1e-2,
                               atol=1e-2 * np.abs(expected).max())  # fmt: skip


def _snn():
    r = nnx.Rngs(0)
    return Sequential(
        nnx.Conv(2, 6, (3, 3), padding="SAME", rngs=r, kernel_init=nnx.initializers.normal(1.0)),
        LIF((8, 8, 6), 0.9, trainable=True),
        SumPool((2, 2)),
        nnx.Conv(6, 4, (3, 3), strides=2, padding="VALID", rngs=r, kernel_init=nnx.initializers.normal(0.5)),
        IF((1, 1, 4), trainable=True),
        Flatten(),
        nnx.Linear(4, 3, rngs=r),
        LI(3, trainable=True),
    )


def _loss(model, x, y, options, engine):
    out, _, rec = run(model, x, options=options, engine=engine, record="spikes")
    return optax.softmax_cross_entropy_with_integer_labels(out.sum(0), y).mean(), rec.outputs


@nnx.jit(static_argnames=("options", "engine"))
def _train(model, x, y, options, engine):
    return nnx.value_and_grad(_loss, has_aux=True)(model, x, y, options, engine)


def test_run_with_the_gemm_equals_the_step_engine():
    model = _snn()
    x = (jax.random.uniform(jax.random.key(7), (6, 3, 8, 8, 2)) < 0.4).astype(jnp.float32)
    y = jnp.arange(3)
    gemm = Options(conv_weight_grad="gemm")
    notes = [st.notes for st in plan(model, x, options=gemm).steps if st.layer.startswith("Conv")]
    assert all("kernel gradient as an im2col GEMM (options.conv_weight_grad='gemm')" in n for n in notes)
    (loss, spikes), grads = _train(model, x, y, gemm, "auto")
    (ref_loss, ref_spikes), ref_grads = _train(model, x, y, gemm, "step")
    assert sorted(ref_spikes) == ["1", "4"]
    for key in ref_spikes:  # both spiking layers, every step
        z, ref_z = np.asarray(spikes[key]), np.asarray(ref_spikes[key])
        assert 0 < ref_z.sum() < ref_z.size
        np.testing.assert_array_equal(z, ref_z)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5 * scale)
    for i in (0, 3):  # both convs' kernel gradients are non-zero
        assert float(np.abs(np.asarray(grads["layers"][i]["kernel"][...])).max()) > 0


def _conv_notes(layer, x_shape, options):
    model = Sequential(layer, IF(layer(jnp.zeros((1, *x_shape[2:]))).shape[1:]))
    steps = plan(model, jax.ShapeDtypeStruct(x_shape, jnp.float32), options=options).steps
    return steps[0]


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [({"feature_group_count": 2}, "feature groups"), ({"kernel_dilation": 2}, "kernel dilation"),
     ({"input_dilation": (1, 2), "padding": 1}, "input dilation"),
     ({"padding": "CIRCULAR"}, "padding 'CIRCULAR'"), ({"mask": jnp.ones((3, 3, 4, 4))}, "a mask")],
)  # fmt: skip
def test_unsupported_convs_keep_xlas_gradient_and_the_plan_says_why(kwargs, why):
    layer = nnx.Conv(4, 4, (3, 3), rngs=nnx.Rngs(0), **kwargs)
    step = _conv_notes(layer, (2, 2, 6, 6, 4), Options(conv_weight_grad="gemm"))
    assert step.weight_grad is None
    assert f"XLA's convolution: the im2col GEMM does not support {why}" in "\n".join(step.notes)


def test_other_convs_are_refused_by_name():
    assert _conv.supports(nnx.Conv(2, 2, (3,), rngs=nnx.Rngs(0))) == "a 1-D conv (only 2-D)"
    assert _conv.supports(nnx.Linear(2, 2, rngs=nnx.Rngs(0))) == "not an nnx.Conv"
    int_conv = nnx.Conv(2, 2, (3, 3), rngs=nnx.Rngs(0), dtype=jnp.int32)
    assert _conv.supports(int_conv, jnp.int32) == "a conv computing in int32 (only float32, bfloat16)"


def test_auto_follows_the_cpu_rule_and_xla_is_the_gpu_default():
    # the rule (docs/design/engine-plan.md): GEMM when C_out >= 32 with >= 16 output positions,
    # or kh*kw*C_in <= 144 with >= 64 output positions
    wide = nnx.Conv(32, 64, (3, 3), rngs=nnx.Rngs(0))  # convnm's second layer, 17x17 output
    step = _conv_notes(wide, (2, 2, 17, 17, 32), Options(conv_weight_grad="auto"))
    assert step.weight_grad == "gemm"
    expected = "kernel gradient as an im2col GEMM (options.conv_weight_grad='auto': C_out 64 >= 32"
    assert expected in step.notes[-1]
    narrow = nnx.Conv(16, 16, (5, 5), rngs=nnx.Rngs(0))  # conv30's second layer: rows 400, C_out 16
    step = _conv_notes(narrow, (2, 2, 8, 8, 16), Options(conv_weight_grad="auto"))
    assert step.weight_grad is None and "XLA measured faster" in step.notes[-1]
    assert _conv.wins(nnx.Conv(2, 16, (5, 5), 2, rngs=nnx.Rngs(0)), (34, 34, 2))  # rows 50, 17x17 output
    assert not _conv.wins(nnx.Conv(64, 64, (3, 3), rngs=nnx.Rngs(0)), (2, 2, 64))  # 4 output positions
    step = _conv_notes(wide, (2, 2, 17, 17, 32), Options(conv_weight_grad="xla"))
    assert step.weight_grad is None and "XLA's convolution (options.conv_weight_grad='xla')" in step.notes[-1]
    assert backend_defaults("cpu")["conv_weight_grad"] == "auto"
    assert backend_defaults("gpu")["conv_weight_grad"] == "xla"


@pytest.mark.parametrize("value", ["GEMM", "im2col", 1])
def test_a_bad_conv_weight_grad_names_the_field(value):
    expected = rf"`conv_weight_grad` must be one of \['xla', 'gemm', 'auto'\], got {value!r}"
    with pytest.raises(ValueError, match=expected):
        Options(conv_weight_grad=value)


def test_forward_mode_through_the_gemm_names_the_way_out():
    model = Sequential(nnx.Conv(2, 4, (3, 3), rngs=nnx.Rngs(0)), IF((4, 4, 4)))
    graphdef, state = nnx.split(model)
    x = jnp.ones((3, 2, 4, 4, 2))
    k = state["layers"][0]["kernel"][...]

    def total(kernel, options):
        state["layers"][0]["kernel"] = state["layers"][0]["kernel"].replace(kernel)
        return run(nnx.merge(graphdef, state), x, options=options)[0].sum()

    gemm, xla = Options(fused=False, conv_weight_grad="gemm"), Options(fused=False, conv_weight_grad="xla")
    with pytest.raises(TypeError, match=r"reverse-mode autodiff only.*conv_weight_grad='xla'"):
        jax.jvp(lambda k: total(k, gemm), (k,), (jnp.ones_like(k),))
    jax.jvp(lambda k: total(k, xla), (k,), (jnp.ones_like(k),))  # the way out works


@pytest.mark.parametrize("weight_grad", ["gemm", "xla"])
@pytest.mark.parametrize("bias_into_neuron", [True, False])
def test_a_convs_bias_added_in_the_next_neurons_loop_equals_the_step_engine(weight_grad, bias_into_neuron):
    model = _snn()
    for i in (0, 3):  # non-zero biases, so that where they are added matters
        conv = model.layers[i]
        conv.bias[...] = 0.3 * jnp.arange(conv.bias.shape[0], dtype=jnp.float32) - 0.5
    x = (jax.random.uniform(jax.random.key(3), (6, 3, 8, 8, 2)) < 0.4).astype(jnp.float32)
    y = jnp.arange(3)
    options = Options(conv_weight_grad=weight_grad, bias_into_neuron=bias_into_neuron)
    convs = [st for st in plan(model, x, options=options).steps if st.layer.startswith("Conv")]
    moved = [st for st in convs if st.bias_to is not None]
    assert len(moved) == (2 if bias_into_neuron else 0)
    if bias_into_neuron:
        assert all("bias left out here, added inside the next neuron's loop" in st.notes for st in moved)
    (loss, spikes), grads = _train(model, x, y, options, "auto")
    (ref_loss, ref_spikes), ref_grads = _train(model, x, y, options, "step")
    for key in ref_spikes:
        np.testing.assert_array_equal(np.asarray(spikes[key]), np.asarray(ref_spikes[key]))
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5 * scale)
    for i in (0, 3):  # the bias gradients, summed inside the neurons' kernels, are not zero
        assert float(np.abs(np.asarray(grads["layers"][i]["bias"][...])).max()) > 0
