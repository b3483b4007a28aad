"""The planned multi-model executor (fusion.execute.plan): compiled once, replayed; every model's
output bit-identical to the model run alone, whatever the policy."""
import numpy as np
import pyopencl as cl
import pytest

from fusion import graph as models
from fusion.execute.graphs import load
from fusion.execute.plan import compile_plan

pytestmark = pytest.mark.filterwarnings("ignore::pyopencl.CompilerWarning")

MIX = [("mobilenet_v2", 32), ("mobilenet_v2", 32), ("squeezenet_v1", 48)]


@pytest.fixture(scope="module")
def queue(cpu):
    return cl.CommandQueue(cpu)


@pytest.fixture(scope="module")
def graphs():
    return [models.build(name, resolution) for name, resolution in MIX]


def inputs(graphs, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, g.input_shape).astype(np.float32) for g in graphs]


@pytest.fixture(scope="module")
def alone(cpu, queue, graphs):
    """Each model loaded with the plan's weights (seed + index) and run on its own."""
    def run(xs):
        outputs = []
        for k, (graph, x) in enumerate(zip(graphs, xs)):
            loaded = load(cpu, queue, graph, np.random.default_rng(7 + k))
            loaded.run(queue, x)
            outputs.append(loaded.read(queue, graph.output.id))
        return outputs
    return run


@pytest.mark.parametrize("policy", ["none", "all"])
def test_every_model_matches_itself_run_alone(cpu, queue, graphs, alone, policy):
    plan = compile_plan(cpu, queue, graphs, policy=policy, seed=7)
    for seed in (1, 2):  # new inputs, the same plan
        xs = inputs(graphs, seed)
        for k, x in enumerate(xs):
            plan.upload(queue, k, x)
        plan.replay(queue)
        queue.finish()
        for k, want in enumerate(alone(xs)):
            got = plan.output(queue, k)
            assert got.tobytes() == want.tobytes(), f"model {k} ({graphs[k].name}), {policy}"
    if policy == "none":
        assert plan.fused_launches == 0
        assert len(plan.launches) == sum(len(g.nodes) for g in graphs)
    else:
        assert plan.fused_launches > 0
        assert len(plan.launches) < sum(len(g.nodes) for g in graphs)


def test_a_specialized_plan_passes_fewer_arguments_and_computes_the_same(cpu, queue, graphs,
                                                                         alone):
    specialized = compile_plan(cpu, queue, graphs, policy="all", seed=7)
    plain = compile_plan(cpu, queue, graphs, policy="all", seed=7, specialize=False)
    xs = inputs(graphs, 3)
    for plan in (specialized, plain):
        for k, x in enumerate(xs):
            plan.upload(queue, k, x)
        plan.replay(queue)
    queue.finish()
    for k, want in enumerate(alone(xs)):
        assert specialized.output(queue, k).tobytes() == want.tobytes()
        assert plain.output(queue, k).tobytes() == want.tobytes()
    assert [l.nodes for l in specialized.launches] == [l.nodes for l in plain.launches]
    fused = [(a.kernel.num_args, b.kernel.num_args)
             for a, b in zip(specialized.launches, plain.launches) if a.fused]
    assert fused and all(baked < passed for baked, passed in fused)


def test_the_schedule_lists_every_node_once(cpu, queue, graphs):
    plan = compile_plan(cpu, queue, graphs, policy="all", seed=7)
    seen = [(n["model"], n["node"]) for row in plan.schedule() for n in row["nodes"]]
    assert sorted(seen) == sorted((k, i) for k, g in enumerate(graphs)
                                  for i in range(len(g.nodes)))
    first = plan.schedule()[0]
    assert first["fused"] and {n["model"] for n in first["nodes"]} == {0, 1, 2}
    assert first["arguments"] == plan.launches[0].kernel.num_args > 0
    assert "fused" in plan.describe().splitlines()[1]


def test_a_custom_policy_and_a_bad_one(cpu, queue, graphs):
    def pairs(ready):
        return [ready[i:i + 2] for i in range(0, len(ready), 2)]
    plan = compile_plan(cpu, queue, graphs[:2], policy=pairs, seed=7)
    assert plan.policy == "pairs"
    assert max(len(launch.nodes) for launch in plan.launches) == 2
    with pytest.raises(Exception, match="unknown policy 'some'"):
        compile_plan(cpu, queue, graphs[:1], policy="some")

    def wrong(ready):
        return [ready, ready]
    with pytest.raises(ValueError, match="runs twice"):
        compile_plan(cpu, queue, graphs[:1], policy=wrong)


# -- memory reuse between node outputs (graphs.load(reuse=True)) -----------------------------

BRANCHY = [("inception_v3", 75), ("squeezenet_v1", 47), ("resnet_v2", 64)]


@pytest.mark.parametrize("policy", ["none", "all", "shuffled"])
def test_reused_memory_gives_the_outputs_of_memory_of_its_own(cpu, queue, policy):
    import random
    graphs = [models.build(name, resolution) for name, resolution in BRANCHY]
    chooser = random.Random(3)

    def shuffled(ready):   # any grouping of a ready set, launched in any order
        ready = list(ready)
        chooser.shuffle(ready)
        cuts = sorted(chooser.sample(range(1, len(ready)), k=min(2, len(ready) - 1))) \
            if len(ready) > 1 else []
        return [ready[a:b] for a, b in zip([0, *cuts], [*cuts, len(ready)])]
    plan = compile_plan(cpu, queue, graphs, policy=shuffled if policy == "shuffled" else policy,
                        seed=5)
    memory = plan.memory()
    assert memory["output_bytes"] < 0.75 * memory["output_bytes_without_reuse"], memory
    xs = inputs(graphs, 4)
    for k, x in enumerate(xs):
        plan.upload(queue, k, x)
    plan.replay(queue)
    for k, (graph, x) in enumerate(zip(graphs, xs)):
        own = load(cpu, queue, graph, np.random.default_rng(5 + k))   # one object per node
        assert own.output_bytes()[0] == own.output_bytes()[1]
        own.run(queue, x)
        want = own.read(queue, graph.output.id)
        assert plan.output(queue, k).tobytes() == want.tobytes(), (graph.name, policy)


def test_an_overwritten_output_cannot_be_read(cpu, queue):
    from fusion.errors import FusionError
    graph = models.build("squeezenet_v1", 47)
    loaded = load(cpu, queue, graph, np.random.default_rng(0), reuse=True)
    assert loaded.overwritten and graph.output.id not in loaded.overwritten
    loaded.run(queue, inputs([graph], 0)[0])
    node = min(loaded.overwritten)
    with pytest.raises(FusionError, match="shares its memory with a later node"):
        loaded.read(queue, node)
    loaded.read(queue, graph.output.id)
