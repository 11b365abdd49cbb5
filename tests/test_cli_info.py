"""``snnx --version`` and ``snnx info``: the versions a bug report needs, from the installed metadata."""

from __future__ import annotations

import platform
import re
import tomllib
from importlib import metadata
from pathlib import Path

import jax
import pytest

import snnx
from snnx import _version
from snnx.cli import _info, main

ROOT = Path(__file__).resolve().parent.parent


def _line(name: str, value: str) -> str:
    return rf"^{re.escape(name)}:\s+{re.escape(value)}$"


def test_version_prints_snnx_and_jax_versions_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out.strip()
    jax_part = f"jax {metadata.version('jax')}, jaxlib {metadata.version('jaxlib')}"
    assert out == (
        f"snnx {snnx.__version__} ({jax_part}, flax {metadata.version('flax')}, "
        f"Python {platform.python_version()})"
    )


def test_dunder_version_is_the_package_metadata():
    assert snnx.__version__ == metadata.version("snnx")


def test_dunder_version_falls_back_to_pyproject_when_not_installed(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _version._version() == expected


def test_info_lists_each_package_with_its_installed_version(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("snnx", "jax", "jaxlib", "flax", "optax", "nir", "orbax-checkpoint", "numpy"):
        assert re.search(_line(name, metadata.version(name)), out, re.M), (name, out)
    assert re.search(rf"^python:\s+{re.escape(platform.python_version())} ", out, re.M), out
    assert re.search(_line("platform", platform.platform()), out, re.M), out
    assert re.search(_line("jax backend", jax.default_backend()), out, re.M), out
    assert re.search(rf"^jax devices:\s+{len(jax.devices())}: ", out, re.M), out


def test_info_says_not_installed_for_a_missing_package(monkeypatch, capsys):
    installed = metadata.version

    def version(name):
        if name == "orbax-checkpoint":
            raise metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(metadata, "version", version)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(_line("orbax-checkpoint", "not installed"), out, re.M), out
    assert re.search(_line("jax", installed("jax")), out, re.M), out
    assert _info.package_version("orbax-checkpoint") == "not installed"
