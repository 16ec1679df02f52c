"""imdiffuse: PDE-based diffusion for imaging and vision.

Heavy modules (NumPy kernels, Numba, SciPy) load lazily on first use, so
``import imdiffuse`` stays fast; the public names are listed in
``__init__.pyi`` for IDEs and type checkers.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imdiffuse")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


__version__ = _version()
del _version
