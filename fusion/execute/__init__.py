"""Running graphs on a device: loading a model graph's operators (weights uploaded, inputs bound)
and launching them, one by one or in fused groups; timing with the queue kept busy. Next:
planned multi-model execution and CPU-GPU co-execution.
"""
