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


def test_the_earlier_names_still_work():
    """What users and the docs import keeps working: the top-level API and the earlier module
    names, re-exporting the new homes."""
    import fusion
    import fusion.execute.graphs
    import fusion.graph
    import fusion.kernelgen
    import fusion.models
    import fusion.models.execute
    import fusion.testing
    import fusion.verify.kernelgen
    import fusion.verify.testing
    from fusion.runtime import launcher
    assert fusion.Fuser is launcher.Fuser and fusion.FusedKernel is launcher.FusedKernel
    assert fusion.KernelSource is fusion.compiler.KernelSource
    assert fusion.generate is fusion.compiler.generate
    assert fusion.testing.check_fusion is fusion.verify.testing.check_fusion
    assert fusion.testing.assert_equivalent is fusion.verify.testing.assert_equivalent
    assert fusion.kernelgen.random_groups is fusion.verify.kernelgen.random_groups
    assert fusion.models.build is fusion.graph.build and fusion.models.levels is fusion.graph.levels
    assert fusion.models.execute.load is fusion.execute.graphs.load
    assert fusion.models.execute.forward is fusion.graph.forward
    assert fusion.ops.make is fusion.ops.device.make


def test_code_generation_runs_without_pyopencl(tmp_path):
    """An ahead-of-time user's machine: pyopencl cannot be imported, and generate() works."""
    blocker = tmp_path / "pyopencl.py"
    blocker.write_text("raise ImportError('no OpenCL on this machine')\n")
    script = ("import fusion\n"
              "from fusion import graph, ops, plan\n"
              "k = fusion.KernelSource.from_file(ops.kernel_path('eltwise_add.cl'), 'eltwise_add')\n"
              "p = fusion.generate([k, k], wave_size=32, launches=[((8, 8), (8, 8))] * 2)\n"
              "print(p.kernel_name, len(graph.build('mobilenet_v2').nodes))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "fused__eltwise_add__eltwise_add"
