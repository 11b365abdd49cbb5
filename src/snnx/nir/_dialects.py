"""Dialects: how each framework runs the NIR files it reads, as replacements of import-table builders.

``from_nir(..., dialect="nir")`` runs NIR's equations (forward Euler, spike after
update, reset to ``v_reset`` in the same step; ``docs/nir-semantics.md``). Other
frameworks write and run NIR differently. A dialect reproduces what one of them
computes when it imports and runs a file: it runs some primitives as NIR says
(``same``), replaces the builders of others (``builds``) and refuses the ones that
framework cannot run or drops (``refuses``, with the reason and the source line).
A primitive a dialect does not list is refused too, never run as NIR by default.

Each framework's update is in :mod:`snnx.nir._peers`, checked against the
framework's own outputs (``tests/data/nir-peers``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from snnx.nir import _convert as C
from snnx.nir._errors import NIRError
from snnx.nir._import_table import TABLE, Primitive, Site


@dataclass(frozen=True)
class Dialect:
    """How one framework runs NIR files.

    Attributes:
        name: the ``dialect=`` value (``"spyx"``).
        framework: the framework and the versions it was checked against (``"Spyx 1.0.0"``).
        summary: how it differs from NIR, in one sentence.
        same: primitives it runs as NIR says.
        builds: primitives it runs its own way: ``kind -> builder(Site) -> layers``.
        refuses: primitives it cannot run: ``kind -> reason``.
        uses_dt: whether its maths needs ``dt`` (Sinabs counts time in steps).
        cycles: ``None`` when it runs back edges as NIR does, else why a graph with a
            cycle is refused, or ``(flat graph, back-edge source) -> reason or None``.
        not_covered: what the framework does with a primitive not listed (for the error).
        recurrent: the kinds in ``builds`` whose builder also takes a fused
            ``neuron <-> dense`` cycle (``Site.recurrent``), as the framework folds it.
        no_dt: why ``dt`` is not used, when ``uses_dt`` is False (said when one is given).
        prepare: ``flat graph -> None``: rewires the graph as the framework reads it
            before anything is built (Spyx feeds a recurrent subgraph's input to its neuron).
        signature: ``(name, node, dt) -> evidence or None``: recognises a node written
            by this framework's exporter, for the warning of ``dialect=None``.
    """

    name: str
    framework: str
    summary: str
    same: tuple[str, ...] = ()
    builds: Mapping[str, Callable[[Site], list]] = field(default_factory=dict)
    refuses: Mapping[str, str] = field(default_factory=dict)
    uses_dt: bool = True
    signature: Callable | None = None
    cycles: str | Callable | None = None
    not_covered: str | None = None
    recurrent: tuple[str, ...] = ()
    prepare: Callable | None = None
    no_dt: str = ""

    def check_cycles(self, flat, back: set, skip=()) -> None:
        """Refuse a graph with a back edge when this framework does not run cycles as NIR does.

        ``skip``: the dense nodes folded into a recurrent neuron (their cycle is the neuron's).
        """
        for eid in sorted(back):
            src, dst = flat.edges[eid]
            if src in skip or dst in skip:  # a cycle folded into one recurrent neuron
                continue
            why = self.cycles(flat, src) if callable(self.cycles) else self.cycles
            if why:
                raise NIRError(
                    f"edge ({src!r}, {dst!r}) closes a cycle into node {dst!r}: dialect {self.name!r} cannot "
                    f"run it: {why}",
                    node=dst,
                    field="edges",
                )

    def covers(self) -> tuple[str, ...]:
        """The primitives this dialect runs (NIR's way or its own)."""
        return tuple(k for k in TABLE if k in self.same or k in self.builds)

    def primitive(self, name: str, node) -> Primitive:
        """The table entry of ``node`` under this dialect, or a NIRError saying why it is refused."""
        k = C.kind(node)
        base = TABLE.get(k)
        if k in self.builds and base is not None:
            # a framework's own neuron absorbs a dense back edge only where it says so; other cycles run on
            # the Graph, or are refused (check_cycles)
            return dataclasses.replace(base, build=self.builds[k], recurrent=k in self.recurrent)
        if k in self.same and base is not None:
            return base
        if k in self.refuses:
            raise NIRError(
                f"node {name!r} ({k}): dialect {self.name!r} ({self.framework}) cannot run it: "
                f"{self.refuses[k]}",
                node=name,
                field="type",
            )
        what = f" ({self.not_covered})" if self.not_covered else ""
        raise NIRError(
            f"node {name!r} ({k}): dialect {self.name!r} ({self.framework}) does not cover {k}{what}; "
            f"it covers {list(self.covers())}",
            node=name,
            field="type",
        )


NIR = Dialect(
    "nir",
    "NIR 1.0 (forward Euler at dt)",
    "NIR's equations: forward Euler, spike after update, reset to v_reset in the same step",
    same=tuple(TABLE),
)

_REGISTRY: dict[str, Dialect] = {NIR.name: NIR}


def register(dialect: Dialect) -> Dialect:
    _REGISTRY[dialect.name] = dialect
    return dialect


def names() -> tuple[str, ...]:
    """The names ``from_nir(..., dialect=...)`` takes, ``"nir"`` (NIR's own equations) first.

    Example:
        >>> snnx.nir.dialects()
        ('nir', 'spyx', 'snntorch', 'norse', 'rockpool', 'sinabs')
    """
    _load_peers()
    return tuple(_REGISTRY)


def get(name) -> Dialect:
    """The dialect called ``name``; an unknown name is a ValueError listing the known ones."""
    _load_peers()
    if isinstance(name, Dialect):
        return name
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"`dialect` must be one of {list(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name.lower()]


def _load_peers() -> None:
    from snnx.nir import _peers  # noqa: F401  (registers the peers' dialects)


def detect(nodes: Mapping[str, object], dt: float) -> dict[str, tuple[str, str]]:
    """``{dialect name: (node, evidence)}`` for every known exporter signature in ``nodes``."""
    _load_peers()
    found: dict[str, tuple[str, str]] = {}
    for dialect in _REGISTRY.values():
        if dialect.signature is None:
            continue
        for name, node in nodes.items():
            evidence = dialect.signature(name, node, dt)
            if evidence:
                found[dialect.name] = (name, evidence)
                break
    return found


def warn_signatures(nodes: Mapping[str, object], dt: float, stacklevel: int = 3) -> None:
    """Warn once per framework whose exporter's signature ``nodes`` carry (``from_nir(dialect=None)``)."""
    for name, (node, evidence) in detect(nodes, dt).items():
        dialect = _REGISTRY[name]
        warnings.warn(
            f"node {node!r}: {evidence}, the signature of a {dialect.framework} export. "
            f"{dialect.framework} runs such files differently from NIR ({dialect.summary}); "
            f"snnx runs NIR's equations. Pass dialect={name!r} to reproduce what {dialect.framework} "
            f"computes, or dialect='nir' to keep NIR's meaning without this warning.",
            stacklevel=stacklevel,
        )
