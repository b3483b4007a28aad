"""The six DNNs of the paper (fusion/models): graph form, FLOPs and parameters against Table 1,
ready sets of independent operators, and whole forward passes on PoCL against numpy.

Forward passes run at reduced resolution (every layer, every channel count of the real model;
only the input is smaller), with random weights. Every node's device output is compared with a
numpy forward pass of the same graph (each operator in float64 from float32 inputs); the error
is taken relative to the tensor's largest magnitude, since random weights make magnitudes drift
through a deep network. The full-resolution run is benchmarks/model_forward.py.
"""
from __future__ import annotations

import io
import warnings
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout

import numpy as np
import pytest

import fusion
from fusion import graph as models, ops as operators
from fusion.graph import counting, schedule
from fusion.graph.graph import GraphBuilder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: relative error (execute.compare) allowed between the device and numpy, per node
FORWARD_TOLERANCE = 1e-4

FULL = {name: models.build(name) for name in models.MODELS}


# ----------------------------------------------------------------------------------------------
# Table 1 and the counting convention
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", models.MODELS)
def test_totals_match_table_1(name):
    summary = models.summarize(FULL[name])
    published = counting.TABLE_1[name]
    assert FULL[name].input_shape == (1, 3, published.resolution, published.resolution)
    for what in ("flops", "params"):
        ratio = summary.ratio(what)
        if (name, what) in counting.KNOWN_MISMATCHES:
            # documented: the note must stay true (if the numbers ever match, drop the note)
            assert abs(ratio - 1) > 0.10, f"{name} {what} matches now: remove the mismatch note"
        else:
            assert abs(ratio - 1) <= 0.10, f"{name} {what}: ours / Table 1 = {ratio:.3f}"


def test_known_values_of_the_convention():
    g = FULL["mobilenet_v2"]
    stem = models.cost(g.node("conv1"))        # 3x3/2, 3 -> 32, 112x112 out
    assert stem == models.Cost(112 * 112 * 32 * 3 * 9, 32 * 3 * 9 + 32)
    dw = models.cost(g.node("block2/depthwise"))   # 3x3/2 depthwise, 96 channels, 56x56 out
    assert dw == models.Cost(56 * 56 * 96 * 9, 96 * 9 + 96)
    fc = models.cost(g.node("classifier"))
    assert fc == models.Cost(1280 * 1000, 1280 * 1000 + 1000)
    assert models.cost(g.node("block3/add")) == models.Cost(56 * 56 * 24, 0)
    assert models.cost(g.node("input")) == models.Cost(0, 0)
    preact = models.cost(FULL["resnet_v2"].node("block1/unit1/preact"))  # BN: scale + shift
    assert preact == models.Cost(56 * 56 * 64, 2 * 64)


def test_published_sizes_of_the_architectures():
    """Layer counts and parameter totals as the architectures' own papers / TF-slim give them."""
    def count(name, *kinds):
        return sum(node.kind in kinds for node in FULL[name].nodes)

    convs = ("conv2d", "conv2d_1x1", "depthwise_conv2d")
    assert count("mobilenet_v1", *convs) == 27 and count("mobilenet_v1", "fully_connected") == 1
    assert count("mobilenet_v2", *convs) == 52 and count("mobilenet_v2", "eltwise_add") == 10
    assert count("squeezenet_v1", *convs) == 26
    assert models.summarize(FULL["squeezenet_v1"]).params == 1_248_424  # the paper's 1.25 M
    assert count("inception_v3", "conv2d", "conv2d_1x1") == 94           # TF-slim's 94 convs
    resnet = FULL["resnet_v2"]
    assert count("resnet_v2", "eltwise_add") == 16
    assert sum(n.name.endswith("/shortcut") for n in resnet.nodes) == 4
    assert sum(n.name.endswith("/subsample") for n in resnet.nodes) == 3
    assert resnet.node("postnorm").output_shape == (1, 2048, 7, 7)
    assert FULL["inception_v3"].node("Mixed_7c/concat/5").output_shape == (1, 2048, 8, 8)
    assert FULL["inception_v3"].node("Mixed_6a/concat/2").output_shape == (1, 768, 17, 17)
    deeplab = FULL["deeplab_v3"]
    assert deeplab.node("block17/project").output_shape == (1, 320, 17, 17)  # output stride 16
    assert deeplab.node("block15/depthwise").shape["dilation"] == (2, 2)
    assert deeplab.node("block14/depthwise").shape["dilation"] == (1, 1)
    assert deeplab.output.output_shape == (1, 21, 257, 257)


