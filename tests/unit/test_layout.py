"""The code's layering: the runtime stands alone, the CLI runs without the dev rig, and
the tables the apps create are the ones whose changelogs are declared."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from services.topics import plan
from wirewatch.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_runtime_imports_no_service_cli_or_dev_rig():
    forbidden = ("services", "wirewatch_cli", "devrig", "bench", "tests", "aiosmtpd")
    for path in sorted((ROOT / "wirewatch").glob("*.py")):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in forbidden}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_cli_loads_without_the_dev_rig():
    code = ("import sys, wirewatch_cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('devrig', 'aiosmtpd')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


# The notifier is the one faust app with tables; dedup runs on aiokafka and rebuilds its
# index from dedup.log, so no changelog of dedup's may be declared.
@pytest.mark.parametrize(("service", "has_tables"), [("notifier", True)])
def test_every_table_has_its_declared_changelog(service, has_tables, monkeypatch, tmp_path):
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    app_module = importlib.import_module(f"services.{service}.app")
    settings_module = importlib.import_module(f"services.{service}.settings")
    app = app_module.create_app(settings_module.Settings())
    declared = {t.name: t.partitions for t in plan() if t.name.endswith("-changelog")
                and t.name.startswith(f"{service}-")}
    made = {table.changelog_topic.get_topic_name(): table.partitions
            for table in app.tables.values()}
    assert made == declared and bool(made) == has_tables
    assert CommonSettings().namespace == ""  # the plan's names are unprefixed


def test_dedup_declares_no_changelog():
    assert not [t.name for t in plan() if t.name.startswith("dedup-")]
