"""Numba kernels: the arithmetic of every diffusion model lives here.

All kernels work on the canonical layout of :mod:`imdiffuse._grid`: images
are C-contiguous ``(C, Z, Y, X)`` arrays, a 2-D image has ``Z = 1``, and a
shared coefficient field (diffusivity) is ``(Z, Y, X)``.  Boundaries are
reflecting (zero flux) through clamped neighbour indices.

Arguments that may be ``None`` (``g``: no diffusivity, i.e. the heat
equation) are specialised by Numba at compile time: ``if g is None`` branches
are pruned, so the linear case costs nothing for the generality.

Importing this module imports Numba; the rest of the package imports it
lazily, on the first call that needs a kernel.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["jit", "scalar_step", "tridiagonal_axis"]


def jit(*args, parallel: bool = False, inline: str = "never"):
    """The project's one ``numba.njit``: disk cache, no fastmath, GIL released.

    ``fastmath`` stays off so that results are reproducible and NaN/inf
    checks keep working; ``error_model="numpy"`` lets divisions vectorise.
    """
    options = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", parallel=parallel)
    if inline != "never":
        options["inline"] = inline
    if args and callable(args[0]):
        return numba.njit(**options)(args[0])
    return numba.njit(*args, **options)


@jit
def _divergence(u, g, c, z, y, x, zm, zp, ym, yp, xm, xp, ih):
    """div(g grad u) at one voxel with face diffusivities (g_i + g_j) / 2.

    ``g is None`` is the Laplacian (g = 1).  Compiled separately for both and
    inlined by LLVM into the calling loops.
    """
    uc = u[c, z, y, x]
    if g is None:
        return (
            ih[2] * (u[c, z, y, xp] + u[c, z, y, xm] - 2.0 * uc)
            + ih[1] * (u[c, z, yp, x] + u[c, z, ym, x] - 2.0 * uc)
            + ih[0] * (u[c, zp, y, x] + u[c, zm, y, x] - 2.0 * uc)
        )
    gc = g[z, y, x]
    return 0.5 * (
        ih[2] * ((gc + g[z, y, xp]) * (u[c, z, y, xp] - uc) - (gc + g[z, y, xm]) * (uc - u[c, z, y, xm]))
        + ih[1] * ((gc + g[z, yp, x]) * (u[c, z, yp, x] - uc) - (gc + g[z, ym, x]) * (uc - u[c, z, ym, x]))
        + ih[0] * ((gc + g[zp, y, x]) * (u[c, zp, y, x] - uc) - (gc + g[zm, y, x]) * (uc - u[c, zm, y, x]))
    )


@jit(parallel=True)
def scalar_step(u, g, out, tau, ih):
    """One explicit Euler step ``out = u + tau * div(g grad u)``.

    Parameters
    ----------
    u, out : (C, Z, Y, X) float arrays (distinct buffers)
    g : (Z, Y, X) float array or None (g = 1)
    tau : float scalar of u's dtype
    ih : (3,) array of 1/h**2 for the Z, Y, X axes (0 on unused axes)
    """
    C, Z, Y, X = u.shape
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        zm = z - 1 if z > 0 else 0
        zp = z + 1 if z < Z - 1 else Z - 1
        ym = y - 1 if y > 0 else 0
        yp = y + 1 if y < Y - 1 else Y - 1
        for c in range(C):
            # the two ends of the line clamp, the interior loop vectorises
            out[c, z, y, 0] = u[c, z, y, 0] + tau * _divergence(
                u, g, c, z, y, 0, zm, zp, ym, yp, 0, 1 if X > 1 else 0, ih
            )
            for x in range(1, X - 1):
                out[c, z, y, x] = u[c, z, y, x] + tau * _divergence(
                    u, g, c, z, y, x, zm, zp, ym, yp, x - 1, x + 1, ih
                )
            if X > 1:
                out[c, z, y, X - 1] = u[c, z, y, X - 1] + tau * _divergence(
                    u, g, c, z, y, X - 1, zm, zp, ym, yp, X - 2, X - 1, ih
                )


@jit
def _face(g, a, i, b, s):
    """Implicit coupling weight s * (g_i + g_{i+1}) / 2 across face i+1/2."""
    if g is None:
        return s
    return s * 0.5 * (g[a, i, b] + g[a, i + 1, b])


@jit(parallel=True)
def tridiagonal_axis(u, g, out, cp, dp, s, weight, accumulate, block):
    """Solve ``(I - s A(g)) v = u`` along axis 1 and add ``weight * v`` to out.

    ``A(g)`` is the 1-D reflecting-boundary diffusion matrix with face
    diffusivities ``(g_i + g_{i+1}) / 2`` (``g is None``: g = 1) and ``s``
    is ``m * tau / h**2``.  The matrix is symmetric, strictly diagonally
    dominant with unit row sums, so the Thomas algorithm is stable without
    pivoting and the solve conserves mass and obeys the maximum principle.

    The system is solved in *delta form*, ``(I - s A) d = s A u`` and
    ``v = u + d``: rounding errors then scale with the change ``d``, not with
    ``u``.  (Solving for ``v`` directly, the rounded Thomas coefficients are
    identical on every line and bias the mean coherently, by ~1e-8 per step
    in float32.)

    Parameters
    ----------
    u : (A, N, B) float array
        Right-hand side; the solve runs along axis 1 for every (a, b).
    g : (Ag, N, B) float array or None
        Diffusivity shared by the A // Ag channel blocks (a -> a % Ag).
    out : (A, N, B)
        ``out = weight * v`` (accumulate False) or ``out += weight * v``.
    cp, dp : (A, N, B)
        Work buffers (modified Thomas coefficients).
    block : int
        Number of b-columns solved together: the inner loop runs over
        contiguous memory, so lines along slow axes vectorise.
    """
    A, N, B = u.shape
    Ag = A if g is None else g.shape[0]
    nb = (B + block - 1) // block
    for job in numba.prange(A * nb):
        a = job // nb
        b0 = (job - a * nb) * block
        b1 = min(B, b0 + block)
        ag = a % Ag
        if N == 1:
            for b in range(b0, b1):
                if accumulate:
                    out[a, 0, b] += weight * u[a, 0, b]
                else:
                    out[a, 0, b] = weight * u[a, 0, b]
            continue
        # forward sweep; right-hand side s A u = w-(u[i-1] - u[i]) + w+(u[i+1] - u[i])
        for b in range(b0, b1):
            wp = _face(g, ag, 0, b, s)
            diag = 1.0 + wp
            cp[a, 0, b] = -wp / diag
            dp[a, 0, b] = wp * (u[a, 1, b] - u[a, 0, b]) / diag
        for i in range(1, N - 1):
            for b in range(b0, b1):
                wm = _face(g, ag, i - 1, b, s)
                wp = _face(g, ag, i, b, s)
                ui = u[a, i, b]
                rhs = wm * (u[a, i - 1, b] - ui) + wp * (u[a, i + 1, b] - ui)
                denom = 1.0 + wm + wp + wm * cp[a, i - 1, b]
                cp[a, i, b] = -wp / denom
                dp[a, i, b] = (rhs + wm * dp[a, i - 1, b]) / denom
        for b in range(b0, b1):
            wm = _face(g, ag, N - 2, b, s)
            rhs = wm * (u[a, N - 2, b] - u[a, N - 1, b])
            denom = 1.0 + wm + wm * cp[a, N - 2, b]
            dp[a, N - 1, b] = (rhs + wm * dp[a, N - 2, b]) / denom
        # back substitution, adding weight * (u + d) into out
        for i in range(N - 1, -1, -1):
            for b in range(b0, b1):
                if i < N - 1:
                    dp[a, i, b] -= cp[a, i, b] * dp[a, i + 1, b]
                v = u[a, i, b] + dp[a, i, b]
                if accumulate:
                    out[a, i, b] += weight * v
                else:
                    out[a, i, b] = weight * v


def typed(value, dtype) -> np.generic:
    """A scalar in the kernels' float dtype (avoids float64 promotion in float32 loops)."""
    return np.dtype(dtype).type(value)
