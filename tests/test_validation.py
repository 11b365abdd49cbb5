"""The validation table: one bad call per public entry point, and the message it must give.

Every name in ``snnx.__all__`` and in the subpackages' ``__all__`` has a row (or
is listed in ``NOT_CALLABLE`` with the reason). Each row is a call with one bad
argument and the ``match=`` regex of the expected ``ValueError``/``TypeError``
(``NIRError`` is a ``ValueError``): the message names the argument (in
backticks or as the field), and says what was expected and what arrived.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnx
from snnx import encoders as E
from snnx import layers as L
from snnx import losses, metrics
from snnx import neurons as N
from snnx import phasor as PH
from snnx import ssm as SSM
from snnx import surrogate as S
from snnx.engine import Graph, Sequential, run
from snnx.nir import NIRError, from_nir, read, to_nir, write

OUT = jnp.zeros((4, 2, 3))  # (T, B, C)
Y = jnp.zeros((2,), jnp.int32)
KEY = jax.random.key(0)


def _rngs():
    return nnx.Rngs(0)


def _model():
    return Sequential(nnx.Linear(3, 2, rngs=_rngs()), N.LIF(2))


def _fit(**kw):
    import snnx.train

    args = {"epochs": 1, "batch_size": 2}
    args.update(kw)
    x, y = np.zeros((4, 4, 3), np.float32), np.zeros((4,), np.int32)
    return snnx.train.fit(
        _model(), optax.sgd(0.1), losses.max_membrane_cross_entropy, (x, y), progress=False, **args
    )


def _train(name):
    return getattr(importlib.import_module("snnx.train"), name)


def _options():
    from snnx.engine import Options

    return Options(fused=False)


def _datasets(name):
    return getattr(importlib.import_module("snnx.datasets"), name)


# (entry point, call, exception, regex naming the argument)
TABLE = [
    # neurons: shape, decays in [0, 1], reset, per-unit parameter shapes
    ("LIF", lambda: N.LIF(0), ValueError, r"`shape`.*positive.*got 0$"),
    ("LIF.beta", lambda: N.LIF(3, beta=1.5), ValueError, r"`beta`.*\[0, 1\].*1\.5"),
    ("LIF.reset", lambda: N.LIF(3, reset="half"), ValueError, r"`reset`.*one of.*'half'"),
    ("LIF.threshold", lambda: N.LIF(3, threshold=[1.0, 2.0]), ValueError, r"`threshold`.*\(3,\).*\(2,\)"),
    ("IF", lambda: N.IF((2, -1)), ValueError, r"`shape`.*\(2, -1\)"),
    ("LI", lambda: N.LI(3, beta=-0.1), ValueError, r"`beta`.*\[0, 1\]"),
    ("I", lambda: N.I("three"), ValueError, r"`shape`.*'three'"),
    ("CuBaLIF", lambda: N.CuBaLIF(3, alpha=2.0), ValueError, r"`alpha`.*\[0, 1\]"),
    ("CuBaLI", lambda: N.CuBaLI(3, beta=float("nan")), ValueError, r"`beta`.*finite.*nan"),
    ("ALIF", lambda: N.ALIF(3, gamma=1.5), ValueError, r"`gamma`.*\[0, 1\]"),
    ("RIF", lambda: N.RIF((2, 2), rngs=_rngs()), (ValueError, TypeError), r"`shape`.*int"),
    ("RLIF", lambda: N.RLIF(3, beta=3.0, rngs=_rngs()), ValueError, r"`beta`.*\[0, 1\]"),
    ("RCuBaLIF", lambda: N.RCuBaLIF(0, rngs=_rngs()), ValueError, r"`shape`"),
    ("PSU_LIF", lambda: N.PSU_LIF(3, beta=1.2), ValueError, r"`beta`.*\[0, 1\]"),
    ("ResonateFire", lambda: N.ResonateFire(3, lam=-1.0), ValueError, r"`lam`"),
    ("Neuron", lambda: N.Neuron(-2), ValueError, r"`shape`"),
    ("Const", lambda: N.LIF(3, trainable=("gamma",)), ValueError, r"`trainable`.*'gamma'"),
    (
        "LIF.__call__",
        lambda: N.LIF(3)(jnp.zeros((2, 4)), N.LIF(3).init_state(2)),
        ValueError,
        r"`x`.*\(\*batch, 3\).*\(2, 4\)",
    ),
    ("LIF.init_state", lambda: N.LIF(3).init_state(-1), ValueError, r"`batch_shape`"),
    # neurons beyond the core (the model zoo)
    ("SigmaDelta", lambda: N.SigmaDelta(3, threshold=-0.1), ValueError, r"`threshold` must be >= 0"),
    ("Alpha", lambda: N.Alpha(3, alpha=0.7, beta=0.8), ValueError, r"`alpha` must be greater than `beta`"),
    ("Lapicque", lambda: N.Lapicque(3, R=1.0, C=1e-3, dt=2e-3), ValueError, r"`dt` must lie in \(0, R\*C\]"),
    ("Lapicque.from_beta", lambda: N.Lapicque.from_beta(3, beta=0.2), ValueError,
     r"`beta` must lie in \[exp\(-1\), 1\)"),
    ("LIFRefrac", lambda: N.LIFRefrac(3, refractory=-1), ValueError, r"`refractory` must be an int >= 0"),
    ("PSU_LIF.from_snntorch", lambda: N.PSU_LIF.from_snntorch(3, beta=1.5), ValueError,
     r"`beta` must lie in \[0, 1\]"),
    ("ExpLIF", lambda: N.ExpLIF(3, delta_t=0.0), ValueError, r"`delta_t` must be > 0"),
    ("AdEx", lambda: N.AdEx(3, gamma=1.5), ValueError, r"`gamma` must lie in \[0, 1\]"),
    ("Izhikevich", lambda: N.Izhikevich(3, h=2.0), ValueError, r"`h` must lie in \(0, 1\]"),
    ("CobaLIF", lambda: N.CobaLIF(3, alpha_e=-0.1), ValueError, r"`alpha_e` must lie in \[0, 1\]"),
    ("RALIF", lambda: N.RALIF(3, gamma=1.5, rngs=_rngs()), ValueError, r"`gamma` must lie in \[0, 1\]"),
    ("SLSTM", lambda: N.SLSTM(3, 4, reset="soft", rngs=_rngs()), ValueError,
     r"`reset` must be one of \['zero', 'subtract', 'none'\], got 'soft'"),
    ("SConvLSTM", lambda: N.SConvLSTM(2, 3, (3, 3, 3), rngs=_rngs()), ValueError,
     r"`kernel_size` must be an int or a pair \(kh, kw\)"),
    ("LIF.inhibition", lambda: N.LIF(3, inhibition="yes"), TypeError,
     r"`inhibition` must be a bool, got str"),
    ("LIF.graded_spikes_factor", lambda: N.LIF(3, graded_spikes_factor=float("nan")), ValueError,
     r"`graded_spikes_factor` must be finite"),
    ("FixedPoint", lambda: N.FixedPoint(1, -1.0, 1.0), ValueError,
     r"`bits` of FixedPoint must be an int in \[2, 16\], got 1"),
    ("FixedPoint.range", lambda: N.FixedPoint(8, 0.5, 2.0), ValueError,
     r"\[`lo`, `hi`\] of FixedPoint must contain 0"),
    ("LIF.state_quant", lambda: N.LIF(3, state_quant=8), TypeError,
     r"`state_quant` must be None or a snnx.neurons.FixedPoint\(bits, lo, hi\), got int"),
    # sequence layers
    ("LRU", lambda: SSM.LRU(4, 8, r_max=1.0, rngs=_rngs()), ValueError,
     r"`r_max` must be below 1 \(0 <= r_min < r_max < 1\)"),
    ("S5", lambda: SSM.S5(4, 8, dt_min=0.2, dt_max=0.1, rngs=_rngs()), ValueError,
     r"`dt_max` must be >= `dt_min`"),
    ("ChunkedSSM", lambda: SSM.ChunkedSSM(nnx.Dropout(0.5), nnx.Dropout(0.5), chunk_size=2), TypeError,
     r"`inner` must be a sequence layer"),
    ("Mamba", lambda: SSM.Mamba(8, dt_min=0.2, dt_max=0.1, rngs=_rngs()), ValueError,
     r"`dt_min` \(=0\.2\) must not exceed `dt_max` \(=0\.1\)"),
    ("MambaBlock", lambda: SSM.MambaBlock(8, d_conv=0, rngs=_rngs()), ValueError,
     r"`d_conv` must be a positive int, got 0"),
    # phasor networks
    ("PhasorLinear", lambda: PH.PhasorLinear(0, 2, rngs=_rngs()), ValueError, r"`in_features`"),
    ("PhasorActivation", lambda: PH.PhasorActivation(eps=0.0), ValueError, r"`eps`"),
    ("PhasorReadout", lambda: PH.PhasorReadout(3, 0, rngs=_rngs()), ValueError, r"`out_features`"),
    ("PhasorMLP", lambda: PH.PhasorMLP(3, 4, 2, depth=0, rngs=_rngs()), ValueError, r"`depth`"),
    ("SpikingPhasor", lambda: PH.SpikingPhasor(PH.PhasorLinear(3, 2, rngs=_rngs()), period=0), ValueError,
     r"`period`"),
    ("phase_to_spikes", lambda: PH.phase_to_spikes(jnp.zeros(3), 0), ValueError, r"`period`"),
    ("spikes_to_phase", lambda: PH.spikes_to_phase(jnp.zeros((6, 2)), 4), ValueError,
     r"`spikes`.*`period` \(=4\)"),
    ("spikes_to_phasor", lambda: PH.spikes_to_phasor(jnp.zeros((4, 2)), 2.5), ValueError, r"`period`"),
    ("real_to_phasor", lambda: PH.real_to_phasor(jnp.zeros(2), scale=0.0), ValueError, r"`scale`"),
    ("phasor_to_value", lambda: PH.phasor_to_value(jnp.zeros(2, jnp.complex64), -1.0), ValueError,
     r"`scale`"),
    ("phasor_to_real", lambda: PH.phasor_to_real(jnp.zeros(2)), TypeError, r"`z` must be complex"),
    ("phase_of", lambda: PH.phase_of(jnp.zeros(2)), TypeError, r"`z` must be complex"),
    # layers
    ("Flatten", lambda: L.Flatten(order="whc"), ValueError, r"`order`.*'whc'"),
    ("Deferred", lambda: L.Deferred(3), TypeError, r"`factory`.*callable.*int"),
    ("SumPool", lambda: L.SumPool(0), ValueError, r"`window_shape`"),
    ("AvgPool", lambda: L.AvgPool(2, padding="FULL"), ValueError, r"`padding`.*'FULL'"),
    ("MaxPool", lambda: L.MaxPool(2, padding=2)(jnp.zeros((1, 4, 4, 1))), ValueError, r"`padding`.*\(2, 2\)"),
    ("Delay", lambda: L.Delay(3, -1), ValueError, r"`steps`.*-1"),
    ("Scale", lambda: L.Scale(3, [1.0, 2.0]), ValueError, r"`scale`.*\(3,\)"),
    ("Threshold", lambda: L.Threshold(0), ValueError, r"`shape`"),
    # engine
    ("Sequential", lambda: Sequential(3), TypeError, r"`layers\[0\]`.*int"),
    (
        "Sequential.input_shape",
        lambda: Sequential(N.LIF(), input_shape=(0, 3)),
        ValueError,
        r"`input_shape`.*\(0, 3\)",
    ),
    (
        "Sequential.shapes",
        lambda: Sequential(nnx.Linear(3, 4, rngs=_rngs()), nnx.Linear(5, 2, rngs=_rngs()), input_shape=(3,)),
        ValueError,
        r"layer 1 \(Linear\) expects inputs ending in 5 features, got per-sample shape \(4,\) from layer 0",
    ),
    (
        "Graph",
        lambda: Graph({"a": L.Scale(3)}, [("in", "a"), ("a", "ghost")], inputs="in", outputs="out"),
        ValueError,
        r"'ghost'",
    ),
    ("run", lambda: run(_model(), jnp.zeros((4, 2, 3)), time_axis=2), ValueError, r"`time_axis`.*2"),
    ("run.x", lambda: run(_model(), jnp.zeros((4, 2, 5))), ValueError, r"`x`.*\(2, 5\)|`x`.*5"),
    (
        "run.engine",
        lambda: run(_model(), jnp.zeros((4, 2, 3)), engine="fast"),
        ValueError,
        r"`engine`.*'fast'",
    ),
    ("run.options", lambda: run(_model(), OUT, options="fast"), TypeError, r"`options`.*str"),
    ("plan", lambda: snnx.engine.plan(_model(), jnp.zeros((4,))), ValueError, r"`x`.*\(4,\)"),
    ("Options", lambda: snnx.engine.Options(engine="fast"), ValueError, r"`engine`.*'fast'"),
    ("Options.unroll", lambda: snnx.engine.Options(unroll=-2), ValueError, r"`unroll`.*-2"),
    # NIR
    ("from_nir", lambda: from_nir("missing.nir", dt=1e-3), NIRError, r"missing\.nir.*does not exist"),
    ("from_nir.dt", lambda: from_nir("missing.nir", dt=-1.0), ValueError, r"`dt`.*-1"),
    ("from_nir.reset", lambda: from_nir("x.nir", dt=1e-3, reset="one"), ValueError, r"`reset`.*'one'"),
    ("to_nir", lambda: to_nir(_model(), (3,), dt=0), ValueError, r"`dt`.*0"),
    ("to_nir.input_shape", lambda: to_nir(_model(), (0,), dt=1e-3), (ValueError, NIRError), r"`input_shape`"),
    ("read", lambda: read("missing.nir"), NIRError, r"missing\.nir.*does not exist"),
    ("write", lambda: write("x.nir", {"nodes": {}}), TypeError, r"`graph`.*dict"),
    ("NIRError", lambda: from_nir(42, dt=1e-3), TypeError, r"`graph_or_path`.*int"),
    ("from_nir.dialect", lambda: from_nir("x.nir", 1e-3, dialect="brian"), ValueError, r"`dialect`.*'brian'"),
    ("dialects", lambda: snnx.nir.dialects(1), TypeError, r"positional argument"),
    ("convert", lambda: snnx.nir.convert("x.nir", "nir", 1e-3), ValueError, r"`dialect`.*'nir' needs no"),
    ("convert.dt", lambda: snnx.nir.convert("x.nir", "spyx", 0.0), ValueError, r"`dt`.*0"),
    ("PeerNeuron", lambda: snnx.nir.PeerNeuron(3, 0.9, 1.0, test="=="), ValueError, r"`test`.*'=='"),
    ("write.compat", lambda: write("x.nir", snnx.nir.to_nir(_model(), (3,), 1e-3), compat="old"), ValueError,
     r"`compat`.*'old'"),
    # losses
    (
        "spike_count_cross_entropy",
        lambda: losses.spike_count_cross_entropy(OUT, jnp.zeros(3, jnp.int32)),
        ValueError,
        r"`targets`.*shape \(2,\).*got int32 array of shape \(3,\)",
    ),
    (
        "max_membrane_cross_entropy",
        lambda: losses.max_membrane_cross_entropy(OUT, Y, label_smoothing=1.5),
        ValueError,
        r"`label_smoothing`.*1\.5",
    ),
    ("spike_rate_mse", lambda: losses.spike_rate_mse(OUT, Y, on_rate=2.0), ValueError, r"`on_rate`.*2"),
    (
        "first_spike_cross_entropy",
        lambda: losses.first_spike_cross_entropy(OUT, Y, temperature=0.0),
        ValueError,
        r"`temperature`.*0",
    ),
    ("silence_penalty", lambda: losses.silence_penalty(OUT, -0.5), ValueError, r"`min_rate`.*-0\.5"),
    ("sparsity_penalty", lambda: losses.sparsity_penalty(OUT, 0.1, time_axis=5), ValueError, r"`time_axis`"),
    # metrics
    (
        "integral_accuracy",
        lambda: metrics.integral_accuracy(OUT, jnp.zeros((2,), jnp.float32)),
        ValueError,
        r"`targets`.*integer.*float32",
    ),
    (
        "max_membrane_accuracy",
        lambda: metrics.max_membrane_accuracy(jnp.zeros((4, 3)), Y),
        ValueError,
        r"`outputs`",
    ),
    (
        "first_spike_accuracy",
        lambda: metrics.first_spike_accuracy(OUT, Y, time_axis=3),
        ValueError,
        r"`time_axis`",
    ),
    (
        "first_spike_times",
        lambda: metrics.first_spike_times(
            jnp.zeros(()),
        ),
        ValueError,
        r"`spikes`",
    ),
    # encoders
    ("rate", lambda: E.rate(KEY, jnp.zeros(3), 0), ValueError, r"`num_steps`.*0"),
    ("latency", lambda: E.latency(jnp.zeros(3), 0), ValueError, r"`num_steps`.*0"),
    ("delta", lambda: E.delta(jnp.zeros((4, 3)), -0.1), ValueError, r"`threshold`.*-0\.1"),
    ("population", lambda: E.population(jnp.zeros(3), 0, low=0.0, high=1.0), ValueError, r"`num_neurons`.*0"),
    ("time_shift", lambda: E.time_shift(KEY, jnp.zeros((4, 3)), -1), ValueError, r"`max_shift`.*-1"),
    ("pack_spikes", lambda: E.pack_spikes(jnp.zeros((4, 3)), axis=4), ValueError, r"`axis`.*4"),
    (
        "unpack_spikes",
        lambda: E.unpack_spikes(jnp.zeros((1, 3), jnp.uint8), 9),
        ValueError,
        r"`num_steps`.*9",
    ),
    # surrogates
    ("Surrogate", lambda: S.Surrogate("x", 3.0), TypeError, r"`derivative`"),
    ("get", lambda: S.get("banana"), ValueError, r"`(spec|surrogate)`.*'banana'"),
    ("arctan", lambda: S.arctan(0.0), ValueError, r"`k`.*0"),
    ("boxcar", lambda: S.boxcar(width=-1.0), ValueError, r"`width`.*-1"),
    ("custom", lambda: S.custom(3), TypeError, r"`fn`"),
    ("fast_sigmoid", lambda: S.fast_sigmoid(-2.0), ValueError, r"`k`.*-2"),
    ("heaviside", lambda: S.heaviside("x"), TypeError, r"`x`"),
    ("sigmoid", lambda: S.sigmoid(float("inf")), ValueError, r"`k`"),
    ("straight_through", lambda: S.straight_through(1.0), TypeError, r"argument|straight_through"),
    ("superspike", lambda: S.superspike(0), ValueError, r"`k`"),
    ("tanh", lambda: S.tanh(-1), ValueError, r"`k`"),
    ("triangular", lambda: S.triangular(0), ValueError, r"`k`"),
    # training
    ("fit", lambda: _fit(epochs=-1), ValueError, r"`epochs`.*-1"),
    ("fit.batch_size", lambda: _fit(batch_size=0), ValueError, r"`batch_size`.*0"),
    (
        "fit.train_data",
        lambda: _train("fit")(
            _model(), optax.sgd(0.1), losses.max_membrane_cross_entropy, np.zeros(3), epochs=1
        ),
        TypeError,
        r"`train_data`",
    ),
    ("fit.resume", lambda: _fit(resume=True), ValueError, r"`resume=True`.*`checkpoint_dir`"),
    ("fit.sync_every", lambda: _fit(sync_every=0), ValueError, r"`sync_every`.*0"),
    (
        "fit.options",
        lambda: _fit(forward=_train("default_forward"), options=_options()),
        ValueError,
        r"`forward` and `options`",
    ),
    (
        "make_train_step",
        lambda: _train("make_train_step")(losses.max_membrane_cross_entropy, forward=run, options=_options()),
        ValueError,
        r"`forward` and `options` were both given",
    ),
    (
        "make_train_step.options",
        lambda: _train("make_train_step")(losses.max_membrane_cross_entropy, options={"fused": False}),
        TypeError,
        r"`options`.*Options.*dict",
    ),
    ("make_eval_step", lambda: _train("make_eval_step")("mse"), TypeError, r"`loss_fn`.*str"),
    (
        "make_eval_step.num_steps",
        lambda: _train("make_eval_step")(losses.max_membrane_cross_entropy, num_steps=0),
        ValueError,
        r"`num_steps`.*0",
    ),
    (
        "evaluate",
        lambda: _train("evaluate")(
            _model(), losses.max_membrane_cross_entropy, (np.zeros((4, 4, 3)), np.zeros(4)), batch_size=0
        ),
        ValueError,
        r"`batch_size`.*0",
    ),
    (
        "default_forward",
        lambda: _train("default_forward")(_model(), jnp.zeros((4, 2, 7))),
        ValueError,
        r"`x`",
    ),
    (
        "Checkpointer",
        lambda: _train("Checkpointer")("/tmp/x", max_to_keep=0),
        ValueError,
        r"`max_to_keep`.*0",
    ),
    ("restore", lambda: _train("restore")("/nonexistent/ckpt", _model()), FileNotFoundError, r"`directory`"),
    ("Placement", lambda: _train("Placement")("data"), ValueError, r"`mesh`.*'auto'.*got 'data'"),
    ("Placement.mesh", lambda: _train("Placement")(None), TypeError, r"`mesh`.*got None"),
    (
        "Placement.param_sharding",
        lambda: _train("Placement")(1, {"kernel": ("data",)}),
        TypeError,
        r"`param_sharding\['kernel'\]`.*PartitionSpec.*tuple",
    ),
    ("TrainingDivergedError", lambda: _fit(seed="a"), TypeError, r"`seed`.*'a'"),
    ("TrainingInterrupted", lambda: _fit(checkpoint_every=0), ValueError, r"`checkpoint_every`.*0"),
    # datasets
    ("digits", lambda: _datasets("digits")(encoding="morse"), ValueError, r"`encoding`.*'morse'"),
    ("digits_images", lambda: _datasets("digits_images")(process_count=0), ValueError, r"`process_count`"),
    (
        "load_heidelberg",
        lambda: _datasets("load_heidelberg")("/nonexistent.h5"),
        (FileNotFoundError, ValueError),
        r"`path`|nonexistent",
    ),
    (
        "shd",
        lambda: _datasets("shd")("/nonexistent.h5", num_steps=0),
        (ValueError, FileNotFoundError),
        r"`num_steps`|`path`",
    ),
    (
        "ssc",
        lambda: _datasets("ssc")("/nonexistent.h5"),
        (FileNotFoundError, ValueError),
        r"`path`|nonexistent",
    ),
    (
        "nmnist",
        lambda: _datasets("nmnist")("/tmp", downsample=0),
        (ValueError, ImportError),
        r"`downsample`|tonic",
    ),
    (
        "dvs_gesture",
        lambda: _datasets("dvs_gesture")("/tmp", num_steps=0),
        (ValueError, ImportError),
        r"`num_steps`|tonic",
    ),
    ("download", lambda: _datasets("download")("gopher://x", "/tmp/x"), ValueError,
     r"`url` must be an http, https or file URL, got 'gopher://x'"),
    ("fetch", lambda: _datasets("fetch")("mnist"), ValueError,
     r"`name` must be one of \['shd', 'ssc'\], got 'mnist'"),
    ("EventFrames", lambda: _datasets("EventFrames")("cifar", "/tmp"), ValueError,
     r"`name` must be one of 'nmnist', 'dvs_gesture', got 'cifar'"),
    ("HeidelbergSource", lambda: _datasets("HeidelbergSource")("/x.h5", num_steps=0), ValueError,
     r"`num_steps` must be >= 1, got 0"),
    ("ArraySource", lambda: _datasets("ArraySource")(np.zeros(3), np.zeros(3)), ValueError,
     r"`x` must be time-major with shape \(T, N, \.\.\.\), got shape \(3,\)"),
    ("PackedCache", lambda: _datasets("PackedCache")(_datasets("ArraySource")(np.zeros((2, 3)), np.zeros(3)),
                                                     "/x"),
     ValueError, r"`source` ArraySource must be bit-packed, with `num_steps` and `sample_shape`"),
    ("Loader", lambda: _datasets("Loader")(_datasets("ArraySource")(np.zeros((2, 3)), np.zeros(3)), 0),
     ValueError, r"`batch_size` must be >= 1, got 0"),
    # recording and activity
    ("run.record", lambda: run(Sequential(N.LIF(3)), jnp.ones((2, 1, 3)), record="nope"), ValueError,
     r"`record` names no layer 'nope'; available layers: '0' \(LIF\)"),
    ("layer_keys", lambda: snnx.engine.layer_keys(5), TypeError, r"`model` must be a module.*got int"),
    ("Population", lambda: L.Population(3)(jnp.zeros((2, 7))), ValueError, r"size 7.*`num_classes` \(=3\)"),
    ("l1_rate_penalty", lambda: losses.l1_rate_penalty({"1": {"v": OUT}}), TypeError,
     r"`activity\['1'\]` must be a spikes array"),
    ("l2_rate_penalty", lambda: losses.l2_rate_penalty(OUT, per_layer="yes"), TypeError,
     r"`per_layer` must be a bool"),
    ("target_rate_penalty", lambda: losses.target_rate_penalty({"1": OUT}, {"2": 0.1}), ValueError,
     r"`rate` must give a bound for exactly the layers \['1'\]"),
    ("population_cross_entropy", lambda: losses.population_cross_entropy(OUT, Y, 2), ValueError,
     r"`outputs` \(size 3\).*`num_classes` \(=2\)"),
    ("population_accuracy", lambda: metrics.population_accuracy(OUT, Y, 0), ValueError,
     r"`num_classes` must be a positive int, got 0"),
    # plots
    ("raster", lambda: snnx.plot.raster(jnp.zeros(5)), ValueError,
     r"`spikes` must have shape \(T, B.*got shape \(5,\)"),
    ("traces", lambda: snnx.plot.traces(OUT, sample=5), ValueError, r"`sample` must be in \[0, 2\).*got 5"),
    ("rate_histogram", lambda: snnx.plot.rate_histogram({"1": {"v": OUT}}), TypeError,
     r"`activity\['1'\]` must be an array.*got dict"),
    ("input_output", lambda: snnx.plot.input_output(jnp.zeros(3), OUT), ValueError,
     r"`x` must have shape.*\(3,\)"),
    ("animate", lambda: snnx.plot.animate(OUT, "/tmp/a.avi"), ValueError,
     r"`path` must end in .gif or .mp4.*'.avi'"),
    ("graph", lambda: snnx.plot.graph(5), TypeError, r"`g` must be a nir.NIRGraph or the path.*got int"),
    # cost metrics
    ("measure", lambda: snnx.stats.measure(Sequential(lambda x: 2 * x), jnp.ones((2, 1, 3))), TypeError,
     r"layer '0' is the plain function '<lambda>', whose cost is unknown"),
]

# Public names that are not called with arguments a user could get wrong (with the reason).
NOT_CALLABLE = {
    "Plan": "a record returned by snnx.engine.plan (tests/test_engine_plan.py)",
    "Step": "a record inside a Plan (tests/test_engine_plan.py)",
    "Recording": "a record returned by run(..., record=...) (tests/test_record.py)",
    "is_stateful": "a predicate: any object is a valid argument (False when it has no init_state)",
    "ArgumentTypeError": "an error type (raised by the validators: tests/test_checks.py)",
    "OptionError": "an error type (raised by the validators: tests/test_checks.py)",
    "ShapeError": "an error type (raised by the validators: tests/test_checks.py)",
    "exportable_types": "takes no arguments (its contents: tests/test_nir_export.py)",
    "refused_types": "takes no arguments (its contents: tests/test_nir_export.py)",
    "datasets": "subpackage (its functions have rows)",
    "DataError": "an error type (raised by Loader when a source fails: tests/test_loader.py)",
    "ChecksumError": "an error type (raised by download: tests/test_datasets_download.py)",
    "DownloadError": "an error type (raised by download: tests/test_datasets_download.py)",
    "OfflineError": "an error type (raised by download: tests/test_datasets_download.py)",
    "encoders": "subpackage",
    "augment": "subpackage (each function's bad arguments: tests/test_augment.py)",
    "evolve": "subpackage (ES and evolve errors: tests/test_evolve.py)",
    "plasticity": "subpackage (STDP, RSTDP, train_stdp errors: tests/test_plasticity.py)",
    "quant": "subpackage (ptq, qat, Rule, convert errors: tests/test_quant.py)",
    "export": "subpackage (to_onnx, to_stablehlo errors: tests/test_export.py)",
    "layers": "subpackage",
    "plot": "subpackage (its functions have rows)",
    "stats": "subpackage (its functions have rows)",
    "LayerStats": "a record inside a Report (tests/test_stats.py)",
    "Report": "a record returned by snnx.stats.measure (tests/test_stats.py)",
    "losses": "subpackage",
    "metrics": "subpackage",
    "neurons": "subpackage",
    "nir": "subpackage",
    "phasor": "subpackage (its functions and layers have rows)",
    "ssm": "subpackage (its layers have rows)",
    "surrogate": "subpackage",
    "train": "subpackage",
}


@pytest.mark.parametrize(("name", "call", "exc", "match"), TABLE, ids=[row[0] for row in TABLE])
def test_bad_argument_is_named(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _public_names():
    names = set(snnx.__all__)
    for sub in (
        "neurons",
        "layers",
        "engine",
        "nir",
        "losses",
        "metrics",
        "encoders",
        "surrogate",
        "train",
        "datasets",
        "plot",
        "stats",
        "ssm",
        "phasor",
    ):
        names |= set(importlib.import_module(f"snnx.{sub}").__all__)
    return names


def test_every_public_entry_point_has_a_row():
    covered = {row[0].split(".")[0] for row in TABLE} | set(NOT_CALLABLE)
    missing = sorted(_public_names() - covered)
    assert not missing, f"public names without a validation row: {missing}"
