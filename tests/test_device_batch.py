"""scripts/device_batch.py: several commands in one device call, every result in one archive,
packed again after each command so a killed one keeps the others'."""
import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_result_comes_back_in_one_archive_even_after_a_timeout(tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("# two commands\n5 echo one > {results}/one.txt; echo wrote one\n"
                    "1 sleep 5\n\n5 echo three > {results}/three.txt\n")
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "device_batch.py"),
                           "--out", str(out), "--work", str(tmp_path / "work"), str(plan)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1                          # the second one timed out
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[01] rc 0") and "wrote one" in lines[0]
    assert lines[1].startswith("[02] rc 124") and lines[2].startswith("[03] rc 0")
    assert os.listdir(out) == ["batch.tgz"]
    with tarfile.open(out / "batch.tgz") as tar:
        names = set(tar.getnames())
    assert {"batch/results/one.txt", "batch/results/three.txt", "batch/01.log",
            "batch/02.log", "batch/03.log"} <= names


def test_a_malformed_plan_line_is_refused_with_its_number(tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("5 echo fine\nsoon echo later\n")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "device_batch.py"),
                           "--out", str(tmp_path), str(plan)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "plan line 2" in done.stderr
    assert "Traceback" not in done.stderr
