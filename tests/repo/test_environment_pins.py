"""pyproject.toml and environment.yml pin the same stack (the README promises it)."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[=<>!\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    env_lines = [ln.split("#")[0].strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    env = {_name(ln[2:]): ln[2:].replace(" ", "") for ln in env_lines if ln.startswith("- ") and re.search("[=<>]", ln)}
    for name, pin in pins.items():
        assert env.get(name) == pin, f"environment.yml pins {env.get(name)!r}, pyproject {pin!r}"


def test_environment_yml_has_the_lab_extra_with_the_same_pins():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    env_lines = [ln.split("#")[0].strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    env = {_name(ln[2:]): ln[2:].replace(" ", "") for ln in env_lines if ln.startswith("- ") and re.search("[=<>]", ln)}
    assert "ipywidgets" in {_name(r) for r in extras["lab"]}  # progress bars render as widgets in JupyterLab
    for requirement in extras["lab"]:
        assert env.get(_name(requirement)) == requirement.replace(" ", ""), requirement
