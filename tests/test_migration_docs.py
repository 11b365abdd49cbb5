"""The migration guides (docs/migration/) say what they claim, and their snnx code runs as written.

Every ```python block preceded by ``<!-- run -->`` in a guide is executed in a fresh
namespace; the equivalences a guide claims (a beta/tau conversion, a transpose, a loss
written as another library computes it) are ``assert`` statements inside those blocks,
so running them checks them. Blocks preceded by ``<!-- run slow -->`` run in a
``slow`` test. Blocks preceded by ``<!-- peer -->`` are the other library's code and are
never run (its packages are not installed here). A ```python block without one of
these markers is an error: every Python block on these pages is either run or
labelled as a peer's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
MIGRATION = DOCS / "migration"
GUIDES = ("spyx.md", "snntorch.md", "norse.md")
PAGES = ("index.md", *GUIDES)
SECTIONS = ("## API map", "## Conventions", "## Side by side")

_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_MARKER = re.compile(r"<!--\s*(run slow|run|peer)\s*-->\s*$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _blocks(page: str) -> list[tuple[str | None, str, int]]:
    """``(marker, code, line)`` for every ```python block of ``page``; ``marker`` is None when absent."""
    text = (MIGRATION / page).read_text()
    out = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        out.append((marker.group(1) if marker else None, m.group(1), text.count("\n", 0, m.start()) + 1))
    return out


def _snippets(kind: str) -> list:
    # the code is padded with the lines above it, so tracebacks give the page's own line numbers;
    # the quick tier runs the first snippet of each guide, the slow tier the rest
    params = []
    for page in GUIDES:
        blocks = [(code, line) for marker, code, line in _blocks(page) if marker == kind]
        for i, (code, line) in enumerate(blocks):
            marks = [pytest.mark.slow] if i > 0 else []
            params.append(pytest.param(page, "\n" * line + code, id=f"{page}:{line}", marks=marks))
    return params


def _execute(page: str, code: str) -> None:
    namespace = {"__name__": f"migration_{page.removesuffix('.md')}"}
    exec(compile(code, str(MIGRATION / page), "exec"), namespace)


@pytest.mark.parametrize(("page", "code"), _snippets("run"))
def test_snippet_runs(page, code):
    _execute(page, code)


@pytest.mark.slow
@pytest.mark.parametrize(("page", "code"), _snippets("run slow"))
def test_slow_snippet_runs(page, code):
    _execute(page, code)


@pytest.mark.parametrize("page", GUIDES)
def test_guide_has_the_three_sections(page):
    text = (MIGRATION / page).read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), f"{page} has no section {section!r}"
    side_by_side = text.split("## Side by side", 1)[1].split("\n## ", 1)[0]
    assert "<!-- peer -->" in side_by_side, f"{page}: the side-by-side section shows no peer code"
    runs = re.search(r"<!-- run( slow)? -->", side_by_side)
    assert runs, f"{page}: the side-by-side section runs no snnx code"


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_is_run_or_a_peers(page):
    unmarked = [line for marker, _, line in _blocks(page) if marker is None]
    assert not unmarked, f"{page}: ```python blocks at lines {unmarked} are marked neither run nor peer"


@pytest.mark.parametrize("page", PAGES)
def test_links_are_relative_and_resolve_inside_docs(page):
    text = (MIGRATION / page).read_text()
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = target.split("#", 1)[0]
        resolved = (MIGRATION / path).resolve()
        assert not Path(path).is_absolute(), f"{page}: absolute link {target!r}"
        assert resolved.is_relative_to(DOCS.resolve()), f"{page}: {target!r} leaves docs/ (mkdocs --strict)"
        assert resolved.is_file(), f"{page}: {target!r} does not exist"


def test_index_links_every_guide_and_readme_points_here():
    index = (MIGRATION / "index.md").read_text()
    for page in GUIDES:
        assert f"({page})" in index, f"index.md does not link {page}"
    readme = (DOCS.parent / "README.md").read_text()
    assert "docs/migration/index.md" in readme
    assert "](docs/migration.md)" not in readme
