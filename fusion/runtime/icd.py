"""Registering Intel's CPU OpenCL runtime (pip: intel-opencl-rt) with pyopencl's ICD loader.

The wheel installs `<prefix>/lib/libintelocl.so` but its own `etc/OpenCL/vendors/intel-cpu.icd`
points to a build-time path. pyopencl's bundled loader reads every `*.icd` file in
`pyopencl/.libs/` (that is how the PoCL and Oclgrind wheels register themselves), so one line
there holding the library's absolute path makes the platform "Intel(R) OpenCL" appear — in new
processes: the loader reads the files once, when platforms are first listed.

    python -m fusion.runtime.icd        # prints what it registered; exit 1 when not installed
"""
from __future__ import annotations

import importlib.util
import os
import platform
import sys
from pathlib import Path

ICD_NAME = "intel-cpu.icd"


def intel_cpu_library(prefix: str = sys.prefix) -> Path | None:
    """Where intel-opencl-rt put libintelocl.so, or None."""
    candidate = Path(prefix) / "lib" / "libintelocl.so"
    return candidate if candidate.is_file() else None


def pyopencl_icd_directory() -> Path | None:
    spec = importlib.util.find_spec("pyopencl")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / ".libs"


def register_intel_cpu(prefix: str = sys.prefix) -> Path | None:
    """Write (or rewrite) the .icd file; its path, or None when something is not installed."""
    library, directory = intel_cpu_library(prefix), pyopencl_icd_directory()
    if library is None or directory is None or not directory.is_dir():
        return None
    icd = directory / ICD_NAME
    line = f"{library}\n"
    if not icd.is_file() or icd.read_text() != line:
        tmp = icd.with_suffix(".tmp")
        tmp.write_text(line)
        os.replace(tmp, icd)
    return icd


def main() -> int:
    icd = register_intel_cpu()
    if icd is None and platform.machine().lower() not in ("x86_64", "amd64"):
        print(f"Intel's CPU OpenCL runtime exists for x86-64 only (this is {platform.machine()}): "
              "PoCL is the default device here", file=sys.stderr)
        return 0
    if icd is None:
        print("Intel's CPU OpenCL runtime or pyopencl is not installed "
              "(pip install 'parallel-fusion[runtime,cpu]')", file=sys.stderr)
        return 1
    print(f"registered {intel_cpu_library()} in {icd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
