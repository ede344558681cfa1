"""The package's shape: one import name, resources inside the wheel, and core's layer rule."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What core may never import: the app layer and any GUI toolkit.
FORBIDDEN_IN_CORE = ("PySide6", "shiboken6", "pyqtgraph", "labelaudit.gui")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement in ``path``, relative ones resolved to labelaudit.core."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = "labelaudit." + ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            else:
                found.append((node.lineno, node.module))
    return found


def layer_violations(folder: Path) -> list[str]:
    """'file:line imports X' for each import of a forbidden module under ``folder``."""
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN_IN_CORE):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return bad


def test_core_never_imports_qt_or_the_app():
    assert layer_violations(REPO / "core") == []


def test_layer_check_catches_a_qt_import(tmp_path, monkeypatch):
    fake = tmp_path / "core" / "scoring"
    fake.mkdir(parents=True)
    (fake / "sneaky.py").write_text(
        "import pyqtgraph as pg\ndef f():\n    from PySide6.QtCore import QTimer\n    from ...gui import app\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert layer_violations(tmp_path / "core") == [
        "core/scoring/sneaky.py:1 imports pyqtgraph",
        "core/scoring/sneaky.py:3 imports PySide6.QtCore",
        "core/scoring/sneaky.py:4 imports labelaudit.gui",
    ]


def _module_name(path: Path, root: Path) -> str:
    """labelaudit.core.x.y for root/core/x/y.py (a package's __init__.py is the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return "labelaudit." + ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs_at_import(tree: ast.Module):
    """The import statements that run when the module is imported: not those inside
    functions (lazy imports) nor under ``if TYPE_CHECKING:``."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        else:
            stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path, folder: str = "core", lazy: bool = False) -> dict[str, set[str]]:
    """module -> the labelaudit modules under ``root/folder`` that it imports, at import time
    (or anywhere in the file with ``lazy``). ``from pkg import sub`` counts as importing pkg.sub."""
    modules = {_module_name(p, root): p for p in (root / folder).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if lazy else _runs_at_import(tree)
        targets = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)
        # a module's own packages are already importing when it runs: no edge to them
        graph[name] = {t for t in targets if t in modules and not (name + ".").startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_core_imports_form_no_cycle_at_import_time():
    graph = import_graph(REPO)
    assert "labelaudit.core.scoring.hf_common" in graph["labelaudit.core.scoring.probe"]
    assert find_cycle(graph) == []


def test_cycle_check_catches_a_circle(tmp_path):
    pkg = tmp_path / "core" / "scoring"
    pkg.mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .base import Scorer\nfrom .registry import make\n")
    (pkg / "base.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .probe import P\n"
                                 "def lazy():\n    from . import registry\n")
    (pkg / "registry.py").write_text("from . import probe\n")
    (pkg / "probe.py").write_text("from .base import Scorer\nfrom .registry import make\n")
    graph = import_graph(tmp_path)
    assert graph["labelaudit.core.scoring.base"] == set()  # type-checking and lazy imports do not run
    assert find_cycle(graph) == ["labelaudit.core.scoring.registry", "labelaudit.core.scoring.probe",
                                 "labelaudit.core.scoring.registry"]
    (pkg / "probe.py").write_text("from .base import Scorer\n")
    assert find_cycle(import_graph(tmp_path)) == []


def test_scoring_arrows_run_one_way():
    """The registry sits above the back ends; base and hf_common sit below them and import no
    other scoring module, even lazily; no back end reaches up to the registry."""
    graph = import_graph(REPO, lazy=True)
    scoring = "labelaudit.core.scoring"
    for low in ("base", "hf_common"):
        assert {m for m in graph[f"{scoring}.{low}"] if m.startswith(scoring)} == set()
    users = {m for m, targets in graph.items() if f"{scoring}.registry" in targets}
    assert users <= {scoring}
    assert {f"{scoring}.probe", f"{scoring}.hf_classifier"} <= graph[f"{scoring}.registry"]
    assert f"{scoring}.probe" not in graph[f"{scoring}.hf_classifier"]  # shared helpers live in hf_common


def test_headless_commands_load_no_qt():
    code = (
        "import sys; from labelaudit.gui.launch import main\n"
        "import labelaudit.core.pipeline, labelaudit.core.export, labelaudit.core.project\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = out.glob("labelaudit-*.whl")
    return path


def test_wheel_holds_one_import_name_and_its_resources(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"labelaudit"}
    for needed in ("labelaudit/resources/style.qss", "labelaudit/resources/labelaudit.svg",
                   "labelaudit/resources/labelaudit.png", "labelaudit/core/cli.py",
                   "labelaudit/core/scoring/probe.py", "labelaudit/gui/launch.py"):
        assert needed in names
    # every module of the checkout is in the wheel (a new subpackage must be declared)
    for folder, package in (("core", "labelaudit/core"), ("gui", "labelaudit/gui")):
        for path in (REPO / folder).rglob("*.py"):
            assert f"{package}/{path.relative_to(REPO / folder).as_posix()}" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "labelaudit = labelaudit.gui.launch:main" in zipfile.ZipFile(wheel).read(entry).decode()
