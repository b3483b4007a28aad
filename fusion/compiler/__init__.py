"""The code generator: kernel sources in, one fused OpenCL C program (and its manifest) out.

One module per stage — source (preprocess), parse, rename, rewrite, render — and the pipeline
that runs them (`generate`), with codegen (C text from trees) and manifest beside them. It never
imports pyopencl: ahead-of-time users run it on machines without OpenCL.
"""
from .pipeline import FusedProgram, generate, program_flag_conflicts
from .source import KernelSource

__all__ = ["FusedProgram", "KernelSource", "generate", "program_flag_conflicts"]
