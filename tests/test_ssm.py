"""Sequence layers (LRU, S5, ChunkedSSM): numpy recurrences, step == parallel, engines, inits, errors.

Every expectation is an independent float64/complex128 numpy recurrence stepped
in a Python loop from the layer's parameters read out as numpy (the discrete
equations written again here from the papers), a spectrum computed here with
``np.linalg.eigvals``, or a property that holds by construction (causality,
ranges). Nothing is copied from the code's output.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnx
from snnx.engine import Options, Sequential
from snnx.ssm._chunked import ChunkedSSM
from snnx.ssm._lru import LRU
from snnx.ssm._s5 import S5
from snnx.ssm._scan import linear_scan

T, B, F, D, N = 7, 2, 3, 4, 64  # steps, batch, input features, d_model, d_state (S5's default)
CHUNK = 3  # T is not a multiple of it


def _np(v) -> np.ndarray:
    return np.asarray(v[...], np.float64)


# -- numpy references --------------------------------------------------------------------------


def lru_numpy(layer: LRU):
    """``(lam, B_bar, C, D)`` of an LRU in complex128: h = lam h + gamma B x, y = Re(C h) + D x."""
    lam = np.exp(-np.exp(_np(layer.nu_log)) + 1j * np.exp(_np(layer.theta_log)))
    gamma = np.exp(_np(layer.gamma_log))
    b = gamma[:, None] * (_np(layer.B_re) + 1j * _np(layer.B_im))
    return lam, b, _np(layer.C_re) + 1j * _np(layer.C_im), _np(layer.D) if layer.use_skip else 0.0


def s5_numpy(layer: S5):
    """``(lam_bar, B_bar, C, D)`` of S5 by ZOH: exp(Lambda dt), (exp(Lambda dt) - 1) / Lambda B."""
    lam = -np.exp(_np(layer.lambda_re_log)) + 1j * _np(layer.lambda_im)
    dt = np.exp(_np(layer.log_step))
    lam_bar = np.exp(lam * dt)
    b = ((lam_bar - 1) / lam)[:, None] * (_np(layer.B_re) + 1j * _np(layer.B_im))
    return lam_bar, b, _np(layer.C_re) + 1j * _np(layer.C_im), _np(layer.D) if layer.use_skip else 0.0


def numpy_params(layer):
    return lru_numpy(layer) if isinstance(layer, LRU) else s5_numpy(layer)


def diag_step(p, h, x):
    lam, b, c, d = p
    h = lam * h + x @ b.T
    return h, (h @ c.T).real + d * x


def diag_numpy(layer, u):
    p = numpy_params(layer)
    h, ys, hs = np.zeros((*u.shape[1:-1], p[0].shape[0]), complex), [], []
    for t in range(u.shape[0]):
        h, y = diag_step(p, h, u[t])
        ys.append(y)
        hs.append(h)
    return np.stack(ys), np.stack(hs)


def chunked_numpy(layer: ChunkedSSM, u):
    """The two-level recurrence: outer steps on each completed chunk, its output the next chunk's context."""
    pi, po, g, c = numpy_params(layer.inner), numpy_params(layer.outer), _np(layer.g), layer.chunk_size
    h_in = np.zeros((*u.shape[1:-1], pi[0].shape[0]), complex)
    h_out = np.zeros((*u.shape[1:-1], po[0].shape[0]), complex)
    ctx, acc, ys = np.zeros(u.shape[1:]), np.zeros(u.shape[1:]), []
    for t in range(u.shape[0]):
        h_in, y_in = diag_step(pi, h_in, u[t])
        ys.append(y_in + g * ctx)
        acc = acc + y_in
        if (t + 1) % c == 0:
            summary = acc / c if layer.pool == "mean" else y_in
            h_out, ctx = diag_step(po, h_out, summary)
            acc = np.zeros_like(acc)
    return np.stack(ys)


def linear_numpy(lin: nnx.Linear, x):
    return np.asarray(x, np.float64) @ _np(lin.kernel) + _np(lin.bias)


# -- one model holding every layer: numpy, both engines, states, gradients, causality ----------


