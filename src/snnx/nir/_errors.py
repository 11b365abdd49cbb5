"""The error raised for malformed or unsupported NIR graphs and files."""

from __future__ import annotations


class NIRError(ValueError):
    """A NIR graph or file that snnx cannot read or write faithfully.

    The message names the node, the field, what was expected and what arrived,
    e.g. ``node 'lif1' (LIF), field 'tau': expected positive finite values, got -0.1``.
    """

    def __init__(self, message: str, *, node: str | None = None, field: str | None = None):
        self.node = node
        self.field = field
        super().__init__(message)


def node_error(node: str, kind: str, field: str, expected: str, got) -> NIRError:
    """Build a :class:`NIRError` in the standard form."""
    return NIRError(
        f"node {node!r} ({kind}), field {field!r}: expected {expected}, got {got}",
        node=node,
        field=field,
    )
