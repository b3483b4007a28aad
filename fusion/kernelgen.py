"""The earlier name of fusion.verify.kernelgen (kept for existing code)."""
from .verify.kernelgen import *  # noqa: F401,F403
from .verify.kernelgen import __all__  # noqa: F401
