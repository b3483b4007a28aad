"""The earlier name of fusion.verify.testing (kept for existing code)."""
from .verify.testing import *  # noqa: F401,F403
from .verify.testing import __all__  # noqa: F401