def test_every_operator_kind_a_model_uses_is_in_the_library():
    used = {node.kind for graph in FULL.values() for node in graph.nodes}
    assert used <= set(operators.KINDS)
    # together the six models use the whole library
    assert used == set(operators.KINDS)


def test_small_operator_share():
    """Reported, not matched: the paper says 60-80 % of operators are under 5 MFLOPs; here
    (multiply-adds, one node per kernel launch) it is 36-70 %: docs/MODELS.md."""
    shares = {name: models.summarize(graph).small_share for name, graph in FULL.items()}
    assert all(0.3 < share < 0.75 for share in shares.values()), shares
    assert shares["mobilenet_v2"] == max(shares.values())


def test_models_command_prints_every_model():
    from fusion.cli import main
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["models"]) == 0
    text = out.getvalue()
    for name in models.MODELS:
        row = next(line for line in text.splitlines() if line.startswith(name))
        assert "%" in row
    assert text.count(" ok") == 11 and "NO*" in text  # DeepLab's params: the documented note
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["models", "--operators", "squeezenet_v1"]) == 0
    assert "fire9/expand3x3" in out.getvalue()


# ----------------------------------------------------------------------------------------------
# graph form
# ----------------------------------------------------------------------------------------------

def test_graph_builder_checks():
    g = GraphBuilder("t", (1, 3, 8, 8))
    x = g.input()
    a = g.conv(x, 8, 3, name="a")
    b = g.conv(x, 4, 3, stride=2, name="b")
    with pytest.raises(ValueError, match="two nodes named"):
        g.conv(x, 8, 3, name="a")
    with pytest.raises(ValueError, match="adding"):
        g.add(a, b, name="add")
    with pytest.raises(ValueError, match="concatenating"):
        g.concat([a, b], name="cat")
    with pytest.raises(ValueError, match="1x1 input"):
        g.fully_connected(a, 10, name="fc")
    with pytest.raises(ValueError, match="no output"):
        g.conv(b, 4, 7, pad=0, name="too_big")
    assert g.shape(a) == (1, 8, 8, 8) and g.shape(b) == (1, 4, 4, 4)
    assert g.nodes[a].kind == "conv2d" and g.conv(x, 4, 1, name="p") == 3
    assert g.nodes[3].kind == "conv2d_1x1"
    graph = g.build()
    assert [n.id for n in graph.nodes] == list(range(len(graph)))
    assert graph.consumers()[0] == [1, 2, 3]


@pytest.mark.parametrize("name", models.MODELS)
def test_graphs_are_well_formed(name):
    graph = FULL[name]
    assert graph.nodes[0].kind == "nchw_to_nc4hw4" and graph.nodes[0].inputs == ()
    assert graph.output.kind == "nc4hw4_to_nchw"
    assert len({node.name for node in graph.nodes}) == len(graph)
    consumers = graph.consumers()
    assert all(consumers[i] for i in range(len(graph) - 1)), "a node nobody reads"
    for node in graph.nodes:
        for producer in node.inputs:  # each node's input sizes are its producer's output
            n, c, h, w = graph.nodes[producer].output_shape
            sizes = node.shape
            if node.kind == "concat":
                continue
            assert (sizes["n"], sizes["c"], sizes.get("h", 1), sizes.get("w", 1)) == (n, c, h, w)


# ----------------------------------------------------------------------------------------------
# independent operators (ready sets)
# ----------------------------------------------------------------------------------------------

def names(graph, ids):
    return {graph.nodes[i].name for i in ids}


@pytest.mark.parametrize("name", models.MODELS)
def test_each_step_holds_only_independent_operators(name):
    graph = FULL[name]
    steps = schedule.levels(graph)
    assert sorted(i for step in steps for i in step) == list(range(len(graph)))
    above = schedule.ancestors(graph)
    position = {i: s for s, step in enumerate(steps) for i in step}
    for node in graph.nodes:
        assert all(position[p] < position[node.id] for p in node.inputs)
        assert all(position[p] < position[node.id] for p in above[node.id])
    for step in steps:
        for a in step:
            for b in step:
                assert a == b or schedule.independent(graph, a, b)


