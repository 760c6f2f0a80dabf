"""The shape of ``dcinfra/cli/``: small modules; command modules that import the shared ones (output,
args, views, summaries) but never each other nor the package; no site built by the CLI; and the heavy
modules imported only inside the commands, so ``dcinfra --help`` stays fast.
(tests/unit/test_architecture.py guards import circles and layers for all of dcinfra/.)
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "dcinfra" / "cli"
COMMAND_MODULES = ("offline", "explain", "operations", "lab")
MAX_LINES = 500

# Imported only inside the commands that use them.
HEAVY = (
    "dcinfra.pipeline",
    "dcinfra.engines",
    "dcinfra.platform",
    "dcinfra.render",
    "dcinfra.verify",
    "ansible_runner",
    "pulumi",
    "torch",
)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, lazily or not (``from a import b`` counts as ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_modules_are_where_the_docstring_says() -> None:
    names = {p.stem for p in CLI.glob("*.py")}
    assert {"__init__", "output", "args", "views", "summaries", *COMMAND_MODULES} == names
    doc = ast.get_docstring(ast.parse((CLI / "__init__.py").read_text())) or ""
    for name in names - {"__init__"}:
        assert f"\n    {name} " in doc, name


def test_no_cli_module_is_over_the_limit() -> None:
    long = {p.name: n for p in CLI.glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"dcinfra/cli modules over {MAX_LINES} lines: {long}"


def test_cli_modules_import_neither_the_package_nor_a_command_module() -> None:
    commands = {f"dcinfra.cli.{m}" for m in COMMAND_MODULES}
    for path in CLI.glob("*.py"):
        if path.name == "__init__.py":
            assert commands <= _imports(path)  # it registers them
            continue
        imports = _imports(path)
        assert "dcinfra.cli" not in imports, path.name
        assert not imports & commands, f"{path.name} imports {sorted(imports & commands)}"


def _called(call: ast.Call) -> str:
    """``Lab`` for ``Lab(...)`` and ``lab.Lab(...)``."""
    return getattr(call.func, "id", "") or getattr(call.func, "attr", "")


def test_the_cli_builds_no_site() -> None:
    """Providers come from dcinfra.sites.provider_for: no site class is called in the CLI."""
    providers = set()
    for path in (REPO / "dcinfra" / "sites").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(f, ast.FunctionDef) and f.name == "provision" for f in node.body
            ):
                providers.add(node.name)
    assert "Lab" in providers
    calls = {
        f"{path.name}:{node.lineno}"
        for path in CLI.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _called(node) in providers
    }
    assert not calls, f"the CLI constructs a site itself: {sorted(calls)}"


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "from dcinfra.cli import main\n"
        "sys.argv = ['dcinfra', '--help']\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert "Usage: dcinfra" in res.stdout, res.stderr
    loaded = json.loads(res.stderr.strip().splitlines()[-1])
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, f"`dcinfra --help` imports {heavy}: import them inside the commands"
