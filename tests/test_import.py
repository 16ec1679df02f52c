"""Import cost and the lazy public API (timings are reported by benchmarks/bench_heat.py)."""

import os
import subprocess
import sys

import imdiffuse


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, **env}).stdout.strip()


def test_import_is_light():
    """`import imdiffuse` loads neither NumPy, SciPy nor Numba (they load on first use)."""
    out = _run("import sys, imdiffuse; print(sorted(m for m in ('numpy', 'scipy', 'numba', 'skimage') if m in sys.modules))")
    assert out == "[]"


def test_cli_help_is_light():
    out = _run("import sys; from imdiffuse import cli; cli.build_parser().format_help(); "
               "print(sorted(m for m in ('numpy', 'scipy', 'numba') if m in sys.modules))")
    assert out == "[]"


def test_eager_import_of_every_public_name():
    """The stub (__init__.pyi) and the modules agree: every listed name imports."""
    out = _run("import imdiffuse; print(len([getattr(imdiffuse, n) for n in imdiffuse.__all__]))", EAGER_IMPORT="1")
    assert int(out) == len(imdiffuse.__all__)
    for name in imdiffuse.__all__:
        assert name in dir(imdiffuse)


def test_version_from_metadata():
    from importlib.metadata import version

    assert imdiffuse.__version__ == version("imdiffuse")


def test_numba_kernels_are_disk_cached():
    from imdiffuse import _kernels

    for kernel in (_kernels.scalar_step, _kernels.tridiagonal_axis):
        assert kernel._cache.__class__.__name__ == "FunctionCache"
