"""A built wheel carries the template and the kernel library and works from a fresh virtual
environment."""
import json
import os
import subprocess
import sys
import venv

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work),
                    ROOT], check=True, capture_output=True)
    wheels = [f for f in os.listdir(work) if f.endswith(".whl")]
    assert len(wheels) == 1, wheels
    env_dir = work / "env"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    # The code generator's dependencies only (no pyopencl): ahead-of-time use needs no OpenCL.
    subprocess.run([python, "-m", "pip", "install", "-q", str(work / wheels[0])], check=True,
                   capture_output=True)
    return python, work, wheels[0]


def test_wheel_contains_templates_and_kernels(fresh_install):
    import zipfile
    _, work, wheel = fresh_install
    names = zipfile.ZipFile(work / wheel).namelist()
    assert "fusion/compiler/templates/fused.cl.j2" in names
    assert "fusion/ops/kernels/conv2d_1x1.cl" in names
    assert "fusion/ops/kernels/softmax.cl" in names


def test_generate_from_a_fresh_environment(fresh_install, tmp_path):
    python, _, _ = fresh_install
    script = (
        "import fusion, fusion.ops as r\n"
        "k = r.KERNELS_DIR\n"
        "assert 'site-packages' in str(k), k\n"
        "a = fusion.KernelSource.from_file(k / 'conv2d_1x1.cl', 'conv2d_1x1', ['-DRELU6'])\n"
        "b = fusion.KernelSource.from_file(k / 'softmax.cl', 'softmax_channel')\n"
        "p = fusion.generate([a, b], wave_size=32)\n"
        "print(p.kernel_name)\n")
    result = subprocess.run([python, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "fused__conv2d_1x1__softmax_channel"


def test_command_line_from_a_fresh_environment(fresh_install, tmp_path):
    python, _, _ = fresh_install
    kernels = os.path.join(ROOT, "fusion", "ops", "kernels")
    out = tmp_path / "fused.cl"
    result = subprocess.run(
        [python, "-m", "fusion", "generate",
         "-k", f"{kernels}/eltwise_add.cl:eltwise_add:-DRELU",
         "-k", f"{kernels}/pooling.cl:pooling:-DPOOL_AVG", "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "fused.json").read_text())
    assert manifest["kernel_name"] == "fused__eltwise_add__pooling"
    assert "__kernel void fused__eltwise_add__pooling(" in out.read_text()


def test_prepare_from_a_fresh_environment(fresh_install, tmp_path):
    """The wheel's own dependencies are enough for `prepare` (it needed tqdm, not declared)."""
    python, _, _ = fresh_install
    kernels = os.path.join(ROOT, "fusion", "ops", "kernels")
    result = subprocess.run(
        [python, "-m", "fusion", "prepare", "-k", f"{kernels}/eltwise_add.cl:eltwise_add",
         "-k", f"{kernels}/pooling.cl:pooling", "-o", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # stderr is not a terminal here: no progress bar, only the summary
    assert result.stderr == f"1 fused kernels in {tmp_path / 'out'}/ (0 could not be fused)\n"
    assert json.loads((tmp_path / "out" / "index.json").read_text())["groups"][0]["kernels"] == [0, 1]
