"""The layers of docs/ARCHITECTURE.md, enforced: import-linter's contracts in pyproject.toml
(`lint-imports`) hold for the package, and fail for a copy of it with a deliberate violation."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def lint(cwd):
    # cwd first on the path, so that the package found is the one in cwd
    env = dict(os.environ, PYTHONPATH=str(cwd))
    done = subprocess.run([LINT, "--config", os.path.join(cwd, "pyproject.toml")], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_the_contracts_hold():
    status, out = lint(ROOT)
    assert status == 0, out
    assert "0 broken" in out and "5 kept" in out


def _copy(tmp_path):
    shutil.copytree(os.path.join(ROOT, "fusion"), tmp_path / "fusion",
                    ignore=shutil.ignore_patterns("__pycache__", "kernels", "templates"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path / "pyproject.toml")
    return tmp_path


def _append(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")


def test_the_planner_importing_pyopencl_breaks_them(tmp_path):
    copy = _copy(tmp_path)
    _append(copy / "fusion" / "plan" / "layout.py", "import pyopencl  # deliberate violation")
    status, out = lint(copy)
    assert status != 0
    assert "Code generation, planning and graphs run without OpenCL BROKEN" in out
    assert "fusion.plan.layout -> pyopencl" in out


def test_the_compiler_importing_the_runtime_breaks_them(tmp_path):
    copy = _copy(tmp_path)
    _append(copy / "fusion" / "compiler" / "render.py", "from ..runtime import cache  # violation")
    status, out = lint(copy)
    assert status != 0
    assert "Layers: each folder imports only the ones below it BROKEN" in out
