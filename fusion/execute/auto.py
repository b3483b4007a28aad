"""The `auto` policy on loaded graphs: the pure search of fusion.plan.policy, asked with the
latency model's predictions and the runtime planner's answer to "does this group fuse whole?".

    groups, shifts, predicted_us = auto_groups(loaded, fuser, model)

A fused group must be predicted to save more than the model's typical error on groups it did
not see (`LatencyModel.group_error`, the profile's held-out median; policy.with_margin). A group
is allowed when the runtime's planner would put every member into the one fused launch (barrier
kernels agreeing on their work-group, program flags, device limits): a group the planner would
split is never proposed, so what the policy predicts is what runs.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..graph.schedule import levels
from ..plan.latency import LatencyModel, OpFacts
from ..plan.policy import schedule, with_margin
from ..runtime.launcher import Fuser
from .graphs import LoadedGraph
from .profile import node_facts

NodeRef = tuple[int, int]


class GroupOracle:
    """cost(group) and allowed(group) of node references, cached by the members' launches."""

    def __init__(self, loaded: Sequence[LoadedGraph], fuser: Fuser, model: LatencyModel):
        self.loaded = loaded
        self.fuser = fuser
        self.model = model
        self.facts: dict[NodeRef, OpFacts] = node_facts(loaded)
        self._allowed: dict[tuple[str, ...], bool] = {}

    def cost(self, group: Sequence[NodeRef]) -> float:
        return self.model.launch_us([self.facts[ref] for ref in group])

    def predicted_us(self, group: Sequence[NodeRef]) -> float:
        return self.model.group_us([self.facts[ref] for ref in group])

    def allowed(self, group: Sequence[NodeRef]) -> bool:
        key = tuple(sorted(self.facts[ref].key for ref in group))
        if key not in self._allowed:
            fused = self.fuser.fuse([self.loaded[g].kernel(i) for g, i in group])
            partition = fused.partition([self.loaded[g].launch(i) for g, i in group])
            self._allowed[key] = len(partition.fused) == len(group)
        return self._allowed[key]


def auto_groups(loaded: Sequence[LoadedGraph], fuser: Fuser, model: LatencyModel, *,
                max_group: int = 6, max_shift: int = 3, align_steps: bool = True
                ) -> tuple[list[list[NodeRef]], tuple[int, ...], GroupOracle]:
    """The launches the policy chooses for the loaded graphs (each a list of node references,
    in an order that respects every dependency), the shift of each model, and the oracle
    (for the predictions of each launch)."""
    oracle = GroupOracle(loaded, fuser, model)
    per_model = [[[(g, i) for i in level] for level in levels(graph.graph)]
                 for g, graph in enumerate(loaded)]
    cost = with_margin(oracle.cost, model.group_error)
    launches, shifts, _ = schedule(per_model, cost, oracle.allowed,
                                   max_group=max_group, max_shift=max_shift,
                                   align_steps=align_steps)
    return launches, shifts, oracle
