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

import os

# Numba's OpenMP threading layer spin-waits between parallel regions; on a
# machine shared with other processes that makes 2-thread calls up to 15x
# slower than 1 thread (measured in benchmarks/bench_heat.py).  Passive
# waiting costs nothing measurable on an idle machine.  Users can override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

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
def _line(line, Z, Y):
    """Line number -> (z, y) and their clamped (reflecting) neighbours."""
    z = line // Y
    y = line - z * Y
    return z, y, max(z - 1, 0), min(z + 1, Z - 1), max(y - 1, 0), min(y + 1, Y - 1)


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
        z, y, zm, zp, ym, yp = _line(line, Z, Y)
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
def _face(g, a, i, b, s, face):
    """Implicit coupling weight across face i+1/2: s * g_face.

    g_face is 1 (``g is None``), ``g[a, i, b]`` (``face``: g given per face)
    or ``(g_i + g_{i+1}) / 2`` (g given per voxel).
    """
    if g is None:
        return s
    if face:
        return s * g[a, i, b]
    return s * 0.5 * (g[a, i, b] + g[a, i + 1, b])


@jit(parallel=True)
def tridiagonal_axis(u, g, face, out, cp, dp, s, weight, accumulate, block):
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
    face : bool
        ``g[a, i, b]`` is the diffusivity of face i+1/2 (else: of voxel i).
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
            wp = _face(g, ag, 0, b, s, face)
            diag = 1.0 + wp
            cp[a, 0, b] = -wp / diag
            dp[a, 0, b] = wp * (u[a, 1, b] - u[a, 0, b]) / diag
        for i in range(1, N - 1):
            for b in range(b0, b1):
                wm = _face(g, ag, i - 1, b, s, face)
                wp = _face(g, ag, i, b, s, face)
                ui = u[a, i, b]
                rhs = wm * (u[a, i - 1, b] - ui) + wp * (u[a, i + 1, b] - ui)
                denom = 1.0 + wm + wp + wm * cp[a, i - 1, b]
                cp[a, i, b] = -wp / denom
                dp[a, i, b] = (rhs + wm * dp[a, i - 1, b]) / denom
        for b in range(b0, b1):
            wm = _face(g, ag, N - 2, b, s, face)
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


# ------------------------------------------------------------------------
# Nonlinear scalar diffusion with face diffusivities (Perona-Malik, TV)
# ------------------------------------------------------------------------
#
# The diffusivity of the face between voxels i and j is g(s) with
# s = sum_c (v_c[j] - v_c[i])**2 / h**2, the squared directional derivative
# of the image v the coefficients are computed from (u itself, or its
# Gaussian-smoothed version), summed over channels (joint diffusion).  This
# is Perona & Malik's own discretisation (1990, eq. 8), also MedPy's.  Each
# face's g is computed once per step into short line buffers, so a step
# reads u (and v) and writes out: memory traffic close to a copy.

WEICKERT_C4 = 3.31488


@jit
def apply_diffusivity(buf, n, kind, lam, scale=1.0):
    """buf[:n] = g(scale * buf[:n]) in place; one loop per kind so each vectorises.

    kind: 0 exponential, 1 rational, 2 charbonnier, 3 tukey, 4 weickert,
    5 TV ``1 / sqrt(eps**2 + s)``; ``lam`` is kappa**2 (eps**2 for TV).
    ``scale`` (1/h**2) turns squared differences into squared derivatives.
    """
    if kind == 1:
        for i in range(n):
            buf[i] = lam / (lam + scale * buf[i])
    elif kind == 0:
        for i in range(n):
            buf[i] = np.exp(-(scale * buf[i]) / lam)
    elif kind == 2:
        for i in range(n):
            buf[i] = np.sqrt(lam / (lam + scale * buf[i]))
    elif kind == 5:
        for i in range(n):
            buf[i] = 1.0 / np.sqrt(lam + scale * buf[i])
    elif kind == 3:
        two = lam + lam
        for i in range(n):
            s = scale * buf[i]
            r = (two - s) / two
            buf[i] = r * r if s < two else 0.0
    else:
        for i in range(n):
            r = scale * buf[i] / lam
            if r > 0:
                r2 = r * r
                buf[i] = 1.0 - np.exp(-WEICKERT_C4 / (r2 * r2))
            else:
                buf[i] = 1.0


@jit
def _faces_x(v, z, y, gx, ihx, kind, lam):
    """gx[x] = g of the face (x, x+1) on line (z, y), x = 0..X-2."""
    C, X = v.shape[0], v.shape[3]
    for x in range(X - 1):
        d = v[0, z, y, x + 1] - v[0, z, y, x]
        gx[x] = d * d
    for c in range(1, C):
        for x in range(X - 1):
            d = v[c, z, y, x + 1] - v[c, z, y, x]
            gx[x] += d * d
    apply_diffusivity(gx, X - 1, kind, lam, ihx)


@jit
def _faces_across(v, z0, y0, z1, y1, gl, ih, kind, lam):
    """gl[x] = g of the faces between lines (z0, y0) and (z1, y1)."""
    C, X = v.shape[0], v.shape[3]
    for x in range(X):
        d = v[0, z1, y1, x] - v[0, z0, y0, x]
        gl[x] = d * d
    for c in range(1, C):
        for x in range(X):
            d = v[c, z1, y1, x] - v[c, z0, y0, x]
            gl[x] += d * d
    apply_diffusivity(gl, X, kind, lam, ih)


