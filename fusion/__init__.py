"""Parallel fusion: several independent OpenCL kernels, one fused kernel, one launch."""
from .errors import (BuildError, DeviceLimitError, FusionError, LaunchError, LayoutError,
                     Location, SourceError, UnsupportedError)
from .source import KernelSource

__all__ = [
    "KernelSource",
    "FusionError", "SourceError", "UnsupportedError", "LayoutError", "LaunchError",
    "DeviceLimitError", "BuildError", "Location",
]
