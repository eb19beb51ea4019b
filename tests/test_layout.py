"""The package layout: what lives at the root, and which way imports go (docs/architecture.md)."""

import ast
import pathlib

import dmrh_tf

PACKAGE = pathlib.Path(dmrh_tf.__file__).parent
ENTRY_POINTS = {"__init__", "train", "evaluate", "encode"}
SUBPACKAGES = {"data", "evaluation", "index", "methods", "model", "training"}
# What each subpackage may import of ours besides itself (never the root `dmrh_tf`); entry points
# may import anything. The graph is acyclic, so there are no circular imports between packages.
ALLOWED = {
    "model": set(),
    "methods": set(),
    "data": set(),
    "evaluation": set(),
    "training": {"model", "methods", "data"},
    "index": {"encode", "training", "data", "evaluation"},
}


def _our_imports(path):
    """The top-level dmrh_tf modules/packages a file imports, e.g. {"model", "training"}."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module + "." + alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "dmrh_tf" and len(parts) > 1:
                found.add(parts[1])
            elif parts == ["dmrh_tf"]:
                found.add("__init__")
    return found


def test_the_root_holds_the_api_entry_points_and_subpackages_only():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert modules == ENTRY_POINTS
    assert packages == SUBPACKAGES


def test_imports_go_one_way():
    for package, allowed in ALLOWED.items():
        for path in (PACKAGE / package).rglob("*.py"):
            imported = _our_imports(path) - {package}
            assert imported <= allowed, f"{path.relative_to(PACKAGE)} imports {sorted(imported - allowed)}"
