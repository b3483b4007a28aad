"""Planning, pure Python: where each kernel of a fused launch lives (layout) and which kernels
share a launch at all (partition, the one planner the compiler and the runtime both ask). The
grouping policy and its latency model belong here too. Never imports pyopencl or the compiler.
"""
from .layout import DEFAULT_LAYOUT, LAYOUTS, Layout, LaunchShape, SubKernelNeeds
from .partition import DeviceFacts, Partition, partition, shapes_of

__all__ = ["DEFAULT_LAYOUT", "LAYOUTS", "DeviceFacts", "Layout", "LaunchShape", "Partition",
           "SubKernelNeeds", "partition", "shapes_of"]
