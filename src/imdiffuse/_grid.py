"""The pixel/voxel grid: canonical array layout, spacing and step limits.

Every kernel in :mod:`imdiffuse._kernels` works on one canonical layout,
``(C, Z, Y, X)``: channels first, then three spatial axes, C-contiguous.  A
2-D image is stored as ``Z = 1`` (its Z axis carries no flux), so one kernel
source serves 2-D, 3-D and multi-channel data.  :class:`Grid` converts between
the user's layout (any ``channel_axis``) and the canonical one and carries
the spacing.

Boundaries are reflecting (homogeneous Neumann, zero flux): a kernel reads a
neighbour index clamped to the array, so the difference across the border is
zero and no mass leaves the domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_image, parse_spacing

__all__ = ["Grid", "prepare"]


@dataclass(frozen=True)
class Grid:
    """Geometry of one call: user layout <-> canonical ``(C, Z, Y, X)`` layout.

    Attributes
    ----------
    shape : tuple of int
        Shape of the user's array.
    channel_axis : int or None
        Normalised channel axis of the user's array.
    spacing : tuple of float
        Spacing of the spatial axes, in the user's axis order.
    dtype : numpy.dtype
        Working and output dtype (float32 or float64).
    """

    shape: tuple
    channel_axis: int | None
    spacing: tuple
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return len(self.spacing)

    @property
    def spatial_shape(self) -> tuple:
        return tuple(n for i, n in enumerate(self.shape) if i != self.channel_axis)

    @property
    def n_channels(self) -> int:
        return 1 if self.channel_axis is None else self.shape[self.channel_axis]

    @property
    def canonical_shape(self) -> tuple:
        spatial = (1,) * (3 - self.ndim) + self.spatial_shape
        return (self.n_channels,) + spatial

    @property
    def canonical_spacing(self) -> tuple:
        """Spacing of the canonical (Z, Y, X) axes (1.0 on a padded Z axis)."""
        return (1.0,) * (3 - self.ndim) + tuple(self.spacing)

    @property
    def active_axes(self) -> tuple:
        """Canonical spatial axes (0=Z, 1=Y, 2=X) that have more than one sample."""
        return tuple(i for i, n in enumerate(self.canonical_shape[1:]) if n > 1)

    def inv_h2(self) -> np.ndarray:
        """1/h**2 per canonical axis (Z, Y, X), zero on axes with one sample."""
        out = np.zeros(3, dtype=self.dtype)
        for ax in self.active_axes:
            out[ax] = 1.0 / self.canonical_spacing[ax] ** 2
        return out

    def explicit_limit(self) -> float:
        """Largest stable explicit step for diffusivity <= 1: 1 / (2 sum_i h_i**-2).

        This is the stability limit of the explicit (forward Euler) scheme for
        the standard 2*ndim+1 point stencil with reflecting boundaries; it
        also guarantees the maximum principle (all stencil weights >= 0).
        On a grid with no active axis (a single pixel) nothing diffuses and
        the limit is infinite.
        """
        s = float(sum(1.0 / self.canonical_spacing[ax] ** 2 for ax in self.active_axes))
        return np.inf if s == 0 else 1.0 / (2.0 * s)

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """A fresh C-contiguous ``(C, Z, Y, X)`` copy of a user-layout array."""
        a = array if self.channel_axis is None else np.moveaxis(array, self.channel_axis, 0)
        out = np.empty(self.canonical_shape, dtype=self.dtype)
        out[...] = a.reshape(self.canonical_shape)
        return out

    def canonical(self, array: np.ndarray) -> tuple:
        """``(u, owned)``: the canonical layout of ``array``, a read-only view where possible.

        A C-contiguous array without a channel axis (or with channels first)
        is only reshaped: ``owned`` is then False and ``u`` may be the
        user's own memory, so pass ``overwrite=False`` to
        :func:`imdiffuse.schemes.integrate`; otherwise ``u`` is a fresh copy
        (:meth:`to_canonical`) and ``owned`` is True.  Sparing the copy saves
        a full-size buffer and a pass over memory per call.
        """
        if array.dtype == self.dtype and array.flags.c_contiguous and self.channel_axis in (None, 0):
            return array.reshape(self.canonical_shape), False
        return self.to_canonical(array), True

    def from_canonical(self, array: np.ndarray) -> np.ndarray:
        """The user's layout for a canonical array (a view where possible)."""
        if self.channel_axis is None:
            return array.reshape(self.shape)
        moved = tuple(n for i, n in enumerate(self.shape) if i != self.channel_axis)
        a = array.reshape((self.n_channels,) + moved)
        return np.moveaxis(a, 0, self.channel_axis)


def prepare(image, spacing=None, channel_axis=None, *, name: str = "image", ndims=(2, 3)):
    """Validate ``image``/``spacing``/``channel_axis`` and return ``(array, grid)``.

    ``array`` is the image in its working float dtype and the user's layout
    (possibly the user's own array: never write into it).
    """
    array, axis = check_image(image, name=name, channel_axis=channel_axis, ndims=ndims)
    ndim = array.ndim - (axis is not None)
    spacing = parse_spacing(spacing, ndim)
    grid = Grid(shape=array.shape, channel_axis=axis, spacing=spacing, dtype=array.dtype)
    return array, grid
