"""The command line as a user runs it: generate, prepare, demo, and their errors."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "fusion", "ops", "kernels")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fusion", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT)


def test_generate_writes_the_kernel_and_its_manifest(tmp_path):
    out = tmp_path / "out" / "fused.cl"
    result = run("generate", "-k", f"{KERNELS}/conv2d_1x1.cl:conv2d_1x1:-DRELU6 -DBIAS",
                 "-k", f"{KERNELS}/softmax.cl:softmax_channel:-DLOCAL_SIZE=16",
                 "--layout", "wave", "-o", str(out))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "fused.json").read_text())
    assert manifest["layout"]["kind"] == "wave"
    assert [s["options"] for s in manifest["sub_kernels"]] == [["-DRELU6", "-DBIAS"],
                                                               ["-DLOCAL_SIZE=16"]]
    assert manifest["sub_kernels"][1]["real_work_groups"] is True
    layout_arguments = [a["index"] for a in manifest["arguments"] if a["kind"] == "layout"]
    assert layout_arguments == [0, manifest["sub_kernels"][1]["arguments"][0]]
    assert f"__kernel void {manifest['kernel_name']}(" in out.read_text()


def test_generate_bakes_integer_arguments_in(tmp_path):
    out = tmp_path / "fused.cl"
    result = run("generate", "-k", f"{KERNELS}/eltwise_add.cl:eltwise_add",
                 "-k", f"{KERNELS}/eltwise_add.cl:eltwise_add", "--bake", "1:global_size_dim0=56",
                 "-o", str(out))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "fused.json").read_text())
    first, second = manifest["sub_kernels"]
    assert first["baked_arguments"] == []
    assert [(b["name"], b["value"]) for b in second["baked_arguments"]] == [("global_size_dim0", "56")]
    passed = [a["original_name"] for a in manifest["arguments"] if a.get("sub_kernel") == 1
              and a["kind"] != "layout"]
    assert "global_size_dim0" not in passed and len(passed) == len(
        [a for a in manifest["arguments"] if a.get("sub_kernel") == 0 and a["kind"] != "layout"]) - 1
    assert " = 56;  /* baked in */" in out.read_text()


def test_generate_to_standard_output():
    result = run("generate", "-k", f"{KERNELS}/eltwise_add.cl:eltwise_add")
    assert result.returncode == 0
    assert "__kernel void fused__eltwise_add(" in result.stdout


def test_generate_reports_bad_input_with_its_location(tmp_path):
    bad = tmp_path / "bad.cl"
    bad.write_text("__kernel void k(__global float *o)\n{\n    o[0] = 1\n}\n")
    result = run("generate", "-k", f"{bad}:k", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}:4:1: syntax error before: }}")
    assert "Traceback" not in result.stderr
    good = tmp_path / "good.cl"
    good.write_text("__kernel void k(__global float *o) { o[0] = 1.0f; }\n")
    missing = run("generate", "-k", f"{good}:nope", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no kernel named 'nope' (kernels found: k)" in missing.stderr
    malformed = run("generate", "-k", "just-a-file.cl")
    assert malformed.returncode == 2 and "FILE:NAME[:OPTIONS]" in malformed.stderr


def test_prepare_fuses_every_two_and_three_combination(tmp_path):
    kernels = [f"{KERNELS}/eltwise_add.cl:eltwise_add", f"{KERNELS}/pooling.cl:pooling",
               f"{KERNELS}/global_avg_pool.cl:global_avg_pool",
               f"{KERNELS}/depthwise_conv2d.cl:depthwise_conv2d"]
    args = ["prepare", "--quiet", "-o", str(tmp_path)]
    for kernel in kernels:
        args += ["-k", kernel]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index["groups"]) == 6 + 4            # C(4,2) + C(4,3)
    assert not index["failures"]
    for group in index["groups"]:
        assert (tmp_path / group["file"]).is_file() and (tmp_path / group["manifest"]).is_file()


def test_demo_checks_and_times_the_groups():
    result = run("demo", "--rounds", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All fused outputs are bit-identical to the separate launches." in result.stdout
    assert result.stdout.count(" yes") == 4 + 2      # four groups, then the two models
    assert "Several DNNs together" in result.stdout and "throughput ratio" in result.stdout
