"""Parallel fusion: several independent OpenCL kernels, one fused kernel, one launch.

The package's folders are its layers, lowest first: `plan` (which kernels share a launch, and
where each lives in it), `compiler` (kernel sources -> one fused program), `runtime` (the only
layer that talks to OpenCL), `ops` (the operator library), `graph` (model graphs), `execute` and
`verify` (running graphs, checking fusion), and the command line. docs/ARCHITECTURE.md draws them.
"""
import importlib

from .compiler import FusedProgram, KernelSource, generate
from .errors import (BuildError, DeviceError, DeviceLimitError, FusionError, LaunchError,
                     LayoutError, Location, SourceError, UnsupportedError)

_RUNTIME = ("Fuser", "FusedKernel", "FusionWarning", "BoundLaunch", "Launch", "ProgramCache")
_MODULES = ("testing", "kernelgen", "models", "ops", "graph", "execute", "verify", "runtime",
            "plan", "compiler")

__all__ = [
    "KernelSource", "generate", "FusedProgram",
    "FusionError", "SourceError", "UnsupportedError", "LayoutError", "LaunchError",
    "DeviceLimitError", "DeviceError", "BuildError", "Location", *_RUNTIME,
]


def __getattr__(name):
    # The runtime needs pyopencl; code generation does not, so it is imported on first use.
    if name in _RUNTIME:
        from . import runtime
        return getattr(runtime, name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")
