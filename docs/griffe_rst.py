"""A griffe extension that lets the API reference render snnx's docstrings as written.

The docstrings are Google style with reStructuredText habits that Markdown
does not know: literal blocks introduced by ``::`` (every neuron's update
equations) and Sphinx roles (``:class:`snnx.surrogate.Surrogate```). Before
mkdocstrings parses a docstring, this turns

* a paragraph ending in ``::`` followed by an indented block into the paragraph
  ending in ``:`` and a fenced code block (``pycon`` when it starts with ``>>>``),
  as reStructuredText would show it;
* a doctest block (``>>>`` lines, up to a blank line) into a ``pycon`` fence, also
  inside a Google ``Example:`` section, which mkdocstrings renders as Markdown;
* a role ``:kind:`target``` into the code span ```target``` (``~a.b.C``: ```C```);
* the escaped space of ``Sequential``\\ s into nothing.

The source files stay as they are; ``mkdocs.yml`` loads this file by path
(``extensions: [docs/griffe_rst.py]``).
"""

from __future__ import annotations

import re

import griffe

_ESCAPED_SPACE = re.compile(r"(`)\\ ")  # reStructuredText's escaped space after a code span
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def convert(text: str) -> str:
    """``text`` with literal blocks fenced and roles made code spans (see the module docstring)."""
    lines = _ESCAPED_SPACE.sub(r"\1", _ROLE.sub(_role, text)).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if stripped.lstrip().startswith(">>>"):  # a doctest block (up to a blank line) outside a fence
            end = i
            while end < len(lines) and lines[end].strip() and _indent(lines[end]) >= _indent(line):
                end += 1
            pad = " " * _indent(line)
            out += [f"{pad}```pycon", *lines[i:end], f"{pad}```"]
            i = end
            continue
        if not stripped.endswith("::"):
            out.append(line)
            i += 1
            continue
        indent = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j == len(lines) or _indent(lines[j]) <= indent:  # no indented block: not a literal block
            out.append(line)
            i += 1
            continue
        head = stripped[:-2]  # "text::" -> "text:", "text ::" -> "text", "::" -> nothing
        if head.strip():
            out.append(head.rstrip() if head.endswith(" ") else head + ":")
        end = j
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
            end += 1
        block = lines[j:end]
        while block and not block[-1].strip():
            block.pop()
        cut = min(_indent(b) for b in block if b.strip())
        pad = " " * indent
        lang = "pycon" if block[0].lstrip().startswith(">>>") else "text"
        out += ["", f"{pad}```{lang}", *[pad + b[cut:] if b.strip() else "" for b in block], f"{pad}```"]
        i = j + len(block)
        if i < len(lines) and lines[i].strip():  # text right after the block: a paragraph of its own
            out.append("")
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite each object's docstring with :func:`convert` once the tree is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
