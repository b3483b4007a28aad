"""Slices of an operator's NDRange and the part of its output each slice writes: what splitting
one operator across two devices needs to know of the operator library's kernels. Pure Python.

Every library kernel takes its position from `get_global_id` and checks it against the real
sizes it is passed (MNN's `global_size_dim*` arguments), never against `get_global_size`, the
group ids or the local ids; so a slice of its NDRange runs as the same kernel launched with a
global offset, and writes exactly the output elements of the work-items in the slice. Slices
are cut at work-group boundaries along one dimension (`SplitAxis`); `output_region` says which
part of the output a range of work-items along that dimension writes:

    axis = split_axis("conv2d_1x1", params, global_size=(56, 112), local_size=(8, 8))
    region = output_region("conv2d_1x1", params, axis.dim, 0, 40)   # items 0..39 along axis.dim

An image region is a rectangle of the output image (NC4HW4: width ceil(C/4) * W, height N * H);
a buffer region is a list of (first element, count) runs of the flat NCHW output.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .tensors import channel_blocks

#: Kinds whose slices are understood, by the way their work-items map onto the output.
CONV_LIKE = ("conv2d", "conv2d_1x1", "depthwise_conv2d")
SPLITTABLE = (*CONV_LIKE, "fully_connected", "nc4hw4_to_nchw")


@dataclasses.dataclass(frozen=True)
class SplitAxis:
    """Where an NDRange is cut: dimension `dim`, in `units` work-groups of `unit_items`
    work-items each; `items` is the real (unpadded) size along it."""

    dim: int
    units: int
    unit_items: int
    items: int

    def items_of(self, units: int) -> int:
        """Work-items along the axis in the first `units` units (clipped to the real size)."""
        return min(self.items, units * self.unit_items)


@dataclasses.dataclass(frozen=True)
class ImageRegion:
    x: int
    y: int
    width: int
    height: int

    @property
    def origin(self) -> tuple[int, int]:
        return self.x, self.y

    @property
    def region(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclasses.dataclass(frozen=True)
class BufferRegion:
    runs: tuple[tuple[int, int], ...]     # (first element, count)

    @property
    def elements(self) -> int:
        return sum(count for _, count in self.runs)


def _output_shape(kind: str, params: dict) -> tuple[int, int, int, int]:
    """The (N, C, H, W) output of a splittable kind, from its resolved params."""
    n = params["n"]
    if kind == "fully_connected":
        return n, params["oc"], 1, 1
    if kind == "nc4hw4_to_nchw":
        return n, params["c"], params["h"], params["w"]
    from .tensors import out_size
    (kh, kw), (sh, sw) = params["kernel"], params["stride"]
    (ph, pw), (dh, dw) = params["pad"], params["dilation"]
    oc = params.get("oc", params["c"])
    return (n, oc, out_size(params["h"], kh, sh, ph, dh), out_size(params["w"], kw, sw, pw, dw))


def split_axis(kind: str, params: dict, global_size: Sequence[int],
               local_size: Sequence[int] | None, real_global_size: Sequence[int]) -> SplitAxis:
    """The dimension to cut an operator along: the one with the most work-groups (dimension 0
    for fully connected layers, whose dimension 1 is the batch)."""
    if kind not in SPLITTABLE:
        raise ValueError(f"cannot split a {kind} operator: only {', '.join(SPLITTABLE)} "
                         "(kernels whose output is partitioned by their global ids)")
    local = tuple(local_size) if local_size else (1,) * len(global_size)
    axes = [SplitAxis(d, global_size[d] // local[d], local[d], real_global_size[d])
            for d in range(len(global_size))]
    if kind == "nc4hw4_to_nchw":
        return axes[1]        # rows: each writes whole rows of every channel
    return max(axes, key=lambda a: (a.units, -a.dim))


def output_region(kind: str, params: dict, dim: int, lo: int, hi: int):
    """What the work-items [lo, hi) along dimension `dim` write (every item of the others)."""
    n, c, h, w = _output_shape(kind, params)
    blocks = channel_blocks(c)
    if kind == "nc4hw4_to_nchw":
        if dim != 1:
            raise ValueError("nc4hw4_to_nchw splits along dimension 1 (rows) only")
        runs = []
        for batch in range(n):
            rows = range(max(lo, batch * h), min(hi, (batch + 1) * h))
            if rows:
                for channel in range(c):
                    first = ((batch * c + channel) * h + rows[0] - batch * h) * w
                    runs.append((first, len(rows) * w))
        return BufferRegion(tuple(runs))
    if dim == 1:                       # rows of the output image (batch * height)
        return ImageRegion(0, lo, blocks * w, hi - lo)
    if kind == "fully_connected":      # item x writes pixel x of its row
        return ImageRegion(lo, 0, hi - lo, n)
    # conv-like, dimension 0: item x = channel block * width blocks + width block writes the
    # (up to) four pixels from column block * W + 4 * width block; consecutive items write
    # consecutive columns, so a range of items writes a range of columns
    width_blocks = -(-w // 4)

    def first_column(x):
        block, wb = divmod(x, width_blocks)
        return block * w + 4 * wb

    def end_column(x):
        block, wb = divmod(x, width_blocks)
        return min(block * w + 4 * wb + 4, (block + 1) * w)

    x0, x1 = first_column(lo), end_column(hi - 1)
    return ImageRegion(x0, 0, x1 - x0, n * h)
