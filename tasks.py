#!/usr/bin/env python3
"""Quickstart entry point; needs only Python 3. Creates .venv/ with everything the project needs
(once, and again when pyproject.toml changes), then runs:

    python3 tasks.py demo     the main job: fuse MobileNet-V2 operators on the CPU device, check,
                              time
    python3 tasks.py test     the test suite (pytest; extra arguments are passed on)
    python3 tasks.py run ...  any `python -m fusion` command (generate, prepare, demo)
"""
import hashlib
import os
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
BIN = os.path.join(VENV, "Scripts" if os.name == "nt" else "bin")
PYTHON = os.path.join(BIN, "python")
STAMP = os.path.join(VENV, ".installed")


def _requirements_digest() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ensure_environment() -> None:
    digest = _requirements_digest()
    if os.path.exists(STAMP) and open(STAMP).read() == digest:
        return
    if not os.path.exists(PYTHON):
        print("creating .venv ...", flush=True)
        try:
            venv.create(VENV, with_pip=True)
        except Exception as error:  # Debian without python3-venv, say
            sys.exit(f"could not create a virtual environment ({error}); "
                     "on Debian/Ubuntu: apt install python3-venv")
    print("installing the project and its dependencies into .venv ...", flush=True)
    subprocess.check_call([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    subprocess.check_call([PYTHON, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"])
    # The embedded default device, Intel's CPU OpenCL runtime, registered with pyopencl's loader.
    subprocess.check_call([PYTHON, "-m", "fusion.runtime.icd"])
    with open(STAMP, "w") as f:
        f.write(digest)


def main(argv) -> int:
    if not argv or argv[0] not in ("demo", "test", "run"):
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        args = [PYTHON, "-m", "fusion", "demo", *rest]
    elif command == "test":
        args = [PYTHON, "-m", "pytest", *rest]
    else:
        args = [PYTHON, "-m", "fusion", *rest]
    # the tests run from the checkout; the commands from where the user is, so that their
    # paths (-k file.cl:name, -o out.cl) mean what they typed
    return subprocess.call(args, cwd=ROOT if command == "test" else os.getcwd())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
