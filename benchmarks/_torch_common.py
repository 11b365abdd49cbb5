"""Shared by the PyTorch peers (snnTorch, Norse): weights, thread pinning, the timed loop."""

from __future__ import annotations

import _common as C


def setup(threads: int):
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    torch.manual_seed(0)
    return torch


def linear(torch, kernel, bias):
    """``nn.Linear`` holding ``kernel`` (stored ``(in, out)``) and ``bias``."""
    layer = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def conv(torch, kernel, bias, stride):
    """``nn.Conv2d`` (channels-first) from a ``(kh, kw, c_in, c_out)`` kernel, SAME padding."""
    kh, _, c_in, c_out = kernel.shape
    layer = torch.nn.Conv2d(c_in, c_out, kh, stride=stride, padding=kh // 2)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def run(framework: str, s: dict, args, model, baseline: int, versions: dict) -> None:
    """Time ``model`` (``x[T, B, ...] -> outputs[T, B, C]``) with Adam and cross-entropy on the time sum."""
    import torch

    xs, ys = C.inputs(s)
    x = torch.from_numpy(xs)
    if s["kind"] == "conv":
        x = x.permute(0, 1, 4, 2, 3).contiguous()  # (T, B, C, H, W)
    y = torch.from_numpy(ys).long()
    opt = torch.optim.Adam(model.parameters(), lr=C.LR)

    def do_train():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).sum(0), y)
        loss.backward()
        opt.step()
        return loss.item()

    def do_forward():
        with torch.no_grad():
            model(x)

    result = C.measure(
        do_train,
        do_forward,
        iters=args.iters,
        warmup=args.warmup,
        baseline_rss=baseline,
        max_seconds=args.max_seconds,
    )
    C.emit(framework, s, result, versions={**versions, "torch": torch.__version__})
