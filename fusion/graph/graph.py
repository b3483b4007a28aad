"""The graph form of a model: a Graph of Nodes, each one operator of the library
(fusion.operators.KINDS) with the shape arguments make() takes, the ids of the nodes whose
outputs it reads, and the NCHW shape of its output.

Nodes are listed in a topological order and a node's id is its index. The first node reads the
graph's input (an NCHW float buffer, `inputs == ()`) and converts it to an NC4HW4 image
(nchw_to_nc4hw4); the last converts the result back (nc4hw4_to_nchw), as MNN does.

`GraphBuilder` infers output shapes as it appends nodes; the model modules use it:

    g = GraphBuilder("tiny", (1, 3, 32, 32))
    x = g.input()
    x = g.conv(x, 16, 3, stride=2, activation="relu6", name="conv1")
    x = g.global_avg_pool(x, name="pool")
    graph = g.build(g.output(x))
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..ops.library import KINDS

Shape = tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class Node:
    id: int
    name: str
    kind: str
    #: make()'s keyword arguments, every default spelled out (kernel, stride, pad, dilation are
    #: (h, w) pairs); the input sizes (n, c, h, w) are the producer's output shape
    shape: dict
    inputs: tuple[int, ...]
    output_shape: Shape

    def __hash__(self):  # shape is a dict; a node is identified by its graph and id
        return hash((self.id, self.name))


@dataclasses.dataclass(frozen=True)
class Graph:
    name: str
    input_shape: Shape
    nodes: tuple[Node, ...]

    def __post_init__(self):
        for index, node in enumerate(self.nodes):
            if node.id != index:
                raise ValueError(f"{self.name}: node {node.name!r} has id {node.id}, not {index}")
            if node.kind not in KINDS:
                raise ValueError(f"{self.name}: node {node.name!r}: unknown kind {node.kind!r}")
            if any(not 0 <= i < index for i in node.inputs):
                raise ValueError(f"{self.name}: node {node.name!r} reads {node.inputs}: inputs "
                                 "must come earlier in the list")
            if not node.inputs and index != 0:
                raise ValueError(f"{self.name}: only the first node reads the graph input")

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def consumers(self) -> list[list[int]]:
        """consumers()[i]: the ids of the nodes that read node i's output."""
        readers: list[list[int]] = [[] for _ in self.nodes]
        for node in self.nodes:
            for producer in node.inputs:
                readers[producer].append(node.id)
        return readers

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"{self.name}: no node named {name!r}")

    def __len__(self) -> int:
        return len(self.nodes)


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _out_size(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class GraphBuilder:
    """Appends nodes, inferring each output shape. Every method returns the new node's id.

    Padding: `pad=None` means "same": dilation * (kernel - 1) // 2 on each side, which gives
    TensorFlow's SAME output size for odd kernels (TF puts the odd pixel of padding at the
    bottom/right; the kernels here pad symmetrically)."""

    def __init__(self, name: str, input_shape: Sequence[int]):
        self.name = name
        self.input_shape: Shape = tuple(int(s) for s in input_shape)  # type: ignore[assignment]
        self.nodes: list[Node] = []
        self._names: set[str] = set()

    def shape(self, x: int) -> Shape:
        return self.nodes[x].output_shape

    def _add(self, name: str, kind: str, shape: dict, inputs: Sequence[int],
             output_shape: Sequence[int]) -> int:
        if name in self._names:
            raise ValueError(f"{self.name}: two nodes named {name!r}")
        if any(s < 1 for s in output_shape):
            raise ValueError(f"{self.name}: {name} ({kind}) has no output: {tuple(output_shape)}"
                             f" from inputs {[self.shape(i) for i in inputs]}")
        self._names.add(name)
        node = Node(len(self.nodes), name, kind, shape, tuple(inputs),
                    tuple(int(s) for s in output_shape))  # type: ignore[arg-type]
        self.nodes.append(node)
        return node.id

    def _input_sizes(self, x: int) -> dict:
        n, c, h, w = self.shape(x)
        return dict(n=n, c=c, h=h, w=w)

    def input(self, name: str = "input") -> int:
        """The graph input (NCHW buffer) converted to an NC4HW4 image."""
        if self.nodes:
            raise ValueError("input() must be the first node")
        n, c, h, w = self.input_shape
        return self._add(name, "nchw_to_nc4hw4", dict(n=n, c=c, h=h, w=w), (), self.input_shape)

    def output(self, x: int, name: str = "output") -> int:
        """The result converted back to an NCHW buffer."""
        return self._add(name, "nc4hw4_to_nchw", self._input_sizes(x), (x,), self.shape(x))

    def conv(self, x: int, oc: int, kernel=3, *, stride=1, pad=None, dilation=1,
             activation=None, bias=True, name: str) -> int:
        """A convolution (batch norm folded into the bias); 1x1 without padding or dilation
        uses the conv2d_1x1 kernel, every other shape the general conv2d."""
        n, c, h, w = self.shape(x)
        (kh, kw), (sh, sw), (dh, dw) = _pair(kernel), _pair(stride), _pair(dilation)
        ph, pw = (dh * (kh - 1) // 2, dw * (kw - 1) // 2) if pad is None else _pair(pad)
        out = (n, oc, _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw))
        if (kh, kw) == (1, 1) and (ph, pw) == (0, 0):
            shape = dict(n=n, c=c, h=h, w=w, oc=oc, stride=(sh, sw), bias=bias,
                         activation=activation)
            return self._add(name, "conv2d_1x1", shape, (x,), out)
        shape = dict(n=n, c=c, h=h, w=w, oc=oc, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw),
                     dilation=(dh, dw), bias=bias, activation=activation)
        return self._add(name, "conv2d", shape, (x,), out)

    def depthwise(self, x: int, kernel=3, *, stride=1, pad=None, dilation=1, activation=None,
                  bias=True, name: str) -> int:
        n, c, h, w = self.shape(x)
        (kh, kw), (sh, sw), (dh, dw) = _pair(kernel), _pair(stride), _pair(dilation)
        ph, pw = (dh * (kh - 1) // 2, dw * (kw - 1) // 2) if pad is None else _pair(pad)
        out = (n, c, _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw))
        shape = dict(n=n, c=c, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw),
                     dilation=(dh, dw), bias=bias, activation=activation)
        return self._add(name, "depthwise_conv2d", shape, (x,), out)

    def batch_norm(self, x: int, *, activation=None, name: str) -> int:
        """An inference batch norm that cannot be folded into a convolution (ResNet-V2's
        pre-activation): a per-channel scale and shift, i.e. a 1x1 depthwise convolution with
        bias, followed by the activation."""
        return self.depthwise(x, 1, stride=1, pad=0, activation=activation, name=name)

    def _pool(self, kind, x, kernel, stride, pad, name) -> int:
        n, c, h, w = self.shape(x)
        (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
        ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if pad is None else _pair(pad)
        out = (n, c, _out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw))
        shape = dict(n=n, c=c, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw))
        return self._add(name, kind, shape, (x,), out)

    def max_pool(self, x: int, kernel, stride, *, pad=0, name: str) -> int:
        return self._pool("max_pool", x, kernel, stride, pad, name)

    def avg_pool(self, x: int, kernel, stride, *, pad=0, name: str) -> int:
        """Average over the window's pixels inside the input (padding is not counted, as in
        TensorFlow's SAME average pooling)."""
        return self._pool("avg_pool", x, kernel, stride, pad, name)

    def global_avg_pool(self, x: int, *, name: str) -> int:
        n, c, _, _ = self.shape(x)
        return self._add(name, "global_avg_pool", self._input_sizes(x), (x,), (n, c, 1, 1))

    def add(self, a: int, b: int, *, activation=None, name: str) -> int:
        if self.shape(a) != self.shape(b):
            raise ValueError(f"{self.name}: {name}: adding {self.shape(a)} and {self.shape(b)}")
        return self._add(name, "eltwise_add", dict(**self._input_sizes(a), activation=activation),
                         (a, b), self.shape(a))

    def concat(self, xs: Sequence[int], *, name: str) -> int:
        """Channel concatenation. The kernel joins two tensors, so k inputs become a chain of
        k - 1 concat nodes (`name`, `name/2`, `name/3`, ...), each joining the next input."""
        if len(xs) < 2:
            raise ValueError(f"{self.name}: {name}: concat needs two inputs or more")
        result = xs[0]
        for index, x in enumerate(xs[1:], start=1):
            (n, c0, h, w), (n1, c1, h1, w1) = self.shape(result), self.shape(x)
            if (n, h, w) != (n1, h1, w1):
                raise ValueError(f"{self.name}: {name}: concatenating {self.shape(result)} and "
                                 f"{self.shape(x)}")
            label = name if index == 1 else f"{name}/{index}"
            result = self._add(label, "concat", dict(n=n, c0=c0, c1=c1, h=h, w=w), (result, x),
                               (n, c0 + c1, h, w))
        return result

    def fully_connected(self, x: int, oc: int, *, activation=None, bias=True, name: str) -> int:
        n, c, h, w = self.shape(x)
        if (h, w) != (1, 1):
            raise ValueError(f"{self.name}: {name}: fully connected needs a 1x1 input, got {h}x{w}")
        return self._add(name, "fully_connected",
                         dict(n=n, c=c, oc=oc, bias=bias, activation=activation), (x,),
                         (n, oc, 1, 1))

    def softmax(self, x: int, *, name: str) -> int:
        """Softmax over channels (a work-group of 32 per pixel, barriers)."""
        return self._add(name, "softmax", dict(**self._input_sizes(x), local=32), (x,),
                         self.shape(x))

    def resize_bilinear(self, x: int, out_h: int, out_w: int, *, name: str) -> int:
        n, c, _, _ = self.shape(x)
        return self._add(name, "resize_bilinear",
                         dict(**self._input_sizes(x), out_h=out_h, out_w=out_w), (x,),
                         (n, c, out_h, out_w))

    def build(self, output: int | None = None) -> Graph:
        if output is not None and output != len(self.nodes) - 1:
            raise ValueError(f"{self.name}: the output must be the last node")
        return Graph(self.name, self.input_shape, tuple(self.nodes))
