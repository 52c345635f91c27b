"""tests/README.md's table "where each module is tested" stays true: a row for every module of tspsis/ (package
``__init__.py`` and ``__main__.py`` files may go without one), no row for a module that is gone, and every test file
it names exists; and the test files follow the layout (a layer's folder or one of the others, unique basenames)."""
import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
ROW = re.compile(r"^\| `(?P<module>tspsis/[^`]+\.py)` \| (?P<tests>.+) \|$")
FOLDERS = {"core", "eval", "plugin", "engine", "apis", "viz", "lab", "cli", "notebooks", "repo"}


def _table() -> dict[str, list[str]]:
    rows = [ROW.match(line) for line in (TESTS / "README.md").read_text().splitlines()]
    table = {row["module"]: re.findall(r"`([^`]+)`", row["tests"]) for row in rows if row}
    assert len(table) == len([row for row in rows if row]), "a module has two rows"
    return table


def test_every_module_has_a_row_and_every_row_a_module():
    modules = {str(p.relative_to(REPO)) for p in (REPO / "tspsis").rglob("*.py")}
    listed = set(_table())
    assert sorted(m for m in modules - listed if Path(m).name not in ("__init__.py", "__main__.py")) == []
    assert sorted(listed - modules) == []


def test_every_listed_test_file_exists():
    for module, files in _table().items():
        assert files, module
        assert [f for f in files if not (TESTS / f).is_file()] == [], module


def test_test_files_sit_in_the_layout_with_unique_names():
    files = sorted(TESTS.rglob("test_*.py"))
    assert sorted({str(f.parent.relative_to(TESTS)) for f in files} - FOLDERS) == []
    assert [name for name, n in Counter(f.name for f in files).items() if n > 1] == []