def make_model() -> Sequential:
    r = nnx.Rngs(7)
    # every class runs inside the two chunked layers, each with its parallel form (and its states)
    return Sequential(
        nnx.Linear(F, D, rngs=r),
        ChunkedSSM(LRU(D, N, r_min=0.5, r_max=0.95, rngs=r), S5(D, N, rngs=r), chunk_size=CHUNK,
                   blend_init=0.7),
        ChunkedSSM(S5(D, N, dt_min=0.05, dt_max=0.5, rngs=r), LRU(D, N, use_skip=False, rngs=r),
                   chunk_size=CHUNK, pool="last"),
    )


def model_numpy(model: Sequential, x) -> list[np.ndarray]:
    """Every layer's output sequence, layer by layer, in float64."""
    outs = [linear_numpy(model[0], x)]
    for layer in model.layers[1:]:
        chunked = isinstance(layer, ChunkedSSM)
        outs.append(chunked_numpy(layer, outs[-1]) if chunked else diag_numpy(layer, outs[-1])[0])
    return outs


@nnx.jit
def step_and_parallel(model, x, w):
    """The step engine (outputs, every-step states, gradients of a weighted sum), the parallel engine."""

    def loss(m):
        y, states = snnx.run(m, x, options=Options(parallel=False), return_states=True)
        return jnp.sum(y * w), (y, states)

    (_, step), grads = nnx.value_and_grad(loss, has_aux=True)(model)
    return step, snnx.run(model, x, options=Options(parallel=True), return_states=True), grads


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(T, B, F)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(T, B, D)), jnp.float32)
    model = make_model()
    return model, x, w, step_and_parallel(model, x, w)


