"""The documentation site (mkdocs.yml, docs/) covers the public API and every page.

`make docs` builds the site with `mkdocs build --strict` (CI runs it after `make
test`); these tests check, without MkDocs, what a strict build cannot: that the
API reference documents every pinned public name and that no page is left out
of the navigation.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from pathlib import Path
from unittest import mock

import yaml

from test_public_api import EXPECTED

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: pages written by docs/render_examples.py from examples/ before the build
GENERATED = "tutorials/"


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    raise AssertionError(f"mkdocs.yml: unexpected nav entry {node!r}")


def _identifiers() -> dict[str, str]:
    """``{identifier: page}`` for every ``::: identifier`` line of docs/api/*.md."""
    found = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for line in page.read_text().splitlines():
            match = re.fullmatch(r":::\s+(\S+)\s*", line)
            if match:
                found[match[1]] = page.name
    return found


def _resolve(identifier: str):
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise AssertionError(f"docs/api: `::: {identifier}` names nothing importable")


def test_api_reference_documents_every_public_name():
    identifiers = _identifiers()
    documented = [_resolve(identifier) for identifier in identifiers]
    missing = []
    for module, names in sorted(EXPECTED.items()):
        mod = importlib.import_module(module)
        for name in sorted(names):
            if module == "snnx":  # re-exports are documented once, under their own module
                if not any(getattr(mod, name) is obj for obj in documented):
                    missing.append(f"snnx.{name} (or the object it re-exports)")
            elif f"{module}.{name}" not in identifiers:
                missing.append(f"{module}.{name}")
    assert not missing, f"no `::: name` block in docs/api/*.md for: {missing}"


def test_every_api_page_documents_its_module_and_only_public_names():
    for identifier, page in _identifiers().items():
        assert not any(part.startswith("_") for part in identifier.split(".")), (
            f"docs/api/{page}: `::: {identifier}` is private"
        )
    for module in EXPECTED:
        assert module in _identifiers(), f"docs/api: no page has `::: {module}` (the module's docstring)"


def test_every_page_is_in_the_nav_and_every_nav_page_exists():
    nav = _nav_pages(_config()["nav"])
    duplicates = sorted({page for page in nav if nav.count(page) > 1})
    assert not duplicates, f"mkdocs.yml: pages listed twice in nav: {duplicates}"
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    left_out = [page for page in pages if page not in nav and not page.startswith(GENERATED)]
    assert not left_out, f"pages in docs/ missing from the nav of mkdocs.yml: {left_out}"
    dangling = [page for page in nav if not page.startswith(GENERATED) and not (DOCS / page).is_file()]
    assert not dangling, f"mkdocs.yml nav names pages that do not exist in docs/: {dangling}"


def test_every_example_has_a_tutorial_page_in_the_nav():
    tutorials = sorted(page for page in _nav_pages(_config()["nav"]) if page.startswith(GENERATED))
    examples = sorted(f"{GENERATED}{path.stem}.md" for path in (ROOT / "examples").glob("[0-9]*.py"))
    examples.append(f"{GENERATED}index.md")  # the renderer's list of the pages, the section's index
    examples.sort()
    assert tutorials == examples, (
        "mkdocs.yml's Tutorials and examples/ differ (docs/render_examples.py writes one page per "
        f"example): only in the nav {sorted(set(tutorials) - set(examples))}, "
        f"only in examples/ {sorted(set(examples) - set(tutorials))}"
    )


def test_config_builds_into_build_site_with_the_griffe_extension():
    config = _config()
    assert config["docs_dir"] == "docs" and config["site_dir"] == "build/site"
    python = next(p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    extensions = python["handlers"]["python"]["options"]["extensions"]
    assert all((ROOT / path).is_file() for path in extensions), extensions
    assert (ROOT / "benchmarks" / "README.md").is_file()  # docs/benchmarks.md includes it


def _griffe_rst():
    """docs/griffe_rst.py, loaded with a stand-in for griffe where the docs extra is not installed."""
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    griffe = sys.modules.get("griffe") or types.SimpleNamespace(Extension=object, Object=object)
    with mock.patch.dict(sys.modules, {"griffe": griffe}):
        spec.loader.exec_module(module)
    return module


def test_griffe_extension_fences_literal_blocks_and_unwraps_roles():
    convert = _griffe_rst().convert
    text = (
        "Update, per step::\n\n    v = beta * v + x\n    z = v > threshold\n\n"
        "See :class:`~snnx.surrogate.Surrogate` and :func:`snnx.run`; nested ``Sequential``\\ s.\n\n"
        "Example (a block)::\n\n    >>> run(g, x)\n\nArgs:\n    x: input.\n"
    )
    assert convert(text) == (
        "Update, per step:\n\n```text\nv = beta * v + x\nz = v > threshold\n```\n\n"
        "See `Surrogate` and `snnx.run`; nested ``Sequential``s.\n\n"
        "Example (a block):\n\n```pycon\n>>> run(g, x)\n```\n\nArgs:\n    x: input.\n"
    )
    assert convert("a `x::y` in code::\nnot indented") == "a `x::y` in code::\nnot indented"
    # a Google "Example:" section is Markdown to mkdocstrings, where ">>>" would be a blockquote
    assert convert("Example:\n    >>> lif.shape\n    (3,)\n\nMore.") == (
        "Example:\n    ```pycon\n    >>> lif.shape\n    (3,)\n    ```\n\nMore."
    )
