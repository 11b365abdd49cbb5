"""snnTorch side of the benchmark (runs in the peers' environment).

Written the way snnTorch's tutorials write a network: a Python loop over time
steps calling each layer (``nn.Linear``/``nn.Conv2d`` and ``snn.Leaky``/
``snn.RLeaky``) once per step. ``snn.Leaky(beta=1)`` serves as IF, and a
``snn.Leaky(reset_mechanism="none")`` membrane as the LI readout. No
rematerialisation: ``long1000_remat`` is reported as unsupported.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C
import _torch_common as TC


def build(torch, s: dict):
    import snntorch as snn

    nn = torch.nn
    w = C.weights(s)

    if s["kind"] == "conv":
        layers = C.conv_shapes(s)["layers"]

        class Conv(nn.Module):
            def __init__(self):
                super().__init__()
                self.convs = nn.ModuleList(
                    TC.conv(torch, w[f"conv{i}"], w[f"b_conv{i}"], L["stride"])
                    for i, L in enumerate(layers, 1)
                )
                self.ifs = nn.ModuleList(snn.Leaky(beta=1.0) for _ in layers)
                self.fc = TC.linear(torch, w["fc"], w["b_fc"])
                self.lif = snn.Leaky(beta=C.BETA)

            def forward(self, x):
                mems = [neuron.init_leaky() for neuron in self.ifs]
                m_out = self.lif.init_leaky()
                out = []
                for t in range(x.shape[0]):
                    a = x[t]
                    for j, (conv, neuron, L) in enumerate(zip(self.convs, self.ifs, layers, strict=True)):
                        z, mems[j] = neuron(conv(a), mems[j])
                        a = (
                            torch.nn.functional.avg_pool2d(z, C.POOL) * C.POOL**2 if L["pool"] else z
                        )  # sum pool
                    z_out, m_out = self.lif(self.fc(a.flatten(1)), m_out)
                    out.append(z_out)
                return torch.stack(out)

        return Conv()

    rec = s["kind"] == "rec"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = TC.linear(torch, w["w1"], w["b1"])
            if rec:
                self.lif1 = snn.RLeaky(beta=C.BETA, linear_features=s["hidden"])
                with torch.no_grad():
                    self.lif1.recurrent.weight.copy_(torch.from_numpy(w["w_rec"].T.copy()))
                    self.lif1.recurrent.bias.zero_()
            else:
                self.lif1 = snn.Leaky(beta=C.BETA)
            self.fc2 = TC.linear(torch, w["w2"], w["b2"])
            self.li = snn.Leaky(beta=C.BETA, reset_mechanism="none")

        def forward(self, x):
            if rec:
                z1, m1 = self.lif1.init_rleaky()
            else:
                m1 = self.lif1.init_leaky()
            m2 = self.li.init_leaky()
            out = []
            for t in range(x.shape[0]):
                if rec:
                    z1, m1 = self.lif1(self.fc1(x[t]), z1, m1)
                else:
                    z1, m1 = self.lif1(self.fc1(x[t]), m1)
                _, m2 = self.li(self.fc2(z1), m2)
                out.append(m2)
            return torch.stack(out)

    return Net()


def main(argv=None) -> None:
    args = C.parse_args(argv)
    s = C.spec(args.workload, args.shrink)
    torch = TC.setup(args.threads)
    import snntorch

    if s["remat"]:
        C.emit("snntorch", s, {"unsupported": "no rematerialisation in snnTorch's time loop"})
        return
    baseline = C.rss_bytes()
    TC.run("snntorch", s, args, build(torch, s), baseline, {"snntorch": snntorch.__version__})


if __name__ == "__main__":
    main()
