"""The map of the house: no import loops among the project's modules, and a foundation (`siaga/`)
that imports no role.

The graph is read from the source with `ast`, not from what happens to be imported at run time:
every `import` counts, at module level, inside a function or under `if TYPE_CHECKING:` (a lazy
import still ties the two modules together; it only hides the loop until someone calls it).
`from package import name` counts as an edge to `package.name` when that is a module, else to the
package itself. Discovery at run time (entry points, `importlib.import_module` of a name read
from metadata or a folder) is not an import edge: that is how the command line finds the roles'
commands and how `models/family.py` finds the adapter files.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("siaga", "models", "agent", "calibration", "central", "demo", "benchmarks")
ROLES = ("agent", "models", "calibration", "central", "demo", "benchmarks")

def module_files() -> dict[str, Path]:
    """Every module of the project's packages: dotted name → file."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imported_names(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The dotted names one module imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in modules else target


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (third-party and standard library left out)."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for target in imported_names(name, path, modules):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def a_loop(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """One concrete loop through a component, for the failure message: a → b → … → a."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return sorted(component)


def test_the_graph_sees_imports_at_every_level() -> None:
    graph = import_graph()
    assert "siaga.wire" in graph["agent.service"]  # module level
    assert "central.store.migrations" in graph["central.cli"]  # inside a function
    assert "models.registry" in graph["models.detector"]


def test_no_import_loops() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import loops:\n" + "\n".join(
        " → ".join(a_loop(graph, c)) for c in sorted(found, key=sorted)
    )


def test_central_sub_packages_form_layers() -> None:
    """central's sub-packages (and its top-level modules) import each other without a loop:
    store below ingest and the API, civic's read side below the jobs; tools (sim, fleet) above."""
    graph = import_graph()

    def unit(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])  # central.store.rows → central.store; central.cli → itself

    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module.startswith("central."):
            units.setdefault(unit(module), set()).update(
                unit(t) for t in targets if t.startswith("central.") and unit(t) != unit(module)
            )
    for u in list(units.values()):
        for t in u:
            units.setdefault(t, set())
    found = cycles(units)
    assert not found, "central's sub-packages loop:\n" + "\n".join(
        " → ".join(a_loop(units, c)) for c in sorted(found, key=sorted)
    )



@pytest.mark.parametrize(
    ("graph", "loops"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [{"a", "b", "c"}]),
        ({"a": {"b"}, "b": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [{"a", "b"}, {"c", "d"}]),
    ],
)
def test_cycles_finds_every_loop(graph: dict[str, set[str]], loops: list[set[str]]) -> None:
    assert sorted(map(sorted, cycles(graph))) == sorted(map(sorted, loops))


def test_the_foundation_imports_no_role() -> None:
    graph = import_graph()
    bad = {
        name: sorted(d for d in deps if d.split(".")[0] != "siaga")
        for name, deps in graph.items()
        if name.split(".")[0] == "siaga" and any(d.split(".")[0] != "siaga" for d in deps)
    }
    assert not bad, bad


# A dotted module path of a role, as a string (what importlib.import_module would be given).
_ROLE_MODULE = re.compile(rf"^(?:{'|'.join(ROLES)})(?:\.[a-z_][a-z0-9_]*)+(?::\w+)?$")


def test_the_foundation_names_no_role_module_to_import() -> None:
    # The command line finds the roles' commands through entry points (pyproject.toml), not
    # through a list of module names of its own.
    named = {
        f"{path.relative_to(REPO)}:{node.lineno}": node.value
        for path in sorted((REPO / "siaga").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and _ROLE_MODULE.match(node.value)
    }  # fmt: skip
    assert not named, named