def test_branches_are_ready_together():
    inception = FULL["inception_v3"]
    steps = [names(inception, step) for step in schedule.levels(inception)]
    assert {"Mixed_5b/b0/1x1", "Mixed_5b/b1/1x1", "Mixed_5b/b2/1x1",
            "Mixed_5b/b3/avgpool"} in steps
    assert {"Mixed_6a/b0/3x3", "Mixed_6a/b1/1x1", "Mixed_6a/b2/maxpool"} in steps
    squeeze = FULL["squeezenet_v1"]
    steps = [names(squeeze, step) for step in schedule.levels(squeeze)]
    for fire in range(2, 10):
        assert {f"fire{fire}/expand1x1", f"fire{fire}/expand3x3"} in steps
    deeplab = FULL["deeplab_v3"]
    assert {"aspp/image_pool", "aspp/1x1"} in [names(deeplab, s) for s in schedule.levels(deeplab)]
    assert names(deeplab, schedule.parallel_nodes(deeplab)) == {
        "aspp/image_pool", "aspp/image_pool/1x1", "aspp/image_pool/resize", "aspp/1x1"}
    resnet = FULL["resnet_v2"]
    assert schedule.independent(resnet, resnet.node("block2/unit1/shortcut").id,
                                resnet.node("block2/unit1/conv2").id)
    assert not schedule.independent(resnet, resnet.node("block2/unit1/preact").id,
                                     resnet.node("block2/unit1/conv2").id)
    for chain in ("mobilenet_v1", "mobilenet_v2"):  # no branches (MobileNet-V2's shortcuts
        graph = FULL[chain]                         # hold no operator)
        assert all(len(step) == 1 for step in schedule.levels(graph))
        assert schedule.parallel_nodes(graph) == []


def test_ready_sets_of_several_models():
    a, b = FULL["mobilenet_v2"], FULL["squeezenet_v1"]
    together = schedule.ready_sets([a, b])
    assert len(together) == max(len(schedule.levels(a)), len(schedule.levels(b)))
    assert together[0] == [(0, 0), (1, 0)]
    assert sorted(together[4]) == [(0, schedule.levels(a)[4][0]),
                                   *((1, i) for i in schedule.levels(b)[4])]
    assert sum(len(step) for step in together) == len(a) + len(b)


@pytest.mark.parametrize("name", models.MODELS)
def test_ready_tracker_reproduces_the_levels(name):
    graph = FULL[name]
    tracker = schedule.ReadyTracker(graph)
    seen = []
    while not tracker.finished:
        ready = sorted(tracker.ready())
        seen.append(ready)
        tracker.done(ready)
    assert seen == schedule.levels(graph)
    with pytest.raises(ValueError, match="not ready"):
        schedule.ReadyTracker(graph).done([len(graph) - 1])


# ----------------------------------------------------------------------------------------------
# on the device
# ----------------------------------------------------------------------------------------------

cl = pytest.importorskip("pyopencl")
from fusion.execute import graphs as execute  # noqa: E402


@pytest.fixture(scope="module")
def queue(cpu):
    return cl.CommandQueue(cpu)


@pytest.mark.parametrize("kind", operators.KINDS)
def test_apply_reference_is_the_operator_reference(cpu, queue, kind):
    op = operators.make(cpu, queue, kind, np.random.default_rng(3),
                        **operators.example_shapes(kind))
    tensors = [op.inputs[name] for name in operators.TENSOR_INPUT_NAMES if name in op.inputs]
    weights = {k: v for k, v in op.inputs.items() if k not in operators.TENSOR_INPUT_NAMES}
    assert len(op.tensor_inputs) == len(tensors) == (2 if kind in ("eltwise_add", "concat") else 1)
    for position in op.tensor_inputs:  # tensor_inputs point at the input memory objects
        assert any(op.args[position] is memory for memory in op.input_memory)
    got = operators.apply_reference(kind, tensors, weights, **op.params)
    assert got.dtype == np.float32
    assert np.array_equal(got, op.reference()[0])


#: (model, input resolution, batch) of the reduced-resolution forward passes
REDUCED = [("deeplab_v3", 65, 1), ("inception_v3", 107, 1), ("resnet_v2", 64, 1),
           ("squeezenet_v1", 71, 1), ("mobilenet_v1", 65, 1), ("mobilenet_v2", 64, 2)]


@pytest.mark.parametrize("name,resolution,batch", REDUCED)
def test_forward_pass_matches_numpy(cpu, queue, name, resolution, batch):
    graph = models.build(name, resolution, batch=batch)
    loaded = execute.load(cpu, queue, graph, np.random.default_rng(0))
    x = models.random_input(graph, np.random.default_rng(1))
    loaded.run(queue, x)
    got = [loaded.read(queue, node.id) for node in graph.nodes]
    want = models.forward(graph, loaded.weights, x)
    for node, g, w in zip(graph.nodes, got, want):
        assert g.shape == w.shape == node.output_shape
        assert np.isfinite(g).all(), node.name
        error = models.compare(g, w)
        assert error <= FORWARD_TOLERANCE, f"{name}: {node.name}: relative error {error:.2e}"
    assert np.array_equal(got[0], x)  # the layout conversions are exact
    if graph.nodes[-2].kind == "softmax":
        np.testing.assert_allclose(got[-1].sum(axis=1), 1.0, rtol=1e-5)
        assert got[-1].std() > 0  # not a constant: the logits carried information
    # a second run is bit-identical
    first = loaded.read(queue, graph.output.id)
    loaded.run(queue)
    assert np.array_equal(loaded.read(queue, graph.output.id), first)


