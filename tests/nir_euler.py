"""An independent plain-numpy forward-Euler NIR simulator, for tests.

Written from docs/nir-semantics.md only (forward Euler at step ``dt``,
spike after update, back edges one step late, at ``t = 0`` the source's output
on zero state); it shares no code with snnx. Used by ``test_nir_export.py`` and
``test_nir_properties.py``.
"""

from __future__ import annotations

import nir
import numpy as np


def _pairs(value, n):
    arr = np.ravel(np.asarray(value)).astype(int)
    return tuple(int(v) for v in (np.repeat(arr, n) if arr.size == 1 else arr))


def _correlate(x, weight, bias, stride, padding, dilation, groups):
    """PyTorch-style cross-correlation; x (B, C, *S), weight (O, C/g, *K)."""
    n = weight.ndim - 2
    spatial = x.shape[2:]
    ksize = weight.shape[2:]
    stride, dilation = _pairs(stride, n), _pairs(dilation, n)
    if isinstance(padding, (str, bytes)):
        padding = padding.decode() if isinstance(padding, bytes) else padding
        if padding == "valid":
            pads = [(0, 0)] * n
        else:  # 'same': total (k - 1) * d, extra on the high side
            tot = [d * (k - 1) for d, k in zip(dilation, ksize, strict=True)]
            pads = [(t // 2, t - t // 2) for t in tot]
    else:
        pads = [(p, p) for p in _pairs(padding, n)]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    out_sz = [
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, (lo, hi), d, k, st in zip(spatial, pads, dilation, ksize, stride, strict=True)
    ]
    b, c = x.shape[:2]
    o = weight.shape[0]
    cg, og = c // groups, o // groups
    y = np.zeros((b, o, *out_sz))
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        ws = weight[g * og : (g + 1) * og]
        for kidx in np.ndindex(*ksize):
            sl = tuple(
                slice(ki * d, ki * d + st * (m - 1) + 1, st)
                for ki, d, st, m in zip(kidx, dilation, stride, out_sz, strict=True)
            )
            patch = xs[(slice(None), slice(None), *sl)]  # (B, cg, *out)
            w = ws[(slice(None), slice(None), *kidx)]  # (og, cg)
            y[:, g * og : (g + 1) * og] += np.einsum("bc...,oc->bo...", patch, w)
    if bias is not None:
        y += np.asarray(bias).reshape((1, o) + (1,) * n)
    return y


def _pool(x, node, mean):
    k = _pairs(node.kernel_size, 2)
    s = _pairs(node.stride, 2)
    p = _pairs(node.padding, 2)
    c = x.shape[1]
    w = np.zeros((c, 1, *k))
    w[:] = 1.0 / np.prod(k) if mean else 1.0
    return _correlate(x, w, None, s, p, 1, c)


def _flatten(x, node):
    shape = x.shape[1:]
    start, end = int(node.start_dim), int(node.end_dim)
    end = end if end >= 0 else len(shape) + end
    new = (*shape[:start], int(np.prod(shape[start : end + 1])), *shape[end + 1 :])
    return x.reshape(x.shape[0], *new)


STATEFUL = (nir.LI, nir.LIF, nir.CubaLI, nir.CubaLIF, nir.I, nir.IF, nir.Delay, nir.NIRGraph)


class EulerGraph:
    """Step a NIR graph with forward Euler at step ``dt``; ``record`` keeps every node's state."""

    def __init__(self, graph: nir.NIRGraph, dt: float):
        self.graph, self.dt = graph, dt
        self.nodes = graph.nodes
        self.inputs = [k for k, n in self.nodes.items() if isinstance(n, nir.Input)]
        self.outputs = [k for k, n in self.nodes.items() if isinstance(n, nir.Output)]
        self.edges = [tuple(e) for e in graph.edges]
        succ = {}
        for i, (s, d) in enumerate(self.edges):
            succ.setdefault(s, []).append((i, d))
        state, back = {}, set()

        def visit(name):
            state[name] = 1
            for i, d in succ.get(name, []):
                if state.get(d) == 1:
                    back.add(i)
                elif d not in state:
                    visit(d)
            state[name] = 2

        for name in self.inputs:
            if name not in state:
                visit(name)
        self.back = back
        indeg = {k: 0 for k in self.nodes}
        for i, (_, d) in enumerate(self.edges):
            if i not in back:
                indeg[d] += 1
        order, ready = [], [k for k in self.nodes if indeg[k] == 0]
        while ready:
            k = ready.pop(0)
            order.append(k)
            for i, d in succ.get(k, []):
                if i not in back:
                    indeg[d] -= 1
                    if indeg[d] == 0:
                        ready.append(d)
        self.order = order
        self.subs = {k: EulerGraph(n, dt) for k, n in self.nodes.items() if isinstance(n, nir.NIRGraph)}

    def _shape(self, name):
        node = self.nodes[name]
        return tuple(int(d) for d in np.asarray(next(iter(node.output_type.values()))))

    def init(self, batch):
        st = {}
        for k, n in self.nodes.items():
            if not isinstance(n, STATEFUL):
                continue
            shp = (batch, *self._shape(k))
            if isinstance(n, (nir.LI, nir.LIF, nir.I, nir.IF)):
                st[k] = {"v": np.zeros(shp)}
            elif isinstance(n, (nir.CubaLI, nir.CubaLIF)):
                st[k] = {"i": np.zeros(shp), "v": np.zeros(shp)}
            elif isinstance(n, nir.Delay):
                steps = np.rint(np.asarray(n.delay, np.float64) / self.dt).astype(int)
                st[k] = {"buf": np.zeros((max(int(steps.max()), 0) + 1, *shp)), "steps": steps}
            elif isinstance(n, nir.NIRGraph):
                st[k] = self.subs[k].init(batch)
        prev = {}
        for i in self.back:
            src = self.edges[i][0]
            n = self.nodes[src]
            if isinstance(n, STATEFUL):
                prev[src] = np.zeros((batch, *self._shape(src)))
            else:
                in_shape = tuple(int(d) for d in np.asarray(next(iter(n.input_type.values()))))
                prev[src] = self._apply(src, np.zeros((batch, *in_shape)), None)[0]
        st["__prev__"] = prev
        return st

    def _apply(self, name, x, s):
        n, dt = self.nodes[name], self.dt
        f = lambda a: np.asarray(a, np.float64)  # noqa: E731
        if isinstance(n, (nir.Input, nir.Output)):
            return x, s
        if isinstance(n, nir.Affine):
            return x @ f(n.weight).T + f(n.bias), s
        if isinstance(n, nir.Linear):
            return x @ f(n.weight).T, s
        if isinstance(n, (nir.Conv1d, nir.Conv2d)):
            return _correlate(x, f(n.weight), f(n.bias), n.stride, n.padding, n.dilation, int(n.groups)), s
        if isinstance(n, nir.SumPool2d):
            return _pool(x, n, mean=False), s
        if isinstance(n, nir.AvgPool2d):
            return _pool(x, n, mean=True), s
        if isinstance(n, nir.Flatten):
            return _flatten(x, n), s
        if isinstance(n, nir.Scale):
            return f(n.scale) * x, s
        if isinstance(n, nir.Threshold):
            return (x > f(n.threshold)).astype(np.float64), s
        if isinstance(n, nir.Delay):
            buf = np.concatenate([s["buf"][1:], x[None]])  # buf[-1] = x[t], buf[-1-k] = x[t-k]
            idx = buf.shape[0] - 1 - s["steps"]
            y = np.take_along_axis(buf, np.broadcast_to(idx, x.shape)[None], axis=0)[0]
            return y, {"buf": buf, "steps": s["steps"]}
        if isinstance(n, (nir.I, nir.IF)):
            v = s["v"] + f(n.r) * x
        elif isinstance(n, (nir.LI, nir.LIF)):
            v = s["v"] + dt / f(n.tau) * (f(n.v_leak) - s["v"] + f(n.r) * x)
        elif isinstance(n, (nir.CubaLI, nir.CubaLIF)):
            i = s["i"] + dt / f(n.tau_syn) * (-s["i"] + f(n.w_in) * x)
            v = s["v"] + dt / f(n.tau_mem) * (f(n.v_leak) - s["v"] + f(n.r) * i)
        elif isinstance(n, nir.NIRGraph):
            ys, s = self.subs[name].step({self.subs[name].inputs[0]: x}, s)
            return ys[self.subs[name].outputs[0]], s
        else:
            raise NotImplementedError(type(n).__name__)
        new = {"v": v} if "i" not in s else {"i": i, "v": v}
        if isinstance(n, (nir.IF, nir.LIF, nir.CubaLIF)):
            z = v > f(n.v_threshold)
            new["v"] = np.where(z, f(n.v_reset), v)
            return z.astype(np.float64), new
        return v, new

    def step(self, xs, st):
        prev = st["__prev__"]
        vals, new = {}, {"__prev__": {}}
        for name in self.order:
            parts = []
            for i, (s, d) in enumerate(self.edges):
                if d == name:
                    parts.append(prev[s] if i in self.back else vals[s])
            x = xs[name] if name in self.inputs else sum(parts[1:], parts[0])
            vals[name], new[name] = self._apply(name, x, st.get(name))
        for src in prev:
            new["__prev__"][src] = vals[src]
        return {k: vals[k] for k in self.outputs}, new

    def run(self, x, record=()):
        """``x``: (T, B, *shape) for the single input, or a dict per input; returns outputs, records."""
        xs = x if isinstance(x, dict) else {self.inputs[0]: x}
        steps, batch = next(iter(xs.values())).shape[:2]
        st = self.init(batch)
        outs = {k: [] for k in self.outputs}
        rec = {k: [] for k in record}
        for t in range(steps):
            y, st = self.step({k: np.asarray(v[t], np.float64) for k, v in xs.items()}, st)
            for k in outs:
                outs[k].append(y[k])
            for k in rec:
                rec[k].append(st[k]["v"])
        return {k: np.stack(v) for k, v in outs.items()}, {k: np.stack(v) for k, v in rec.items()}
