"""The walls between packages, read from the source with ``ast``.

- No import cycle between the packages (and top-level modules) of ``agency``: imports under
  ``TYPE_CHECKING`` and inside functions count too, since a cycle that only type hints or a
  late import close is still two packages that each need the other.
- The layers point one way: the plugin contract (``connector``) and the settings import
  nothing of ours, the kernel nothing but them, ``access`` nothing but the kernel, domains
  never the assembly (``app``, ``cli``, ``assembly``...), which alone sees everything.
- No import of an ``agency`` module inside a function: such an import is how a cycle hides.
  An exception names its reason below.
"""

from __future__ import annotations

import ast
import graphlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "agency"

ASSEMBLY = frozenset(
    {
        "__main__",
        "admin",
        "app",
        "asgi",
        "assembly",
        "checkup",
        "cli",
        "contract",
        "document",
        "embedded",
        "examples",
        "models",
        "openapi",
        "tasks",
    }
)
DOMAINS = frozenset(
    {
        "approval",
        "audit",
        "auth",
        "brand",
        "calendar",
        "channel",
        "client",
        "crisis",
        "health",
        "inbox",
        "login",
        "mail",
        "maintenance",
        "media",
        "member",
        "problem",
        "publication",
        "report_mail",
        "reporting",
        "tenant",
        "webhook",
    }
)
# Each unit may import the units listed for it (besides itself); domains may import any
# domain as long as no cycle forms. docs/architecture.md draws the same picture.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "agency": frozenset(),  # the package root: __version__
    "config": frozenset(),
    "connector": frozenset(),
    "kernel": frozenset({"agency", "config", "connector"}),
    "access": frozenset({"kernel"}),
    **{
        domain: frozenset({"agency", "config", "connector", "kernel", "access"}) | DOMAINS
        for domain in DOMAINS
    },
    **{unit: frozenset({"*"}) for unit in ASSEMBLY},
}

# Function-level imports that stay, each with its reason. A stale entry fails the test.
LATE_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    **{
        ("agency.cli", target): "each command imports only what it runs: `agency worker` "
        "does not load the API, `agency --help` answers at once"
        for target in (
            "agency.admin",
            "agency.assembly",
            "agency.checkup",
            "agency.embedded",
            "agency.kernel.metrics",
            "agency.kernel.migrate",
            "agency.kernel.outages",
            "agency.kernel.scheduling",
            "agency.kernel.secrets",
            "agency.kernel.serving",
            "agency.kernel.startup",
            "agency.kernel.telemetry",
            "agency.models",
            "agency.openapi",
        )
    },
}
CYCLE_EDGES_ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    module: str  # agency.x.y, the importing module
    target: str  # agency.z..., the imported module (or the package a name comes from)
    line: int
    late: bool  # inside a function

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The package (or top-level module) of ``agency`` a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base]


def _walk(node: ast.AST, module: str, is_package: bool, late: bool) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        inner = late or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        if isinstance(child, ast.Import | ast.ImportFrom):
            for target in _targets(child, module, is_package):
                if target == "agency" or target.startswith("agency."):
                    yield Import(module, target, child.lineno, late)
        yield from _walk(child, module, is_package, inner)


def imports() -> Iterator[Import]:
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        yield from _walk(tree, module_name(path), path.name == "__init__.py", False)


def unit_edges() -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = {}
    for found in imports():
        source, target = unit_of(found.module), unit_of(found.target)
        if source != target:
            edges.setdefault((source, target), []).append(found)
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units - MAY_IMPORT.keys() == set(), "new package: give it a layer here and in docs"


def test_no_import_cycle_between_packages() -> None:
    edges = unit_edges()
    assert set(CYCLE_EDGES_ALLOWED) <= set(edges), "an allowed cycle edge is gone: remove it"
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        if (source, target) not in CYCLE_EDGES_ALLOWED:
            graph.setdefault(source, set()).add(target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1]
        hops = [
            f"{b} -> {a}: " + "; ".join(i.where for i in edges[(b, a)][:3])
            for a, b in itertools.pairwise(cycle)
        ]
        raise AssertionError("import cycle between packages:\n" + "\n".join(hops)) from None


def test_layers_point_one_way() -> None:
    wrong = [
        found.where
        for (source, target), found_list in unit_edges().items()
        for found in found_list
        if "*" not in MAY_IMPORT[source] and target not in MAY_IMPORT[source]
    ]
    assert wrong == []


def test_no_import_hides_in_a_function() -> None:
    late = {(i.module, i.target): i for i in imports() if i.late}
    unexplained = [i.where for key, i in late.items() if key not in LATE_IMPORTS_ALLOWED]
    assert unexplained == [], "import at the top of the module, or break the cycle it hides"
    stale = set(LATE_IMPORTS_ALLOWED) - set(late)
    assert stale == set(), "these late imports are gone: remove them from the allow-list"
