"""The engine (`engine/`) is its own program: no module of it imports Django or the product's apps.

Read from the source (ast), so the check needs none of the engine's heavy dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import engine

ENGINE_DIR = Path(engine.__file__).parent
PRODUCT_PACKAGES = {
    "django",
    "channels",
    "celery",
    "config",
    "avatars",
    "conversations",
    "streaming",
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_engine_modules_exist():
    assert len(list(ENGINE_DIR.glob("*.py"))) > 5


def test_no_engine_module_imports_django_or_the_product():
    offenders = {
        path.name: sorted(imported_packages(path) & PRODUCT_PACKAGES)
        for path in sorted(ENGINE_DIR.rglob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_a_django_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from django.conf import settings\n    return settings\n")
    assert "django" in imported_packages(sample)
