"""Parallel fusion: several independent OpenCL kernels, one fused kernel, one launch."""
from .errors import (BuildError, DeviceLimitError, FusionError, LaunchError, LayoutError,
                     Location, SourceError, UnsupportedError)
from .source import KernelSource

__all__ = [
    "KernelSource",
    "FusionError", "SourceError", "UnsupportedError", "LayoutError", "LaunchError",
    "DeviceLimitError", "BuildError", "Location",
]
from .compiler import FusedProgram, generate  # noqa: E402

__all__ += ["generate", "FusedProgram"]


def __getattr__(name):
    # The runtime needs pyopencl; code generation does not, so it is imported on first use.
    if name in ("Fuser", "FusedKernel", "FusionWarning", "BoundLaunch", "Launch", "ProgramCache"):
        from . import runtime
        return getattr(runtime, name)
    raise AttributeError(f"module 'fusion' has no attribute {name!r}")


__all__ += ["Fuser", "FusedKernel", "FusionWarning", "BoundLaunch", "Launch", "ProgramCache"]
