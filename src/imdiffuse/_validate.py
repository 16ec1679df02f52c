"""Input checks and the dtype policy: the one place where user input is judged.

Every public function validates its arguments here, before any numerics run,
so that bad input produces one clear ``ValueError``/``TypeError`` that names
the parameter, the value given and what is allowed -- never a Numba
traceback, a segfault or silent NaN.

The dtype policy (DESIGN.md section 3): float64 in -> float64 out; every other
real dtype (integers, float16, float32) -> float32.  Intensities keep their
units: uint8 0..255 becomes float32 0..255, never rescaled.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "check_image",
    "check_channel_axis",
    "check_time",
    "check_option",
    "check_positive",
    "check_int",
    "check_bool",
    "check_kwargs",
    "parse_spacing",
    "parse_periodic",
    "float_dtype",
]


def _short(value, limit: int = 60) -> str:
    """repr() of a user value, shortened so an error message stays one line."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def float_dtype(dtype) -> np.dtype:
    """Working/output dtype for an input dtype: float64 stays, all else float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def check_bool(value, name: str) -> bool:
    """Accept Python and NumPy booleans only (``np.bool_`` included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_short(value)}")


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """An integer (NumPy integers accepted, bools rejected), optionally >= minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_short(value)}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _real_scalar(value, name: str) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_short(value)}")
    return float(value)


def check_positive(value, name: str, *, allow_zero: bool = False, auto: bool = False):
    """A finite real number > 0 (or >= 0), or the string ``"auto"`` when allowed."""
    if auto and isinstance(value, str):
        if value == "auto":
            return "auto"
        raise ValueError(f'{name} must be a number > 0 or "auto", got {value!r}')
    value = _real_scalar(value, name)
    bound = ">= 0" if allow_zero else "> 0"
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        extra = ' or "auto"' if auto else ""
        raise ValueError(f"{name} must be a finite number {bound}{extra}, got {value!r}")
    return value


def check_time(t, name: str = "t") -> float:
    """Stopping time: a finite real number >= 0, in (physical unit)**2."""
    return check_positive(t, name, allow_zero=True)


def check_option(value, name: str, choices: Iterable[str]) -> str:
    """A string option that must be one of ``choices``; the error lists them."""
    choices = tuple(choices)
    listing = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {listing}, got {_short(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listing}, got {value!r}")
    return value


def check_kwargs(kwargs: dict, name: str, allowed: Iterable[str]) -> None:
    """Reject unknown keyword options, listing the valid ones."""
    allowed = tuple(allowed)
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        listing = ", ".join(allowed) if allowed else "none"
        raise TypeError(f"{name} got unknown option(s) {', '.join(map(repr, unknown))}; valid options: {listing}")


def check_channel_axis(channel_axis, ndim: int, name: str = "channel_axis") -> int | None:
    """Normalise ``channel_axis`` for an array of ``ndim`` dimensions (None = no channels)."""
    if channel_axis is None:
        return None
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
        raise TypeError(f"{name} must be None or an integer axis, got {_short(channel_axis)}")
    axis = operator.index(channel_axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name} must be None or an axis in [{-ndim}, {ndim - 1}] for a {ndim}-D array, got {axis}"
        )
    return axis % ndim


def check_image(
    image,
    *,
    name: str = "image",
    channel_axis=None,
    ndims: Sequence[int] = (2, 3),
    allow_nonfinite: bool = False,
):
    """Validate an image and convert it to its working floating dtype.

    Parameters
    ----------
    image : array_like
        The user's image.  Real numeric dtypes only.
    name : str
        Parameter name used in error messages.
    channel_axis : int or None
        Axis holding channels; it does not count towards the spatial dimensions.
    ndims : sequence of int
        Allowed numbers of *spatial* dimensions.
    allow_nonfinite : bool
        Accept NaN/inf values (default: reject them).

    Returns
    -------
    array : ndarray
        The image as float32 or float64 (dtype policy).  This is the user's
        array itself when it already has the working dtype: callers must not
        write into it.
    channel_axis : int or None
        Normalised (non-negative) channel axis.

    Raises
    ------
    TypeError
        Not array-like, or a bool, complex, object, string or datetime dtype.
    ValueError
        Wrong number of dimensions, an empty array, NaN/inf values, or a bad
        ``channel_axis``.
    """
    if isinstance(image, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain ndarray, got a masked array; fill it first (image.filled(...))")
    if not isinstance(image, np.ndarray):
        if isinstance(image, (str, bytes)) or image is None or isinstance(image, dict):
            raise TypeError(f"{name} must be an array, got {_short(image)}")
        try:
            image = np.asarray(image)
        except Exception as exc:  # ragged nested lists and the like
            raise TypeError(f"{name} must be an array, got {_short(image)} ({exc})") from None
    kind = image.dtype.kind
    if kind == "b":
        raise TypeError(
            f"{name} must have a real numeric dtype, got bool; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    if kind not in "uif":
        raise TypeError(
            f"{name} must have a real numeric dtype (integer or float), got {image.dtype}"
        )
    axis = check_channel_axis(channel_axis, image.ndim)
    spatial = image.ndim - (axis is not None)
    allowed = tuple(ndims)
    if spatial not in allowed:
        allowed_txt = " or ".join(f"{d}-D" for d in allowed)
        chan_txt = f" (besides channel_axis={axis})" if axis is not None else ""
        raise ValueError(
            f"{name} must be {allowed_txt}{chan_txt}, got an array of shape {image.shape}"
            + (" -- colour images need channel_axis=-1" if axis is None and image.ndim == spatial and image.ndim > max(allowed) else "")
        )
    if image.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {image.shape}")
    work = float_dtype(image.dtype)
    array = image if image.dtype == work else image.astype(work)
    if not allow_nonfinite and kind == "f" and _has_nonfinite(array):
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(array.size - np.count_nonzero(finite))
            raise ValueError(
                f"{name} must contain only finite values, got {bad} NaN/inf value(s); "
                f"replace or mask them first"
            )
    return array, axis


#: From this many values on, float arrays are checked for NaN/inf by a
#: compiled one-pass kernel (:func:`imdiffuse._kernels.any_nonfinite`),
#: below by NumPy (no Numba import for small inputs).
FAST_FINITE_MIN = 1 << 16


def _has_nonfinite(array: np.ndarray) -> bool:
    """Whether a float array holds NaN or inf (fast path for large contiguous float32/64 arrays)."""
    if array.size >= FAST_FINITE_MIN and array.flags.c_contiguous and array.dtype in (np.float32, np.float64):
        from ._kernels import any_nonfinite

        return any_nonfinite(array)
    return not np.isfinite(array).all()


def parse_spacing(spacing, ndim: int, name: str = "spacing") -> tuple[float, ...]:
    """Grid spacing per spatial axis, in physical units.

    ``None`` means 1 on every axis; a scalar applies to every axis; a sequence
    must have one entry per spatial axis.  NumPy scalars and arrays are
    accepted.  Every entry must be finite and > 0.
    """
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, str) or isinstance(spacing, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a sequence of {ndim} numbers, got {_short(spacing)}")
    arr = np.asarray(spacing, dtype=object) if not isinstance(spacing, np.ndarray) else spacing
    if arr.ndim == 0:
        value = _real_scalar(arr[()], name)
        values = (value,) * ndim
    elif arr.ndim == 1:
        if len(arr) != ndim:
            raise ValueError(
                f"{name} must have one entry per spatial axis ({ndim}), got {len(arr)}: {_short(spacing)}"
            )
        values = tuple(_real_scalar(v, name) for v in arr)
    else:
        raise ValueError(f"{name} must be a number or a sequence of {ndim} numbers, got {_short(spacing)}")
    for v in values:
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} entries must be finite and > 0, got {_short(spacing)}")
    return values


def parse_periodic(periodic, ndim: int, name: str = "periodic") -> tuple[bool, ...]:
    """Periodic boundaries per axis: one boolean for all axes or one per axis.

    Python and NumPy booleans are accepted (also 0/1 integers inside a
    sequence, as scikit-fmm does); a sequence must have one entry per axis.
    """
    if isinstance(periodic, (bool, np.bool_)):
        return (bool(periodic),) * ndim
    if isinstance(periodic, (str, bytes, dict)) or not isinstance(periodic, (Sequence, np.ndarray)):
        raise TypeError(
            f"{name} must be True, False or a sequence of {ndim} booleans, got {_short(periodic)}"
        )
    values = list(np.asarray(periodic, dtype=object).ravel()) if isinstance(periodic, np.ndarray) else list(periodic)
    if len(values) != ndim or (isinstance(periodic, np.ndarray) and periodic.ndim != 1):
        raise ValueError(
            f"{name} must have one entry per axis ({ndim}), got {_short(periodic)}"
        )
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            out.append(bool(v))
        elif isinstance(v, numbers.Integral) and int(v) in (0, 1):
            out.append(bool(v))
        else:
            raise TypeError(f"{name} entries must be booleans, got {_short(periodic)}")
    return tuple(out)
