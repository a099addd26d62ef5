"""Package layout, read from the source with ``ast``: no import cycle between helpers modules,
dependencies pointing one way between the stage subpackages, a TensorFlow-free
``import helpers``, and no over-long function without a stated reason."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.paths import REPO_ROOT

PACKAGE_DIR = REPO_ROOT / "helpers"
MAX_FUNCTION_LINES = 60
GENN_PACKAGES = ("pygenn", "ml_genn", "ml_genn_tf")


@dataclass(frozen=True)
class Import:
    module: str          # the importing module, e.g. "helpers.fs.codes"
    target: str          # the absolute module name imported, e.g. "helpers.fs.neuron"
    line: int
    module_level: bool   # False: inside a function body (a lazy import)


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package at ``package_dir``."""
    root = package_dir.parent
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _base_of_relative(module: str, is_package: bool, level: int) -> str:
    parts = module.split(".") if is_package else module.split(".")[:-1]
    return ".".join(parts[:len(parts) - (level - 1)])


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import in ``path`` (module level and inside functions, absolute and relative),
    resolved to absolute module names; ``from pkg import name`` names the submodule
    ``pkg.name`` when ``known`` holds it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parents = _parents(tree)
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = _base_of_relative(module, is_package, node.level)
                base = f"{prefix}.{base}" if base else prefix
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        level = not _in_function(node, parents)
        out += [Import(module, t, node.lineno, level) for t in dict.fromkeys(targets)]
    return out


def package_imports(package_dir: Path) -> list[Import]:
    modules = module_names(package_dir)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, set(modules))]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (most specific module named)."""
    modules = set(module_names(package_dir))
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in package_imports(package_dir):
        target = imp.target
        while target and target not in modules:     # helpers.fs.neuron.FSCode -> helpers.fs.neuron
            target = target.rpartition(".")[0]
        if target and target != imp.module:
            graph[imp.module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}        # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def long_functions(package_dir: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``file:line name (N lines)`` for every function longer than ``limit`` lines whose
    line directly above its ``def`` (or its first decorator) is not a ``# long: <reason>``
    comment."""
    out = []
    for path in sorted(package_dir.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            n = node.end_lineno - node.lineno + 1
            above = lines[first - 2].strip() if first >= 2 else ""
            if n > limit and not (above.startswith("#") and "long:" in above):
                out.append(f"{path.relative_to(package_dir.parent)}:{node.lineno} "
                           f"{node.name} ({n} lines)")
    return out


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# -- the walker itself, on small synthetic packages ---------------------------------------
def test_walker_finds_a_loop_through_relative_and_lazy_imports(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/b.py": "import os\n\ndef f():\n    from .sub.c import g\n    return g\n",
        "pkg/sub/c.py": "from .. import a\nfrom ..b import f as _f\n",
    }) / "pkg"
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}                  # os is outside the package
    assert graph["pkg.sub.c"] == {"pkg.a", "pkg.b"}
    lazy = [i for i in package_imports(pkg) if i.target == "pkg.sub.c"]
    assert len(lazy) == 1 and not lazy[0].module_level and lazy[0].line == 4
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) in (3, 4)
    assert set(cycle) <= {"pkg.a", "pkg.b", "pkg.sub.c"}
    (pkg / "sub" / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(pkg)) is None


def test_long_function_check_counts_lines_and_honours_the_reason_comment(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(60))      # def + 60 lines = 61
    pkg = _write(tmp_path, {"pkg/__init__.py": "",
                            "pkg/m.py": f"def bad():\n{body}\n\n# long: one table\n"
                                        f"@staticmethod\ndef ok():\n{body}\n\n"
                                        "def short():\n    return 1\n"}) / "pkg"
    assert long_functions(pkg) == ["pkg/m.py:1 bad (61 lines)"]


# -- the helpers package ------------------------------------------------------------------
def test_helpers_has_no_import_cycle():
    cycle = find_cycle(import_graph(PACKAGE_DIR))
    assert cycle is None, "import loop between helpers modules: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("modules", [["helpers"],
                                     sorted(m for m in module_names(PACKAGE_DIR)
                                            if m.startswith("helpers.fs"))],
                         ids=["helpers", "helpers.fs"])
def test_importing_imports_no_tensorflow(modules):
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('tensorflow', 'keras')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=REPO_ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"importing {modules} loads TensorFlow: {r.stdout[:300]}"


def _violations(prefix: str, forbidden, *, allowed=None) -> list[str]:
    """Imports from modules under ``prefix`` of a module in ``forbidden`` (prefixes), or,
    with ``allowed``, of any helpers module outside ``allowed``."""
    out = []
    for imp in package_imports(PACKAGE_DIR):
        if not (imp.module == prefix or imp.module.startswith(prefix + ".")):
            continue
        t = imp.target
        bad = any(t == f or t.startswith(f + ".") for f in forbidden)
        if allowed is not None and (t == "helpers" or t.startswith("helpers.")):
            bad = bad or not any(t == a or t.startswith(a + ".") for a in allowed)
        if bad:
            out.append(f"{imp.module}:{imp.line} imports {t}")
    return out


def test_fs_knows_no_network_stage():
    assert _violations("helpers.fs", ["helpers.ann", "helpers.snn", "helpers.studies",
                                      "helpers.report", "tensorflow.keras", "keras"]) == []
    top = [f"{i.module}:{i.line} imports {i.target}" for i in package_imports(PACKAGE_DIR)
           if i.module.startswith("helpers.fs") and i.module_level
           and i.target.split(".")[0] in ("tensorflow", "keras")]
    assert top == [], "helpers.fs imports TensorFlow at module level (import it lazily)"
    model_code = []
    for path in sorted((PACKAGE_DIR / "fs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in (
                    "Model", "Sequential", "Input", "layers", "models") \
                    and "keras" in ast.unparse(node.value):
                model_code.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert model_code == [], "helpers.fs must not build or read Keras models"


def test_ann_knows_no_spikes():
    assert _violations("helpers.ann", ["helpers.fs", "helpers.snn", "helpers.studies"]) == []


def test_report_reads_results_files_only():
    allowed = ["helpers.report", "helpers.fs.neuron", "helpers.fs.codes", "helpers.fs.activations",
               "helpers.results", "helpers.selection", "helpers.paths"]
    assert _violations("helpers.report", ["helpers.ann", "helpers.snn", "helpers.studies"],
                       allowed=allowed) == []


def test_only_the_genn_backend_imports_genn_lazily():
    owners = {"helpers.snn.mlgenn", "helpers.snn.mlgenn_models"}
    bad = []
    for imp in package_imports(PACKAGE_DIR):
        if imp.target.split(".")[0] not in GENN_PACKAGES:
            continue
        if imp.module not in owners or (imp.module == "helpers.snn.mlgenn" and imp.module_level):
            bad.append(f"{imp.module}:{imp.line} imports {imp.target}"
                       + (" at module level" if imp.module_level else ""))
    for path in sorted(PACKAGE_DIR.rglob("*.py")):      # importlib.import_module("pygenn"), ...
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (name not in owners and isinstance(node, ast.Call) and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and str(node.args[0].value).split(".")[0] in GENN_PACKAGES):
                bad.append(f"{name}:{node.lineno} names {node.args[0].value}")
    assert bad == []


def test_no_function_is_longer_than_60_lines_without_a_reason():
    too_long = long_functions(PACKAGE_DIR)
    assert too_long == [], (f"functions over {MAX_FUNCTION_LINES} lines (split them, or put a "
                            "'# long: <reason>' comment directly above the def): "
                            + "; ".join(too_long))