@jit(parallel=True)
def face_step(u, v, out, tau, ih, kind, lam, rows):
    """One explicit step ``out = u + tau * div(g grad u)`` with face diffusivities.

    Parameters
    ----------
    u, out : (C, Z, Y, X) float arrays (distinct buffers)
    v : (C, Z, Y, X) the image g is computed from (may be ``u`` itself)
    tau : step size (scalar of u's dtype); ih : (3,) 1/h**2 for Z, Y, X
    kind, lam : diffusivity code and kappa**2 (see apply_diffusivity)
    rows : rows per parallel job (the north faces of a job's first row
        are recomputed, later rows reuse the previous row's south faces)
    """
    C, Z, Y, X = u.shape
    nby = (Y + rows - 1) // rows
    for job in numba.prange(Z * nby):
        z = job // nby
        y0 = (job - z * nby) * rows
        y1 = min(Y, y0 + rows)
        zm = z - 1 if z > 0 else 0
        zp = z + 1 if z < Z - 1 else Z - 1
        gx = np.zeros(X, dtype=u.dtype)
        gn = np.zeros(X, dtype=u.dtype)
        gs = np.zeros(X, dtype=u.dtype)
        gb = np.zeros(X, dtype=u.dtype)
        gf = np.zeros(X, dtype=u.dtype)
        if y0 > 0:
            _faces_across(v, z, y0 - 1, z, y0, gn, ih[1], kind, lam)
        for y in range(y0, y1):
            ym = y - 1 if y > 0 else 0
            yp = y + 1 if y < Y - 1 else Y - 1
            if y < Y - 1:
                _faces_across(v, z, y, z, y + 1, gs, ih[1], kind, lam)
            if X > 1:
                _faces_x(v, z, y, gx, ih[2], kind, lam)
            if Z > 1:
                if z > 0:
                    _faces_across(v, zm, y, z, y, gb, ih[0], kind, lam)
                if z < Z - 1:
                    _faces_across(v, z, y, zp, y, gf, ih[0], kind, lam)
            for c in range(C):
                # x = 0 and x = X - 1 clamp; the interior loop vectorises
                _face_update(u, out, c, z, y, 0, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih)
                for x in range(1, X - 1):
                    uc = u[c, z, y, x]
                    acc = ih[2] * (gx[x] * (u[c, z, y, x + 1] - uc) - gx[x - 1] * (uc - u[c, z, y, x - 1]))
                    acc += ih[1] * (gs[x] * (u[c, z, yp, x] - uc) - gn[x] * (uc - u[c, z, ym, x]))
                    acc += ih[0] * (gf[x] * (u[c, zp, y, x] - uc) - gb[x] * (uc - u[c, zm, y, x]))
                    out[c, z, y, x] = uc + tau * acc
                if X > 1:
                    _face_update(u, out, c, z, y, X - 1, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih)
            gn, gs = gs, gn


@jit
def _face_update(u, out, c, z, y, x, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih):
    """The update of one voxel at the ends of a line (clamped x neighbours)."""
    uc = u[c, z, y, x]
    acc = 0.0 * uc
    if x < X - 1:
        acc += ih[2] * gx[x] * (u[c, z, y, x + 1] - uc)
    if x > 0:
        acc -= ih[2] * gx[x - 1] * (uc - u[c, z, y, x - 1])
    acc += ih[1] * (gs[x] * (u[c, z, yp, x] - uc) - gn[x] * (uc - u[c, z, ym, x]))
    acc += ih[0] * (gf[x] * (u[c, zp, y, x] - uc) - gb[x] * (uc - u[c, zm, y, x]))
    out[c, z, y, x] = uc + tau * acc


@jit(parallel=True)
def face_diffusivities(v, gface, axis, ih, kind, lam):
    """gface[i] = g of the face (i, i+1) along canonical spatial ``axis`` (0=Z, 1=Y, 2=X).

    The entry at the last index along ``axis`` is set to 0 (no face).
    """
    C, Z, Y, X = v.shape
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        if axis == 2:
            if X > 1:
                _faces_x(v, z, y, gface[z, y], ih, kind, lam)
            gface[z, y, X - 1] = 0.0
        elif axis == 1:
            if y < Y - 1:
                _faces_across(v, z, y, z, y + 1, gface[z, y], ih, kind, lam)
            else:
                gface[z, y, :] = 0.0
        else:
            if z < Z - 1:
                _faces_across(v, z, y, z + 1, y, gface[z, y], ih, kind, lam)
            else:
                gface[z, y, :] = 0.0


@jit(parallel=True)
def pixel_diffusivity(v, g, ih4, kind, lam):
    """g = g(|grad v|**2) per voxel, central differences, channels summed.

    ``ih4`` holds 1/(4 h**2) per canonical axis (0 on unused axes); at the
    border the clamped neighbour makes the difference one-sided and halved,
    which is the central difference of the reflected (Neumann) image.
    """
    C, Z, Y, X = v.shape
    for line in numba.prange(Z * Y):
        z, y, zm, zp, ym, yp = _line(line, Z, Y)
        row = g[z, y]
        for x in range(X):
            row[x] = 0.0
        for c in range(C):
            if X > 1:
                d = v[c, z, y, 1] - v[c, z, y, 0]
                row[0] += ih4[2] * d * d
                d = v[c, z, y, X - 1] - v[c, z, y, X - 2]
                row[X - 1] += ih4[2] * d * d
            for x in range(1, X - 1):
                d = v[c, z, y, x + 1] - v[c, z, y, x - 1]
                row[x] += ih4[2] * d * d
            for x in range(X):
                dy = v[c, z, yp, x] - v[c, z, ym, x]
                dz = v[c, zp, y, x] - v[c, zm, y, x]
                row[x] += ih4[1] * dy * dy + ih4[0] * dz * dz
        apply_diffusivity(row, X, kind, lam)
