"""The shape of dcinfra/, guarded: no import circles, no import from a lower layer up, no huge files,
and no code outside a site provider asking whether the site is the lab.

The import graph is read with the standard library's ``ast`` from the source files (nothing is
imported), every ``import``/``from ... import`` counted, including those inside functions (a lazy
import is still a dependency); only imports under ``if TYPE_CHECKING:`` are left out, as they never
run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dcinfra"
PLAYBOOKS = ROOT / "playbooks"

# Low to high. A module may import its own layer and the layers below it, never one above. The data
# flow of DESIGN.md: errors and facts, the model, the pure Plan, what is built from the Plan (files,
# Kubernetes objects, hosts), the engines that act on them, the verify stage (which drives an engine),
# the pipeline over the stages, and the CLI on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("dcinfra.errors",),
    ("dcinfra.catalog", "dcinfra.config", "dcinfra.state"),
    ("dcinfra.model",),
    ("dcinfra", "dcinfra.loader"),  # the public API for stack authors re-exports the model
    ("dcinfra.plan",),
    ("dcinfra.render", "dcinfra.platform", "dcinfra.sites"),
    ("dcinfra.engines",),
    ("dcinfra.verify",),
    ("dcinfra.pipeline",),
    ("dcinfra.cli", "dcinfra.__main__"),
)

MAX_LINES = 700


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        out.add(sub.lineno)
    return out


def _imports(path: Path, modules: set[str]) -> Iterator[str]:
    """The dcinfra modules ``path`` imports (a name imported from a package counts as its submodule
    when there is one: ``from dcinfra.plan import storage`` is ``dcinfra.plan.storage``)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dcinfra":
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "dcinfra":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in modules else base


def graph() -> dict[str, set[str]]:
    """dcinfra module -> the dcinfra modules it imports."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in files.items():
        out[name] = {m for m in _imports(path, set(files)) if m != name and m in files}
    return out


def _layer(module: str) -> int:
    best, rank = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank >= 0, f"module {module} is in no layer: add it to LAYERS in {__file__}"
    return rank


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read() -> None:
    g = graph()
    # A few edges that exist for sure, so an empty or broken graph cannot pass the tests below.
    assert "dcinfra.plan.types" in g["dcinfra.plan"]
    assert "dcinfra.errors" in g["dcinfra.plan"]
    assert any(m.startswith("dcinfra.pipeline") for m in g["dcinfra.cli"] | set().union(*g.values()))


def test_no_import_circles() -> None:
    cycles = _cycles(graph())
    assert not cycles, "import circles in dcinfra/:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_from_a_lower_layer_up() -> None:
    bad = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
        for src, dsts in sorted(graph().items())
        for dst in sorted(dsts)
        if _layer(dst) > _layer(src)
    ]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_the_checks_catch_what_they_guard() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _layer("dcinfra.cli.offline") > _layer("dcinfra.pipeline") > _layer("dcinfra.plan.flows")
    assert _layer("dcinfra.catalog.sites") < _layer("dcinfra.model.site")


def test_no_python_file_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines (split them by concern): {long}"


_SITE_NAME = re.compile(r"""(==|!=)\s*["']lab["']|["']lab["']\s*(==|!=)|site\.kind\b|\.site\s*(==|!=)""")


def test_only_the_lab_provider_asks_for_the_lab() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in PACKAGE.rglob("*.py")
        if p.parent.name != "sites" or p.name != "lab.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if _SITE_NAME.search(line)
    ]
    assert not offenders, "read the site's capabilities (Plan.site) instead:\n" + "\n".join(offenders)


def test_no_role_asks_for_the_lab() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in PLAYBOOKS.rglob("*.yml")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"dcinfra_site\s*(==|!=)", line) or "dcinfra_lab" in line
    ]
    assert not offenders, "roles read dcinfra_site.<capability>:\n" + "\n".join(offenders)
