"""``snnx info``: the versions and devices a bug report needs.

Prints one ``name: value`` line each for snnx, the libraries it is built on
(:data:`PACKAGES`; "not installed" for a missing one), Python, the platform,
and JAX's backend and devices, e.g.::

    snnx:             0.1.0
    jax:              0.10.2
    ...
    orbax-checkpoint: 0.12.8
    numpy:            2.4.6
    python:           3.11.7 (CPython, /work/main/.venv/bin/python)
    platform:         Linux-6.8.0-x86_64-with-glibc2.36
    jax backend:      cpu
    jax devices:      1: cpu:0 (cpu)

A JAX that cannot start its backend is reported on its line, not raised: a
broken install is what such a report is for.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata

#: The distributions whose versions a report lists after snnx's own, in this order.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "nir", "orbax-checkpoint", "numpy")


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _jax_rows() -> list[tuple[str, str]]:
    try:
        import jax

        backend, devices = jax.default_backend(), jax.devices()
    except Exception as e:  # any failure to start is a finding for the report, not a crash
        return [("jax backend", f"unavailable ({type(e).__name__}: {e})")]
    shown = ", ".join(f"{d.platform}:{d.id} ({d.device_kind})" for d in devices)
    return [("jax backend", backend), ("jax devices", f"{len(devices)}: {shown}")]


def report() -> list[tuple[str, str]]:
    """``(name, value)`` rows: snnx, :data:`PACKAGES`, Python, the platform, JAX's backend and devices."""
    from snnx import __version__

    rows = [("snnx", __version__)] + [(name, package_version(name)) for name in PACKAGES]
    python = f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})"
    rows += [("python", python), ("platform", platform.platform())]
    return rows + _jax_rows()


def _main(args: argparse.Namespace) -> int:
    rows = report()
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        print(f"{name + ':':<{width}}{value}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``snnx info``."""
    parser = subparsers.add_parser(
        "info",
        help="print the versions of snnx, JAX, Flax, ..., Python and the devices (for bug reports)",
        description="Print what a bug report needs: versions, platform, JAX backend and devices.",
    )
    parser.set_defaults(func=_main)
    return parser
