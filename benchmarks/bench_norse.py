"""Norse side of the benchmark (runs in the peers' environment).

Norse style: stateless layers see the whole ``(T, B, ...)`` sequence at once (as
in ``norse.torch.SequentialState``), and the neuron cells (``LIFBoxCell``
with ``tau_mem_inv = 100``, ``dt = 1e-3``, i.e. a decay of 0.9 per step;
``IAFCell``; ``LIBoxCell``; ``LIFRecurrentCell`` for the recurrent layer, which
also holds the input weights) are stepped in a Python loop. No
rematerialisation: ``long1000_remat`` is reported as unsupported.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C
import _torch_common as TC


def _loop(cell, xs):
    """Step ``cell`` over the leading (time) axis of ``xs``; stack the outputs."""
    import torch

    state, out = None, []
    for t in range(xs.shape[0]):
        z, state = cell(xs[t], state)
        out.append(z)
    return torch.stack(out)


def _merge(f, x):
    """Apply a per-sample layer ``f`` to ``x[T, B, ...]`` as one batch of ``T * B``."""
    y = f(x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]))
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


# Norse's LIF/LI box cells add ``dt * tau_mem_inv * input`` (0.1 here) to the
# membrane; weights feeding them are scaled by the inverse so that the
# dynamics match the other frameworks' ``v = 0.9 v + x``.
GAIN_FIX = 10.0


def build(torch, s: dict):
    import norse.torch as nt

    nn = torch.nn
    w = C.weights(s)
    for k in ("w1", "b1", "w2", "b2", "w_rec", "fc", "b_fc"):
        if k in w:
            w[k] = (w[k] * GAIN_FIX).astype("float32")

    if s["kind"] == "conv":
        layers = C.conv_shapes(s)["layers"]

        def sum_pool(a):
            return torch.nn.functional.avg_pool2d(a, C.POOL) * C.POOL**2

        class Conv(nn.Module):
            def __init__(self):
                super().__init__()
                self.convs = nn.ModuleList(
                    TC.conv(torch, w[f"conv{i}"], w[f"b_conv{i}"], L["stride"])
                    for i, L in enumerate(layers, 1)
                )
                self.ifs = nn.ModuleList(nt.IAFCell() for _ in layers)
                self.fc = TC.linear(torch, w["fc"], w["b_fc"])
                self.lif = nt.LIFBoxCell()

            def forward(self, x):
                for conv, neuron, L in zip(self.convs, self.ifs, layers, strict=True):
                    x = _loop(neuron, _merge(conv, x))
                    if L["pool"]:
                        x = _merge(sum_pool, x)
                return _loop(self.lif, self.fc(x.flatten(2)))

        return Conv()

    rec = s["kind"] == "rec"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if rec:
                self.lif1 = nt.LIFRecurrentCell(s["n_in"], s["hidden"])
                with torch.no_grad():
                    self.lif1.input_weights.copy_(torch.from_numpy(w["w1"].T.copy()))
                    self.lif1.recurrent_weights.copy_(torch.from_numpy(w["w_rec"].T.copy()))
            else:
                self.fc1 = TC.linear(torch, w["w1"], w["b1"])
                self.lif1 = nt.LIFBoxCell()
            self.fc2 = TC.linear(torch, w["w2"], w["b2"])
            self.li = nt.LIBoxCell()

        def forward(self, x):
            z1 = _loop(self.lif1, x if rec else self.fc1(x))
            return _loop(self.li, self.fc2(z1))

    return Net()


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload, args.shrink)
    torch = TC.setup(args.threads)
    import norse

    if s["remat"]:
        C.emit("norse", s, {"unsupported": "no rematerialisation in Norse's time loop"})
        return
    baseline = C.rss_bytes()
    version = getattr(norse, "__version__", "1.1.0")
    TC.run("norse", s, args, build(torch, s), baseline, {"norse": version})


if __name__ == "__main__":
    main()
