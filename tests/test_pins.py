"""The pinned parser dependencies: codegen.py overrides pycparser / pycparserext internals, which
only the pinned versions are known to support (pycparser 3.11 regenerates `for (int a = 0, b = 0;
...)` wrongly; pycparserext 2026.1 cannot parse at all with pycparser 3.12)."""
import importlib.metadata
import os
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

PYPROJECT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
PINS = {"pycparser": SpecifierSet(">=3.0,<3.11"), "pycparserext": SpecifierSet("==2026.1")}


def declared_requirements() -> dict[str, Requirement]:
    with open(PYPROJECT, "rb") as f:
        project = tomllib.load(f)["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    return {r.name.lower(): r for r in requirements}


def test_installed_pycparser_is_in_the_working_range():
    version = Version(importlib.metadata.version("pycparser"))
    assert Version("3.0") <= version < Version("3.11"), f"pycparser {version} is installed"


def test_installed_pycparserext_is_the_pinned_release():
    assert importlib.metadata.version("pycparserext") == "2026.1"


def test_pyproject_states_the_same_pins():
    declared = declared_requirements()
    for name, specifier in PINS.items():
        assert name in declared, f"pyproject.toml does not list {name}"
        assert declared[name].specifier == specifier, \
            f"pyproject.toml pins {name}{declared[name].specifier}, expected {name}{specifier}"


def test_pins_exclude_the_known_bad_versions():
    declared = declared_requirements()
    pycparser = declared["pycparser"].specifier
    assert all(pycparser.contains(v) for v in ("3.0", "3.1", "3.10"))
    assert not pycparser.contains("3.11") and not pycparser.contains("3.12")
    assert not declared["pycparserext"].specifier.contains("2026.2")