def test_layers_match_numpy_and_step_equals_parallel(case):
    model, x, _, ((y_step, s_step), (y_par, s_par), _) = case
    plain = Sequential(model[0], model[1].inner, model[2].inner, model[1])
    shown = str(snnx.engine.plan(plain, x, options=Options(parallel=True), return_states=True))
    for i, name in enumerate(["LRU", "S5", "ChunkedSSM"], start=1):
        assert re.search(rf"\[{i}\] {name}\(4\) +Parallel", shown), shown
    expected = model_numpy(model, x)
    np.testing.assert_allclose(y_step, expected[-1], rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(y_par, y_step, rtol=0, atol=1e-5)
    for i in (1, 2):  # the inner layers' complex states, every step
        h_expected = diag_numpy(model[i].inner, expected[i - 1])[1]
        np.testing.assert_allclose(s_par[i]["inner"]["h"], h_expected, rtol=1e-4, atol=1e-5)
    # every step's state: the same structure, dtypes and values on both engines
    assert jax.tree.structure(s_par) == jax.tree.structure(s_step)
    for a, b in zip(jax.tree.leaves(s_par), jax.tree.leaves(s_step), strict=True):
        assert a.shape[:2] == (T, B) and a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(s_par[1]["pos"][:, 0], (np.arange(T) + 1) % CHUNK)
    assert s_par[1]["pos"].dtype == jnp.int32
    # the context matters: a chunked layer's output is its inner layer's plus the blended context
    for i in (1, 2):
        inner_only = diag_numpy(model[i].inner, expected[i - 1])[0]
        np.testing.assert_allclose(expected[i][:CHUNK], inner_only[:CHUNK], atol=1e-12)  # no context yet
        assert np.abs(expected[i][CHUNK:] - inner_only[CHUNK:]).min() > 1e-4


def test_gradients_finite_and_nonzero_for_every_parameter(case):
    model, *_, (_, _, grads) = case
    flat = nnx.to_flat_state(grads)
    assert {p for p, _ in flat} == {p for p, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert len(flat) == 2 + (1 + 8 + 8) + (1 + 8 + 7)
    for path, g in flat:
        g = np.asarray(g[...])
        assert np.all(np.isfinite(g)) and np.any(g != 0), path


def test_chunked_is_causal(case):
    """A change at step t0 inside a chunk leaves every earlier output alone, on both engines.

    Spyx 1.0 adds each chunk's own (mean) summary to all its steps, so there a
    change at t0 also moves the steps of its chunk before t0, and this fails.
    """
    model, x, w, ((y_step, _), (y_par, _), _) = case
    t0 = CHUNK + 1  # the second step of the second chunk
    (y2_step, _), (y2_par, _), _ = step_and_parallel(model, x.at[t0].add(3.0), w)
    for y, y2 in ((y_step, y2_step), (y_par, y2_par)):
        np.testing.assert_array_equal(y2[:t0], y[:t0])
        assert np.all(np.abs(np.asarray(y2[t0]) - np.asarray(y[t0])) > 1e-5)


@pytest.mark.slow
def test_parallel_gradients_equal_step_gradients(case):
    model, x, w, (_, _, g_step) = case
    g_par = nnx.jit(nnx.grad(lambda m: jnp.sum(snnx.run(m, x, options=Options(parallel=True))[0] * w)))(model)
    for (path, a), (_, b) in zip(nnx.to_flat_state(g_par), nnx.to_flat_state(g_step), strict=True):
        np.testing.assert_allclose(np.asarray(a[...]), np.asarray(b[...]), rtol=1e-3, atol=1e-5,
                                   err_msg=str(path))


# -- the scan and the contract without batch axes ----------------------------------------------


def test_linear_scan_complex_from_initial_state():
    rng = np.random.default_rng(1)
    a = 0.9 * np.exp(1j * rng.uniform(0, 6, 3))
    b = rng.normal(size=(7, 3)) + 1j * rng.normal(size=(7, 3))
    h0 = np.array([1.0, -2j, 0.5 + 0.5j])
    h, expected = h0, []
    for t in range(7):
        h = a * h + b[t]
        expected.append(h)
    c64 = [jnp.asarray(v, jnp.complex64) for v in (a, b, h0)]
    np.testing.assert_allclose(jax.jit(linear_scan)(*c64), np.stack(expected), rtol=1e-5, atol=1e-5)


def test_no_batch_axes(case):
    for layer in case[0].layers[1:]:
        state = layer.init_state()
        y, new = nnx.eval_shape(lambda m, s: m(jnp.ones(D), s), layer, state)
        assert y.shape == (D,) and jax.tree.structure(new) == jax.tree.structure(state)
        for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
        y, states = nnx.eval_shape(lambda m: m.parallel(jnp.ones((T, D)), return_states=True), layer)
        assert y.shape == (T, D)
        assert [a.shape for a in jax.tree.leaves(states)] == [(T, *a.shape) for a in jax.tree.leaves(state)]


# -- initialisation ----------------------------------------------------------------------------


def test_lru_init_on_the_ring_with_paper_scales():
    r_min, r_max, n = 0.4, 0.9, N
    layer = LRU(D, n, r_min=r_min, r_max=r_max, max_phase=math.pi, rngs=nnx.Rngs(0))
    mod = np.abs(lru_numpy(layer)[0])
    assert r_min <= mod.min() and mod.max() <= r_max + 1e-6
    # |lam|^2 uniform on [r_min^2, r_max^2]: the mean of a uniform, within 4 standard errors
    lo, hi = r_min**2, r_max**2
    assert abs(np.mean(mod**2) - (lo + hi) / 2) < 4 * (hi - lo) / math.sqrt(12 * n)
    phase = np.exp(_np(layer.theta_log))
    assert 0 < phase.min() and phase.max() <= math.pi + 1e-6
    assert abs(phase.mean() - math.pi / 2) < 4 * math.pi / math.sqrt(12 * n)
    np.testing.assert_allclose(np.exp(_np(layer.gamma_log)), np.sqrt(1 - mod**2), rtol=1e-4)
    # n * D = 256 draws each: the sample standard deviation is within 4 standard errors (~18%)
    assert np.std(_np(layer.B_re)) == pytest.approx(1 / math.sqrt(2 * D), rel=0.18)
    assert np.std(_np(layer.C_im)) == pytest.approx(1 / math.sqrt(n), rel=0.18)
    assert {"D", "nu_log", "gamma_log"} <= set(vars(layer))
    assert not hasattr(LRU(D, N, use_skip=False, rngs=nnx.Rngs(0)), "D")


def test_s5_init_hippo_n_spectrum_and_steps():
    n, dt_min, dt_max = N, 1e-3, 1e-1
    layer = S5(D, rngs=nnx.Rngs(0))  # the defaults: d_state=64, Delta in [1e-3, 1e-1]
    # HiPPO-LegS from its definition, plus P P^T with P_i = sqrt(i + 1/2): its spectrum
    i = np.arange(n)
    a = np.where(i[:, None] > i[None, :], -np.sqrt((2 * i[:, None] + 1) * (2 * i[None, :] + 1)), 0.0)
    a -= np.diag(i + 1.0)
    eig = np.linalg.eigvals(a + np.outer(np.sqrt(i + 0.5), np.sqrt(i + 0.5)))
    np.testing.assert_allclose(eig.real, -0.5, atol=1e-6)
    lam = -np.exp(_np(layer.lambda_re_log)) + 1j * _np(layer.lambda_im)
    np.testing.assert_allclose(lam.real, -0.5, rtol=1e-6)
    np.testing.assert_allclose(np.sort(lam.imag), np.sort(eig.imag), rtol=1e-5, atol=1e-4)
    log_dt = _np(layer.log_step)
    assert math.log(dt_min) - 1e-6 <= log_dt.min() and log_dt.max() <= math.log(dt_max) + 1e-6
    # log Delta uniform: its mean within 4 standard errors of the middle
    width = math.log(dt_max / dt_min)
    assert abs(log_dt.mean() - math.log(dt_min * dt_max) / 2) < 4 * width / math.sqrt(12 * n)
    assert np.all(np.abs(s5_numpy(layer)[0]) < 1)
    # B = V^H B0 with unitary V keeps the Frobenius norm of B0, whose entries have variance 1 / d_state
    b = _np(layer.B_re) + 1j * _np(layer.B_im)
    assert np.mean(np.abs(b) ** 2) == pytest.approx(1 / n, rel=0.3)


def test_s5_zoh_guard_at_lambda_zero():
    layer = S5(D, N, rngs=nnx.Rngs(0))
    layer.lambda_re_log[...] = jnp.full((N,), -40.0)  # Re(Lambda) ~ -4e-18
    layer.lambda_im[...] = jnp.zeros(N).at[2].set(1.0).at[5].set(2.0)

    def loss(m):
        lam_bar, b_bar = m.discrete()
        return jnp.sum(jnp.abs(lam_bar)) + jnp.sum(jnp.abs(b_bar) ** 2), (lam_bar, b_bar)

    (_, (lam_bar, b_bar)), grads = nnx.jit(nnx.value_and_grad(loss, has_aux=True))(layer)
    dt = np.exp(_np(layer.log_step))
    b = _np(layer.B_re) + 1j * _np(layer.B_im)
    zero = np.array([0, 1, 3, 4, N - 1])
    np.testing.assert_allclose(lam_bar[zero], 1.0, atol=1e-6)
    np.testing.assert_allclose(b_bar[zero], dt[zero, None] * b[zero], rtol=1e-5)  # the Lambda -> 0 limit
    for k in (2, 5):  # Lambda = i omega: the exact formula
        z = 1j * layer.lambda_im[k] * dt[k]
        np.testing.assert_allclose(b_bar[k], dt[k] * (np.exp(z) - 1) / z * b[k], rtol=1e-4)
    for path, g in nnx.to_flat_state(grads):
        assert np.all(np.isfinite(np.asarray(g[...]))), path


# -- bad input ---------------------------------------------------------------------------------


def _lru(**kw):
    return LRU(D, N, rngs=nnx.Rngs(0), **kw)


def _s5(**kw):
    return S5(D, N, rngs=nnx.Rngs(0), **kw)


class Width3(nnx.Module):
    """A stand-in sequence layer of width 3 (nothing to initialise)."""

    d_model = 3

    def init_state(self, batch_shape=()):
        return {}

    def __call__(self, x, state):
        return x, state

    def parallel(self, x, *, return_states=False):
        return x


RING = r"\(0 <= r_min < r_max < 1\)"
BAD = [
    (lambda: _lru(r_max=1.0), ValueError, rf"`r_max` must be below 1 {RING}.*\|lambda\| >= 1 is unstable"),
    (lambda: _lru(r_min=-0.1), ValueError, rf"`r_min` must be >= 0 {RING}, got r_min=-0.1"),
    (lambda: _lru(r_min=0.9, r_max=0.5), ValueError, r"`r_min` must be below `r_max`.*r_min=0.9, r_max=0.5"),
    (lambda: _lru(r_max=float("nan")), ValueError, r"`r_max` must be finite, got nan"),
    (lambda: _lru(r_min="0"), TypeError, r"`r_min` must be a real number, got str"),
    (lambda: _lru(max_phase=7.0), ValueError, r"`max_phase` must lie in \(0, 2 pi\], got 7.0"),
    (lambda: LRU(0, rngs=nnx.Rngs(0)), ValueError, r"`d_model` must be a positive int, got 0"),
    (lambda: LRU(D, 2.5, rngs=nnx.Rngs(0)), ValueError, r"`d_state` must be a positive int, got 2.5"),
    (lambda: LRU(D, rngs=0), TypeError, r"`rngs` must be an nnx.Rngs .*, got int"),
    (lambda: _lru(use_skip=1), TypeError, r"`use_skip` must be a bool, got int"),
    (lambda: _s5(dt_min=0.0), ValueError, r"`dt_min` must be positive \(0 < dt_min <= dt_max\), got 0.0"),
    (lambda: _s5(dt_min=0.2, dt_max=0.1), ValueError, r"`dt_max` must be >= `dt_min`.*=0.2, dt_max=0.1"),
    (lambda: _s5(dt_max=float("inf")), ValueError, r"`dt_max` must be finite, got inf"),
    (lambda: S5(D, 0, rngs=nnx.Rngs(0)), ValueError, r"`d_state` must be a positive int, got 0"),
    (lambda: ChunkedSSM(_lru(), nnx.Dropout(0.5), chunk_size=2), TypeError,
     r"`outer` must be a sequence layer .*, got Dropout"),
    (lambda: ChunkedSSM(lambda x: x, _lru(), chunk_size=2), TypeError, r"`inner` must be a sequence layer"),
    (lambda: ChunkedSSM(_lru(), Width3(), chunk_size=2), ValueError,
     r"`outer` must have the d_model of `inner` \(4\).*got d_model=3"),
    (lambda: ChunkedSSM(_lru(), _lru(), chunk_size=0), ValueError, r"`chunk_size` must be a positive int"),
    (lambda: ChunkedSSM(_lru(), _lru(), chunk_size=2, pool="max"), ValueError,
     r"`pool` must be one of \['mean', 'last'\], got 'max'"),
    (lambda: ChunkedSSM(_lru(), _lru(), chunk_size=2, blend_init=jnp.ones(3)), ValueError,
     r"`blend_init` must be a scalar or broadcast to the layer shape \(4,\), got an array of shape \(3,\)"),
]


@pytest.mark.parametrize(("make", "exc", "match"), BAD)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_inputs_name_the_argument():
    lru = _lru()
    chunked = ChunkedSSM(_lru(), _lru(), chunk_size=2)
    s2 = lru.init_state(2)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\), got \(2, 3\)"):
        lru(jnp.ones((2, 3)), s2)
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\) with the state's batch shape "
                       r"\(2,\), got \(3, 4\)"):
        lru(jnp.ones((3, 4)), s2)
    with pytest.raises(ValueError, match=r"`state` must be a dict with keys \['h'\] \(from LRU.init_state\)"):
        lru(jnp.ones((2, 4)), {"v": s2["h"]})
    keys = r"\['inner', 'outer', 'acc', 'pos', 'ctx'\]"
    with pytest.raises(ValueError, match=rf"`state` must be a dict with keys {keys} \(from ChunkedSSM"):
        chunked(jnp.ones((2, 4)), s2)
    with pytest.raises(ValueError, match=r"`x` must have shape \(T, \*batch, 4\) with time first, got \(4,"):
        lru.parallel(jnp.ones(4))
    with pytest.raises(ValueError, match=r"`x` must have shape \(\*batch, 4\), got \(5, 2, 3\)"):
        chunked.parallel(jnp.ones((5, 2, 3)))
    with pytest.raises(TypeError, match=r"`x` must be a real array, got dtype complex64"):
        lru.parallel(jnp.ones((5, 2, 4), jnp.complex64))
    with pytest.raises(snnx.ShapeError, match=r"layer 0 \(LRU\) expects per-sample shape \(4,\), "
                       r"got per-sample shape \(5,\)"):
        Sequential(lru, input_shape=(5,))
