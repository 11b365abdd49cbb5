"""``snnx bench``: run the side-by-side benchmark suite of a source checkout.

The suite lives in ``benchmarks/`` next to ``src/`` (outside the package); this
subcommand finds it from the installed package's location and runs
``benchmarks/run.py`` with the same options, e.g.
``snnx bench --quick`` or ``snnx bench --workloads ff100 --rounds 5``.
Outside a checkout it prints why and exits with status 2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def find_runner() -> Path | None:
    """``benchmarks/run.py`` of the checkout this package was imported from, if any."""
    import snnx

    root = Path(snnx.__file__).resolve().parents[2]  # <root>/src/snnx/__init__.py
    runner = root / "benchmarks" / "run.py"
    return runner if runner.is_file() else None


# (option, type or "flag", help) forwarded to benchmarks/run.py as given
_OPTIONS = (
    ("--quick", "flag", "smoke test: 1 round, 3 iterations, tiny workload, snnx only"),
    ("--rounds", int, "interleaved rounds (default 5)"),
    ("--iters", int, "timed steps per process (default 5)"),
    ("--warmup", int, "untimed steps after the first call (default 2)"),
    ("--workloads", str, "comma list: ff100, ff250, rec100, conv30, long1000, long1000_remat, tiny"),
    ("--frameworks", str, "comma list: snnx, snnx-step, spyx, snntorch, norse"),
    ("--threads", int, "threads for every library (default: the number of CPUs)"),
    ("--max-seconds", float, "timing budget per process"),
    ("--timeout", float, "kill a benchmark process after this long"),
    ("--snnx-python", str, "interpreter for snnx"),
    ("--peers-python", str, "interpreter for the peers (default benchmarks/.venv-peers)"),
    ("--out", str, "JSON path (default benchmarks/results/bench-<time>.json)"),
    ("--no-gemm", "flag", "skip the GEMM peak measurement"),
)


def _forwarded(args: argparse.Namespace) -> list[str]:
    out = []
    for option, kind, _ in _OPTIONS:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if kind == "flag":
            if value:
                out.append(option)
        elif value is not None:
            out += [option, str(value)]
    return out


def _main(args: argparse.Namespace) -> int:
    runner = find_runner()
    if runner is None:
        print(
            "snnx bench: benchmarks/run.py not found; the benchmark suite ships with the source "
            "checkout, not the installed package. Run `snnx bench` from an editable install of the "
            "repository (pip install -e .) or `python benchmarks/run.py` there.",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([sys.executable, str(runner), *_forwarded(args)])


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``snnx bench``; its options are those of ``benchmarks/run.py``."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark snnx against Spyx, snnTorch and Norse (source checkout only)",
        description="Run benchmarks/run.py of the source checkout (see benchmarks/README.md).",
    )
    for option, kind, help_text in _OPTIONS:
        if kind == "flag":
            parser.add_argument(option, action="store_true", help=help_text)
        else:
            parser.add_argument(option, type=kind, default=None, help=help_text)
    parser.set_defaults(func=_main)
    return parser
