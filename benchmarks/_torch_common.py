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
    """Time ``model`` (``x[T, B, ...] -> outputs[T, B, C]``) with Adam and cross-entropy on the time sum.

    ``args.device == "gpu"``: model and data on ``"cuda"`` (the caller has checked that torch sees
    a CUDA device), and every timed call ends with ``torch.cuda.synchronize()``. ``args.dtype ==
    "bf16"``: the forward pass under ``torch.autocast(..., dtype=torch.bfloat16)``, parameters and
    optimizer state in float32, the loss on the float32 readout.
    """
    import contextlib

    import torch

    device = torch.device("cuda" if args.device == "gpu" else "cpu")
    xs, ys = C.inputs(s)
    x = torch.from_numpy(xs)
    if s["kind"] == "conv":
        x = x.permute(0, 1, 4, 2, 3).contiguous()  # (T, B, C, H, W)
    x, y = x.to(device), torch.from_numpy(ys).long().to(device)
    del xs
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=C.LR)

    def compute():
        if args.dtype == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def do_train():
        opt.zero_grad(set_to_none=True)
        with compute():
            loss = torch.nn.functional.cross_entropy(model(x).float().sum(0), y)
        loss.backward()
        opt.step()
        value = loss.item()
        sync()  # the optimizer's kernels may still run after the loss was read
        return value

    def do_forward():
        with torch.no_grad(), compute():
            model(x)
        sync()

    result = C.measure(
        do_train,
        do_forward,
        iters=args.iters,
        warmup=args.warmup,
        baseline_rss=baseline,
        max_seconds=args.max_seconds,
    )
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    C.emit(
        framework,
        s,
        result,
        dtype=args.dtype,
        device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        device_peak_mib=peak,
        versions={**versions, "torch": torch.__version__},
        tf32={"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
    )
