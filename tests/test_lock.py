"""The lock files (constraints*.txt) are exact, complete, and the environment the suite runs in.

``make lock`` writes them; the Makefile installs with ``-c constraints.txt`` and
sets ``SNNX_LOCKED=1`` for pytest, which turns on the check that every installed
package is pinned at exactly its installed version (README, "Versions").
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK, LOCK_EXTRAS = ROOT / "constraints.txt", ROOT / "constraints-extras.txt"
#: what `pip freeze` leaves out: the project itself and the installer's own packages
NOT_LOCKED = {"snnx", "pip", "setuptools", "wheel", "distribute"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            found = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
            assert found, f"{path.name}:{n}: not an exact pin `name==version`: {raw!r}"
            assert _norm(found[1]) not in pins, f"{path.name}:{n}: {found[1]} pinned twice"
            pins[_norm(found[1])] = found[2]
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_lock_files_are_exact_pins_each_package_in_one_file():
    both = _pins(LOCK).keys() & _pins(LOCK_EXTRAS).keys()
    assert not both, f"pinned in both {LOCK.name} and {LOCK_EXTRAS.name}: {sorted(both)}"


def test_dependencies_and_test_extra_are_pinned_within_their_declared_ranges():
    pins = _pins(LOCK)
    project = _project()
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(text)
        assert _norm(req.name) in pins, f"{req.name} (pyproject.toml) has no pin in {LOCK.name}: make lock"
        version = pins[_norm(req.name)]
        assert req.specifier.contains(version, prereleases=True), f"{LOCK.name} pins {req.name}=={version}"


def test_optional_extras_are_pinned():
    pins = _pins(LOCK) | _pins(LOCK_EXTRAS)
    extras = _project()["optional-dependencies"]
    for extra, requirements in extras.items():
        for text in requirements:
            name = Requirement(text).name
            assert _norm(name) in pins, f"{name} (extra {extra!r}) has no pin: make lock"


@pytest.mark.skipif(
    os.environ.get("SNNX_LOCKED") != "1",
    reason="this environment was not installed from constraints.txt (make test and make test-quick "
    "install from it and set SNNX_LOCKED=1)",
)
def test_environment_is_exactly_the_lock():
    pins, extras = _pins(LOCK), _pins(LOCK_EXTRAS)
    installed = {_norm(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    drift = []
    for name, version in sorted(installed.items()):
        if name in NOT_LOCKED:
            continue
        pinned = pins.get(name, extras.get(name))
        if pinned is None:
            drift.append(f"{name}=={version} is installed but in neither lock file")
        elif pinned != version:
            drift.append(f"{name}=={version} is installed, the lock says {pinned}")
    drift += [
        f"{name}=={version} is pinned in {LOCK.name} but not installed"
        for name, version in sorted(pins.items())
        if name not in installed
    ]
    assert not drift, (
        "the environment and the lock differ (a package added by hand, or pyproject.toml changed "
        "without `make lock`):\n  " + "\n  ".join(drift)
    )
