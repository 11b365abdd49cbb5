"""The ``snnx`` command line: thin argument parsing over the library.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``,
which registers the subcommand and sets ``func`` (``args -> exit code``).
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys

_SUBCOMMANDS = ("train", "nir", "export", "bench", "info")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2), no usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _version_line() -> str:
    """``snnx X (jax Y, jaxlib Z, flax W, Python V)``: the short form of ``snnx info``."""
    from snnx import __version__
    from snnx.cli._info import package_version

    others = ", ".join(f"{name} {package_version(name)}" for name in ("jax", "jaxlib", "flax"))
    return f"snnx {__version__} ({others}, Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snnx", description="Spiking neural networks on JAX/Flax NNX with NIR exchange.")
    parser.add_argument("--version", action="version", version=_version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        importlib.import_module(f"snnx.cli._{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``snnx ARGV``; Ctrl-C that no subcommand handled prints one line and exits with 130."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("snnx: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