def test_weights_come_from_the_seed(cpu, queue):
    graph = models.build("mobilenet_v1", 33)
    one = execute.load(cpu, queue, graph, np.random.default_rng(5)).weights
    two = execute.load(cpu, queue, graph, np.random.default_rng(5)).weights
    assert all(set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
               for a, b in zip(one, two))
    assert one[1]["weights"].shape == (32, 3, 3, 3) and one[0] == {}


@pytest.mark.parametrize("name,resolution", [("squeezenet_v1", 47), ("deeplab_v3", 33),
                                             ("inception_v3", 75)])
def test_fusing_every_ready_set_is_bit_identical(cpu, queue, fusers, name, resolution):
    """The ready sets really are fusable: each step as one fused launch writes exactly what
    the operator-by-operator run writes, for every node."""
    graph = models.build(name, resolution)
    loaded = execute.load(cpu, queue, graph, np.random.default_rng(0))
    x = models.random_input(graph, np.random.default_rng(1))
    loaded.run(queue, x)
    alone = [loaded.read(queue, node.id) for node in graph.nodes]
    steps = schedule.levels(graph)
    assert any(len(step) > 1 for step in steps)
    loaded.run_groups(queue, fusers["groups"], steps, x)
    for node, want in zip(graph.nodes, alone):
        assert np.array_equal(loaded.read(queue, node.id), want), node.name


def test_two_models_fused_together(cpu, queue, fusers):
    """The multi-DNN case: two models' ready sets in lock step, each step one fused launch."""
    graphs = [models.build("mobilenet_v2", 33), models.build("squeezenet_v1", 47)]
    loaded = [execute.load(cpu, queue, g, np.random.default_rng(i)) for i, g in enumerate(graphs)]
    inputs = [models.random_input(g, np.random.default_rng(9)) for g in graphs]
    alone = []
    for one, x in zip(loaded, inputs):
        one.run(queue, x)
        alone.append([one.read(queue, node.id) for node in one.graph.nodes])
    steps = schedule.ready_sets(graphs)
    assert sum(len(step) > 1 for step in steps) >= 30
    # Lenient: on PoCL a barrier kernel (softmax) runs on its own (DeviceQuirks).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fusion.FusionWarning)
        execute.run_together(queue, fusion.Fuser(cpu), loaded, steps)
    for g, one in enumerate(loaded):
        for node in one.graph.nodes:
            assert np.array_equal(one.read(queue, node.id), alone[g][node.id]), node.name


def test_groups_are_checked(cpu, queue, fusers):
    graph = models.build("squeezenet_v1", 39)
    loaded = execute.load(cpu, queue, graph, np.random.default_rng(0))
    order = [[i] for i in range(len(graph))]
    with pytest.raises(ValueError, match="before its inputs"):
        loaded.run_groups(queue, fusers["groups"], order[1:2] + order[:1] + order[2:])
    with pytest.raises(ValueError, match="leave out"):
        loaded.run_groups(queue, fusers["groups"], order[:-1])
    squeeze = graph.node("fire2/squeeze1x1").id
    expand = graph.node("fire2/expand1x1").id
    dependent = [g for g in order if g[0] not in (squeeze, expand)]
    dependent.insert(squeeze, [squeeze, expand])
    with pytest.raises(ValueError, match="in one group with its input"):
        loaded.run_groups(queue, fusers["groups"], dependent)


def test_full_resolution_script_on_the_cpu(tmp_path):
    """benchmarks/model_forward.py at Table 1's resolution (MobileNet-V2 on the CPU device)."""
    out = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "model_forward.py"),
         "--model", "mobilenet_v2", "--rounds", "2", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    (entry,) = report["models"]
    assert entry["model"] == "mobilenet_v2" and entry["resolution"] == 224
    assert entry["check"]["passed"] and entry["check"]["max_error"] <= FORWARD_TOLERANCE
    assert len(entry["forward_s"]) == 2 and all(t > 0 for t in entry["forward_s"])
