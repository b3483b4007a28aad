"""The runtime: the only layer that talks to OpenCL (pyopencl). Devices and their quirks, the one
build cache, argument binding, and launching a group as the planner partitioned it.
"""
from .cache import PROGRAMS, ProgramCache, build_alone, save_source
from .devices import (DEFAULT_PLATFORM, PLATFORMS, DeviceQuirks, check_device_limits,
                      device_context, find_platform, platform_context, preferred_wave_size,
                      resolve_platform)
from .launcher import BoundLaunch, FusedKernel, Fuser, FusionWarning, Launch

__all__ = ["BoundLaunch", "DEFAULT_PLATFORM", "DeviceQuirks", "FusedKernel", "Fuser",
           "FusionWarning", "Launch", "PLATFORMS", "PROGRAMS", "ProgramCache", "build_alone",
           "check_device_limits", "device_context", "find_platform", "platform_context",
           "preferred_wave_size", "resolve_platform", "save_source"]
