"""The auto policy's plan for a device, planned here from that device's stored profile samples
(no run on it): what a change to the policy would choose there, and its predicted cost.

    python -m benchmarks.offline_plan SAMPLES.jsonl --host-us 7.6 \\
        --models mobilenet_v2,squeezenet_v1,deeplab_v3 [--resolution N] [--margin 0.055]

Fits the latency model from the samples (as `python -m fusion profile` does), loads the models
on this machine's default device (only for their launches and the runtime planner's "does
this group fuse whole?"; device limits are this device's), and prints the auto plan with the
models' steps aligned (the policy) and with constant shifts only: launches, fused launches,
shifts, predicted ms per inference.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

import numpy as np

from fusion.execute import profile as prof
from fusion.execute.auto import auto_groups
from fusion.execute.graphs import load
from fusion.plan import latency
from fusion.runtime import Fuser, platform_context


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples")
    parser.add_argument("--host-us", type=float, required=True,
                        help="the device's host enqueue (the profile's report says it)")
    parser.add_argument("--models", default="mobilenet_v2,squeezenet_v1,deeplab_v3")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--switch-us", type=float, default=0.0,
                        help="LatencyModel.switch_us: a launch after another kernel costs more")
    parser.add_argument("--margin", type=float, default=0.0,
                        help="the model's group_error (the profile's held-out median error)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = prof.read_journal(pathlib.Path(args.samples))
    model = latency.fit(prof.samples_of(rows[i] for i in sorted(rows)), host_us=args.host_us)
    model.group_error = args.margin
    model.switch_us = args.switch_us
    import pyopencl as cl
    context = platform_context("intel-cpu")
    queue = cl.CommandQueue(context)
    loaded = [load(context, queue, prof.model_graph(name, args.resolution),
                   np.random.default_rng(k)) for k, name in enumerate(args.models.split(","))]
    fuser = Fuser(context)
    for label, align_steps in (("aligned or shifted (the policy)", True),
                               ("constant shifts only", False)):
        launches, shifts, oracle = auto_groups(loaded, fuser, model, align_steps=align_steps)
        predicted = sum(oracle.cost(tuple(launch)) for launch in launches) / 1e3
        print(f"{label:32} {len(launches)} launches ({sum(len(l) > 1 for l in launches)} "
              f"fused), shifts {shifts}, predicted {predicted:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
