"""Where the project's data lives: templates/ and kernels/ at the top of a checkout, or inside
the package (fusion._templates, fusion._kernels) once installed from a wheel."""
from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _directory(checkout_name: str, installed_name: str) -> Path:
    candidate = _CHECKOUT / checkout_name
    if candidate.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return candidate
    return Path(__file__).resolve().parent / installed_name


def templates_dir() -> Path:
    return _directory("templates", "_templates")


def kernels_dir() -> Path:
    return _directory("kernels", "_kernels")


def kernel_path(filename: str) -> Path:
    """The path of one file of the kernel library, e.g. kernel_path("conv2d_1x1.cl")."""
    return kernels_dir() / filename
