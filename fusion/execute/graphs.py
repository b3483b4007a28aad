"""Run a model graph on an OpenCL device operator by operator (the numpy forward pass it is
compared with is fusion.graph.forward).

    loaded = load(context, queue, graph, np.random.default_rng(0))   # random weights, uploaded
    loaded.run(queue, x)                                # x: NCHW float32, graph.input_shape
    result = loaded.read(queue, graph.output.id)
    want = forward(graph, loaded.weights, x)[-1]        # numpy, float64 arithmetic per operator

`load` builds every node with fusion.ops.make() (which draws the node's weights from the
generator and uploads them), then rebinds each operator's tensor inputs to the output images of
the nodes that produce them; the first node's input buffer is the graph's input. The launches
are exactly the library's, so `launch(node_id)` / `kernel(node_id)` are what a fuser takes, and
`run_groups` runs chosen groups of independent nodes as one fused launch each, and
`run_together` does the same for the nodes of several graphs (the multi-DNN case).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pyopencl as cl

from ..compiler.source import KernelSource
from ..errors import FusionError
from ..graph.graph import Graph
from ..ops import device as operators
from ..ops.reference import TENSOR_INPUT_NAMES
from ..ops.tensors import image_shape, nc4hw4_image_array_to_nchw
from ..runtime.launcher import Fuser


@dataclasses.dataclass(eq=False)
class LoadedNode:
    """One node's launch on the device: the library kernel, its sizes and bound arguments."""

    kernel: KernelSource
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: list
    output: cl.MemoryObject
    output_layout: str                 # "image" (NC4HW4) or "buffer" (NCHW)
    output_shape: tuple[int, ...]
    weights: dict                      # host copies: "weights", "bias" (natural shapes)
    built: cl.Kernel                   # the unfused kernel, arguments already set
    flops: int = 0                     # the operator library's count for this launch


class LoadedGraph:
    """A graph whose operators are built on one context, weights uploaded, inputs bound.
    `overwritten`: the nodes whose output memory a later node reuses (load(reuse=True)):
    their outputs cannot be read after a run."""

    def __init__(self, graph: Graph, nodes: list[LoadedNode], input_buffer: cl.Buffer,
                 overwritten: frozenset[int] = frozenset()):
        self.graph = graph
        self.nodes = nodes
        self.input_buffer = input_buffer
        self.overwritten = overwritten

    def output_bytes(self) -> tuple[int, int]:
        """Device memory of the nodes' outputs: (held, each memory object once; what one
        object per node would hold)."""
        held = {id(node.output): node.output.size for node in self.nodes}
        return sum(held.values()), sum(node.output.size for node in self.nodes)

    @property
    def weights(self) -> list[dict]:
        """weights[i]: node i's host weights ({} for operators without any)."""
        return [node.weights for node in self.nodes]

    def kernel(self, node_id: int) -> KernelSource:
        return self.nodes[node_id].kernel

    def launch(self, node_id: int) -> tuple:
        """(global_size, local_size, args) of one node, as a Fuser takes it."""
        node = self.nodes[node_id]
        return node.global_size, node.local_size, list(node.args)

    def upload(self, queue, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, np.float32)
        if x.shape != self.graph.input_shape:
            raise ValueError(f"{self.graph.name}: input shape {x.shape}, expected "
                             f"{self.graph.input_shape}")
        cl.enqueue_copy(queue, self.input_buffer, x)

    def run(self, queue, x: np.ndarray | None = None) -> cl.Event:
        """Upload x (if given) and enqueue every node once, in order; returns the last event."""
        if x is not None:
            self.upload(queue, x)
        event = None
        for node in self.nodes:
            event = cl.enqueue_nd_range_kernel(queue, node.built, node.global_size,
                                               node.local_size)
        return event

    def run_groups(self, queue, fuser, groups: Sequence[Sequence[int]],
                   x: np.ndarray | None = None) -> None:
        """Run every node once, group by group: a group of one node is launched alone, a
        larger group as one fused launch (`fuser.fuse`). Groups must hold independent nodes,
        cover the graph once, and come in an order where every input is ready; `levels(graph)`
        is such a list."""
        if x is not None:
            self.upload(queue, x)
        run_together(queue, fuser, [self], [[(0, i) for i in group] for group in groups])

    def read(self, queue, node_id: int) -> np.ndarray:
        """A node's output copied back as an NCHW float32 array."""
        if node_id in self.overwritten:
            raise FusionError(f"{self.graph.name}: the output of node {node_id} "
                              f"({self.graph.nodes[node_id].name}) shares its memory with a "
                              "later node's (the graph was loaded with reuse=True): only "
                              "outputs nothing later overwrites can be read")
        node = self.nodes[node_id]
        if node.output_layout == "buffer":
            host = np.empty(node.output_shape, np.float32)
            cl.enqueue_copy(queue, host, node.output)
            return host
        width, height = image_shape(node.output_shape)
        raw = np.empty((height, width, 4), np.float32)
        cl.enqueue_copy(queue, raw, node.output, origin=(0, 0), region=(width, height))
        return nc4hw4_image_array_to_nchw(raw, node.output_shape)


def plan_fuser(context: cl.Context, *, specialize: bool = True) -> Fuser:
    """The Fuser plans build their fused kernels with (fusion.execute.plan; the profiles
    measure with it too): specialized to their launches (layout and integer arguments baked
    in: one binary per launch) unless `specialize` is False."""
    return Fuser(context, bake_layout=specialize, bake_arguments=specialize)


