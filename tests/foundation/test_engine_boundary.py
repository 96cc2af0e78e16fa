"""The engine app (jobs/) imports no bounded context and no shared domain app.

Every import statement under jobs/ is read with ast, function-level ones included, so a lazy
`from sales import services` inside a function body is caught as surely as a top-level one. The
engine reaches the contexts' code only through dotted paths stored in rows (registry.py) and
each app's schedules.py found by name (recurring.py), never by importing it.
"""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "jobs"
# The contexts and the apps they share; every other app of this repository is added below, so
# a new context is covered without editing this list.
NAMED = {"sales", "purchase", "payroll", "community", "inventory", "common", "notifications", "demo"}


def _forbidden() -> set[str]:
    local_apps = {
        app.split(".")[0]
        for app in settings.INSTALLED_APPS
        if (ROOT / app.split(".")[0]).is_dir() and app.split(".")[0] not in {"jobs", "tests"}
    }
    return NAMED | local_apps


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_module_under_jobs_imports_a_context_or_shared_domain_app():
    forbidden = _forbidden()
    assert {"sales", "common", "notifications", "demo"} <= forbidden
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted(ENGINE.rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] in forbidden
    ]
    assert offending == []


def test_the_check_sees_function_level_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef later():\n    from sales import services\n    import common.tasks\n")
    assert [module for _line, module in _imports(sample)] == ["os", "sales", "common.tasks"]
