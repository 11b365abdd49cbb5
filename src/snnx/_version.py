"""snnx's version: from the installed package's metadata, else from the checkout's pyproject.toml."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def _version() -> str:
    try:
        return metadata.version("snnx")
    except metadata.PackageNotFoundError:  # imported from a checkout without installing (PYTHONPATH=src)
        import tomllib

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"  # <root>/src/snnx/_version.py
        try:
            with pyproject.open("rb") as f:
                return tomllib.load(f)["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


__version__ = _version()