def run_together(queue, fuser, graphs: Sequence[LoadedGraph],
                 groups: Sequence[Sequence[tuple[int, int]]]) -> None:
    """Several loaded graphs (inputs already uploaded) run together: each group, a list of
    (graph index, node id), is one launch, fused when it holds more than one node.
    `ready_sets([g.graph for g in graphs])` is a valid list of groups. Checked first: every
    node of every graph exactly once, never before its inputs (so never in one group with a
    node it depends on)."""
    check_groups(graphs, groups)
    for group in groups:
        if len(group) == 1:
            (g, i), = group
            node = graphs[g].nodes[i]
            cl.enqueue_nd_range_kernel(queue, node.built, node.global_size, node.local_size)
        else:
            fused = fuser.fuse([graphs[g].kernel(i) for g, i in group])
            fused(queue, [graphs[g].launch(i) for g, i in group])


def check_groups(graphs: Sequence[LoadedGraph], groups) -> None:
    computed: set[tuple[int, int]] = set()
    for group in groups:
        members = set(group)
        for g, i in group:
            name = graphs[g].graph.name
            if (g, i) in computed or len(members) != len(group):
                raise ValueError(f"{name}: node {i} runs twice")
            missing = [j for j in graphs[g].graph.nodes[i].inputs if (g, j) not in computed]
            together = [j for j in missing if (g, j) in members]
            if together:
                raise ValueError(f"{name}: node {i} is in one group with its input {together}: "
                                 "a group holds independent nodes only")
            if missing:
                raise ValueError(f"{name}: node {i} runs before its inputs {missing}")
        computed |= members
    for g, loaded in enumerate(graphs):
        missing = [i for i in range(len(loaded.graph.nodes)) if (g, i) not in computed]
        if missing:
            raise ValueError(f"{loaded.graph.name}: the groups leave out nodes {missing}")


def load(context, queue, graph: Graph, rng: np.random.Generator, *,
         reuse: bool = False) -> LoadedGraph:
    """Build every node of `graph` on `context` with weights drawn from `rng` (in node order,
    so one seed gives one set of weights) and bind each node's inputs to its producers.

    reuse: a node's output takes the memory of an earlier output where that is safe in every
    order of launches that respects the graph's dependencies (see `_reusable`), so any plan of
    the loaded graph — each node alone, ready sets fused, any grouping of independent nodes —
    may run on it; memory objects of one kind and size are shared. The graph's output is never
    overwritten."""
    nodes: list[LoadedNode] = []
    input_buffer = None
    ancestors: list[frozenset[int]] = []
    consumers: dict[int, list[int]] = {node.id: [] for node in graph.nodes}
    for node in graph.nodes:
        for producer in node.inputs:
            consumers[producer].append(node.id)
    holders: dict[int, list[int]] = {}     # id(memory object) -> the nodes that wrote it
    objects: dict[int, tuple] = {}         # id(memory object) -> (memory, its kind)
    overwritten: set[int] = set()
    for node in graph.nodes:
        ancestors.append(frozenset().union(*(ancestors[j] | {j} for j in node.inputs)))
        op = operators.make(context, queue, node.kind, rng, **node.shape)
        if tuple(op.output_shapes[0]) != node.output_shape:
            raise ValueError(f"{graph.name}: {node.name}: the graph says {node.output_shape}, "
                             f"the operator library {op.output_shapes[0]}")
        args = list(op.args)
        if node.inputs:
            if len(node.inputs) != len(op.tensor_inputs):
                raise ValueError(f"{graph.name}: {node.name} has {len(node.inputs)} inputs, "
                                 f"its operator {len(op.tensor_inputs)}")
            for position, producer in zip(op.tensor_inputs, node.inputs):
                args[position].release()  # make()'s random input, not needed
                args[position] = nodes[producer].output
        else:
            input_buffer = args[op.tensor_inputs[0]]
        output = op.outputs[0]
        if reuse:
            kind = _memory_kind(output)
            shared = _reusable(objects, holders, consumers, ancestors[node.id], kind)
            if shared is not None:
                args = [shared if arg is output else arg for arg in args]
                output.release()
                output = shared
                overwritten.update(holders[id(shared)])
            objects[id(output)] = (output, kind)
            holders.setdefault(id(output), []).append(node.id)
        built = op.build()
        built.set_args(*args)
        weights = {name: value for name, value in op.inputs.items()
                   if name not in TENSOR_INPUT_NAMES}
        nodes.append(LoadedNode(op.kernel, op.global_size, op.local_size, args, output,
                                op.output_layouts[0], tuple(op.output_shapes[0]), weights, built,
                                op.flops))
    return LoadedGraph(graph, nodes, input_buffer, frozenset(overwritten))


def _memory_kind(memory: cl.MemoryObject) -> tuple:
    if isinstance(memory, cl.Image):
        return ("image", memory.get_image_info(cl.image_info.WIDTH),
                memory.get_image_info(cl.image_info.HEIGHT), memory.get_info(cl.mem_info.FLAGS),
                str(memory.get_image_info(cl.image_info.FORMAT)))
    return ("buffer", memory.size, memory.get_info(cl.mem_info.FLAGS))


def _reusable(objects: dict[int, tuple], holders: dict[int, list[int]],
              consumers: dict[int, list[int]], before: frozenset[int], kind: tuple):
    """An earlier output's memory the next node may write instead of a fresh one of `kind`: of
    the same kind, and every node that wrote it is dead before the next node in every
    dependency order — each has readers, and all of them are ancestors of the next node
    (`before`), so they have run before it starts (an in-order queue), in whatever launch or
    fused group. A node with no readers (the graph's output) keeps its memory."""
    for key, (memory, memory_kind) in objects.items():
        if memory_kind == kind and all(consumers[w] and all(c in before for c in consumers[w])
                                       for w in holders[key]):
            return memory
    return None
