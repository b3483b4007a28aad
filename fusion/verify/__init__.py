"""Verification: that a fused kernel equals its sub-kernels (fusion.verify.testing, for your own
kernels too), the `check` command, and the random kernel generator of the fuzzing campaign.
"""
