"""The operator library: one spec per kind (kernel file, launch recipe, numpy reference, FLOPs)
in `library`, NC4HW4 packing in `tensors`, references in `reference` — all pure Python — and
`device` (pyopencl), which builds operators on a context: `fusion.ops.make(context, queue, kind,
rng, **shape)`.
"""
from .library import (DEFAULT_TOLERANCE, KERNELS_DIR, KINDS, MOBILENET_V2_LAYERS, build,
                      example_shapes, kernel_path)
from .reference import TENSOR_INPUT_NAMES, apply_reference
from .tensors import (bias_to_image_array, conv_weights_to_image_array,
                      depthwise_weights_to_image_array, fc_weights_to_buffer_array, image_shape,
                      nc4hw4_image_array_to_nchw, nchw_to_nc4hw4_image_array)

_DEVICE = ("GARBAGE", "Operator", "build_kernel", "make", "make_layer")


def __getattr__(name):
    # Operators on a device need pyopencl; the specs do not, so `device` is imported on first use.
    if name in _DEVICE:
        from . import device
        return getattr(device, name)
    raise AttributeError(f"module 'fusion.ops' has no attribute {name!r}")


__all__ = ["DEFAULT_TOLERANCE", "KERNELS_DIR", "KINDS", "MOBILENET_V2_LAYERS",
           "TENSOR_INPUT_NAMES", "apply_reference", "bias_to_image_array", "build",
           "conv_weights_to_image_array", "depthwise_weights_to_image_array", "example_shapes",
           "fc_weights_to_buffer_array", "image_shape", "kernel_path",
           "nc4hw4_image_array_to_nchw", "nchw_to_nc4hw4_image_array", *_DEVICE]
