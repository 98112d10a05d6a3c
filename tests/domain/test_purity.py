"""The domain core stays pure: no Azure (or other non-allowed) import, no clock or randomness."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import podium.domain

DOMAIN_DIR = Path(podium.domain.__file__).parent
ALLOWED_THIRD_PARTY = {"pydantic", "yaml"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "random", "uuid4", "uuid1", "getenv"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_stdlib_pydantic_and_yaml_are_imported() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in sorted(DOMAIN_DIR.glob("*.py")):
        extra = imported_roots(path) - stdlib - ALLOWED_THIRD_PARTY
        assert not extra, f"{path.name} imports {sorted(extra)}"


def test_no_clock_randomness_or_environment() -> None:
    for path in sorted(DOMAIN_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS:
                raise AssertionError(f"{path.name}:{node.lineno} uses .{node.attr}")
            if isinstance(node, ast.Name) and node.id in {"random", "environ"}:
                raise AssertionError(f"{path.name}:{node.lineno} uses {node.id}")


def test_importing_the_package_loads_no_azure_module() -> None:
    code = (
        "import sys, podium.domain, podium.domain.flows; "
        "podium.domain.flows.default_catalog(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'azure'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
