import numpy as np
import pytest
import scipy.fft


def spectral_heat(u, t, spacing=None):
    """Exact solution of the semi-discrete heat equation with reflecting ends.

    The DCT-II diagonalises the (2d+1)-point Neumann Laplacian: eigenvalue
    -4/h**2 sin**2(pi k / (2 N)) per axis.  This is the reference the PDE
    schemes converge to as their time step shrinks.
    """
    u = np.asarray(u, dtype=np.float64)
    spacing = (1.0,) * u.ndim if spacing is None else spacing
    lam = 0.0
    for ax, (n, h) in enumerate(zip(u.shape, spacing)):
        shape = [1] * u.ndim
        shape[ax] = n
        lam = lam + (-4.0 / h**2 * np.sin(np.pi * np.arange(n) / (2 * n)) ** 2).reshape(shape)
    c = scipy.fft.dctn(u, type=2, norm="ortho")
    return scipy.fft.idctn(c * np.exp(t * lam), type=2, norm="ortho")


@pytest.fixture(scope="session")
def camera():
    from skimage import data

    return data.camera()[::2, ::2].astype(np.float64)  # 256 x 256, 0..255


@pytest.fixture(scope="session")
def smooth_volume():
    z, y, x = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 20), np.linspace(0, 1, 24), indexing="ij")
    return (100 + 50 * np.cos(3 * x) * np.sin(2 * y + 1) + 30 * np.exp(-((z - 0.4) ** 2) * 8)).astype(np.float64)
