"""Read and write images and volumes, keeping the voxel spacing.

:func:`read` returns an :class:`ImageData` (the array as stored, its spacing
per spatial axis, the channel axis and format specifics); :func:`write` stores
an array atomically: the target either keeps its old content or receives the
complete new file, never a partial one.

Formats are chosen from the file extension (case-insensitive):

============  ==============================  ======  ================================
format        extensions                      modes   needs
============  ==============================  ======  ================================
png           ``.png``                        rw      core (imageio)
jpeg          ``.jpg``, ``.jpeg``             r       core (imageio); lossy, so
                                                      never written
tiff          ``.tif``, ``.tiff``             rw      core (tifffile)
ome-tiff      ``.ome.tif``, ``.ome.tiff``     rw      core (tifffile)
nifti         ``.nii``, ``.nii.gz``           rw      core (nibabel)
nrrd          ``.nrrd`` (rw), ``.nhdr`` (r)   rw      ``pip install "imdiffuse[nrrd]"``
dicom         a directory (one series),       r       ``pip install "imdiffuse[dicom]"``
              ``.dcm``, or a file with the
              DICOM preamble
zarr          ``.zarr`` (a directory)         rw      ``pip install "imdiffuse[dask]"``;
                                                      read lazily (Dask)
ome-zarr      ``.ome.zarr`` (a directory)     rw      ``pip install "imdiffuse[dask]"``;
                                                      read lazily (Dask)
============  ==============================  ======  ================================

Zarr and OME-Zarr (arrays bigger than memory)
---------------------------------------------
:func:`read` returns ``data`` as a lazy :class:`dask.array.Array` (nothing
is loaded until computed); :func:`write` accepts Dask arrays and stores
them chunk by chunk (zarr v3) into a temporary directory next to the target,
renamed into place when complete.  OME-Zarr (OME-NGFF 0.5) keeps the spacing
as the ``scale`` coordinate transformation of the first multiscale level
(0.4 files are read too); plain zarr keeps it in the array's attributes
(``"imdiffuse": {"spacing": ..., "channel_axis": ...}``).  ``read(path,
lazy=True)`` also opens TIFF lazily, through tifffile's zarr store, for
stacks bigger than memory.

Array layout and spacing
------------------------
Arrays keep each format's natural axis order: ``(Y, X)`` / ``(Z, Y, X)`` for
PNG, JPEG, TIFF and DICOM (DICOM: ``(slice, row, column)``), ``(X, Y, Z)`` for
NIfTI and NRRD (as nibabel and pynrrd return them).  ``spacing`` has one entry
per spatial axis in that same order (the channel axis excluded), in the
file's physical unit (mm for NIfTI, NRRD and DICOM; the unit written in the
file for TIFF, reported as ``meta["unit"]``), and 1.0 where the file does not
say.  PNG and JPEG spacing is always 1.0 (their dots-per-inch are ignored).

The dtype rule for writing
--------------------------
* ``dtype=None``: formats that store only integers (PNG: uint8 or uint16)
  keep uint8/uint16 data as is; otherwise they take ``like.data.dtype`` when
  ``like`` is given and is uint8/uint16, else uint8 when all (rounded) values
  lie in [0, 255], else uint16 when they lie in [0, 65535], else
  :class:`ImageFileError` (rescale, pass ``dtype=`` to clip, or write
  TIFF/NIfTI/NRRD).  Colour PNG is 8-bit only.  Formats that store floats
  (TIFF, OME-TIFF, NIfTI, NRRD) keep the array's dtype (float16 becomes
  float32 for NIfTI and NRRD, which have no half floats).
* ``dtype=`` given: the data are converted to it.
* Whenever float data become an integer dtype they are rounded (``np.rint``)
  and clipped to the dtype's range, never wrapped; integer data are clipped
  likewise.  NaN cannot become an integer: :class:`ImageFileError`.  +-inf
  are clipped to the range ends.
* bool data are written as uint8: 0/1 for TIFF, NIfTI and NRRD, 0/255 for PNG
  (so masks are visible in image viewers).

Errors
------
Every failure about a file (missing, empty, corrupt or truncated content,
unknown extension, missing optional package, existing target) raises
:class:`ImageFileError`, a subclass of :class:`OSError` whose message names
the file and says what is wrong.  A missing input is also a
:class:`FileNotFoundError`, an existing target also a
:class:`FileExistsError`.  Bad arguments (a wrong ``spacing``,
``channel_axis`` or data type) raise ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = ["ImageFileError", "ImageData", "FormatInfo", "read", "write", "formats"]


class ImageFileError(OSError):
    """A file could not be read or written; the message names the file and the reason."""


class _ImageFileNotFoundError(ImageFileError, FileNotFoundError):
    """Input file missing (also a FileNotFoundError)."""


class _ImageFileExistsError(ImageFileError, FileExistsError):
    """Target exists and overwrite=False (also a FileExistsError)."""


class FormatInfo(NamedTuple):
    """One entry of :func:`formats`."""

    extensions: tuple
    """File name endings (lower case); ``"<directory>"`` for a DICOM series folder."""
    modes: str
    """``"rw"`` (read and write) or ``"r"`` (read only)."""
    extra: str | None
    """The pip extra that adds support (``pip install "imdiffuse[<extra>]"``), or None."""
    note: str
    """One line for help texts."""


_FORMATS = {
    "png": FormatInfo((".png",), "rw", None, "8/16-bit grey, 8-bit RGB(A); integers only"),
    "jpeg": FormatInfo((".jpg", ".jpeg"), "r", None, "read only (lossy): write PNG or TIFF instead"),
    "tiff": FormatInfo((".tif", ".tiff"), "rw", None, "2-D/3-D, integer or float, ImageJ spacing"),
    "ome-tiff": FormatInfo((".ome.tif", ".ome.tiff"), "rw", None, "2-D/3-D, integer or float, PhysicalSize spacing"),
    "nifti": FormatInfo((".nii", ".nii.gz"), "rw", None, "2-D to 4-D (4th axis = channels/time), affine and header"),
    "nrrd": FormatInfo((".nrrd", ".nhdr"), "rw", "nrrd", "spacing from space directions; .nhdr is read only"),
    "dicom": FormatInfo(("<directory>", ".dcm"), "r", "dicom", "a folder holding one series, or one file; write .nii.gz instead"),
    "zarr": FormatInfo((".zarr",), "rw", "dask", "zarr v3 directory, read lazily (Dask), spacing in the attributes"),
    "ome-zarr": FormatInfo((".ome.zarr",), "rw", "dask", "OME-NGFF, read lazily (Dask), spacing from the multiscale scale"),
}

# extension -> format; longest endings first so ".ome.tif" wins over ".tif"
_EXTENSIONS = sorted(
    ((ext, name) for name, info in _FORMATS.items() for ext in info.extensions if ext.startswith(".")),
    key=lambda item: -len(item[0]),
)


def formats() -> dict:
    """Supported file formats.

    Returns
    -------
    dict
        Format name (``"png"``, ``"jpeg"``, ``"tiff"``, ``"ome-tiff"``,
        ``"nifti"``, ``"nrrd"``, ``"dicom"``) -> :class:`FormatInfo`
        ``(extensions, modes, extra, note)``: the file endings, ``"rw"`` or
        ``"r"``, the pip extra needed (None for core formats) and a one-line
        note for help texts.

    Examples
    --------
    >>> from imdiffuse import io
    >>> io.formats()["nifti"].extensions
    ('.nii', '.nii.gz')
    >>> io.formats()["dicom"].modes, io.formats()["dicom"].extra
    ('r', 'dicom')
    """
    return dict(_FORMATS)


def _supported_text() -> str:
    return ", ".join(ext for name, info in _FORMATS.items() for ext in info.extensions if ext.startswith(".")) + (
        ", or a directory holding a DICOM series"
    )


@dataclass(frozen=True, eq=False, repr=False)
class ImageData:
    """An image or volume read from a file, with its spacing.

    Parameters
    ----------
    data : ndarray
        The array as stored in the file: native dtype (uint8, uint16, int16,
        float32, ...; DICOM after RescaleSlope/Intercept, NIfTI after
        scl_slope/scl_inter), axes in the format's natural order (see the
        module docstring).
    spacing : tuple of float
        One entry per spatial axis of `data` (the channel axis excluded), in
        physical units (mm for NIfTI, NRRD and DICOM); 1.0 where unknown.
    channel_axis : int or None
        Axis of `data` holding colour/vector channels (-1 for RGB PNG and
        RGB TIFF, 3 for 4-D NIfTI), None for grey images.
    format : str
        ``"png"``, ``"jpeg"``, ``"tiff"``, ``"ome-tiff"``, ``"nifti"``,
        ``"dicom"`` or ``"nrrd"``.
    meta : dict
        Format specifics: ``"unit"`` where known; NIfTI ``"header"`` (a
        nibabel header) and ``"affine"``; DICOM ``"rescale"`` (slope,
        intercept), ``"series_uid"``, ``"files"``, ``"positions"``,
        ``"orientation"``; NRRD ``"header"``; TIFF ``"axes"``.

    Examples
    --------
    `np.asarray` gives the pixel array:

    >>> import numpy as np
    >>> img = ImageData(np.zeros((2, 3), np.uint8), (1.0, 1.0), None, "png", {})
    >>> np.asarray(img).shape, img.dtype, img.spacing
    ((2, 3), dtype('uint8'), (1.0, 1.0))
    """

    data: np.ndarray
    spacing: tuple
    channel_axis: int | None = None
    format: str = ""
    meta: dict = field(default_factory=dict)

    def __array__(self, dtype=None, copy=None):
        arr = self.data if isinstance(self.data, np.ndarray) else np.asarray(self.data)  # lazy (Dask) data: computed
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            if copy is False:
                raise ValueError(f"cannot convert {arr.dtype} to {np.dtype(dtype)} without a copy")
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    @property
    def shape(self) -> tuple:
        """Shape of `data`."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """dtype of `data`."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions of `data` (channel axis included)."""
        return self.data.ndim

    def __repr__(self) -> str:
        return (
            f"ImageData(shape={self.data.shape}, dtype={self.data.dtype}, spacing={self.spacing}, "
            f"channel_axis={self.channel_axis}, format={self.format!r})"
        )


# --------------------------------------------------------------------------- helpers


def _as_path(path, name: str = "path") -> pathlib.Path:
    try:
        return pathlib.Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}") from None


def _import(module: str, fmt: str, path, action: str, extra: str | None = None, package: str | None = None):
    """Import an optional (or core) package, or raise ImageFileError saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f'pip install "imdiffuse[{extra}]"' if extra else f"pip install {package or module}"
        raise ImageFileError(
            f"cannot {action} {path}: {fmt} support needs the package {package or module}, "
            f"which is not installed; install it with: {hint}"
        ) from exc


def _format_of(path: pathlib.Path, action: str) -> str:
    """Format name from the file name (case-insensitive), sniffing DICOM for reads."""
    lower = path.name.lower()
    for ext, name in _EXTENSIONS:
        if lower.endswith(ext):
            return name
    if action == "read" and path.is_file():
        try:
            with open(path, "rb") as fh:
                head = fh.read(132)
        except OSError:
            head = b""
        if head[128:132] == b"DICM":
            return "dicom"
    raise ImageFileError(
        f"cannot {action} {path}: unknown file extension {path.suffix or '(none)'!r}; "
        f"supported: {_supported_text()}"
    )


def _extension_of(path: pathlib.Path) -> str:
    """The recognised extension with the original case (e.g. '.nii.gz')."""
    lower = path.name.lower()
    for ext, _ in _EXTENSIONS:
        if lower.endswith(ext):
            return path.name[-len(ext):]
    return path.suffix


def _clean_float(value) -> float:
    """float of a value stored as float32 in a file: shortest decimal, so 0.7f -> 0.7."""
    if isinstance(value, np.float32):
        return float(str(value))
    return float(value)


def _spacing_ok(values) -> bool:
    return all(np.isfinite(v) and v > 0 for v in values)


# --------------------------------------------------------------------------- read


def read(path, *, lazy=False) -> ImageData:
    """Read an image or volume and its spacing.

    Parameters
    ----------
    path : str or os.PathLike
        A file (PNG, JPEG, TIFF, OME-TIFF, NIfTI ``.nii``/``.nii.gz``, NRRD
        ``.nrrd``/``.nhdr``, DICOM ``.dcm``) or a directory holding one DICOM
        series.  The format comes from the extension (case-insensitive); a
        file without a known extension is read as DICOM when it has the
        DICOM preamble.  A ``.zarr`` / ``.ome.zarr`` directory is read
        lazily (``data`` is a :class:`dask.array.Array`).
    lazy : bool, optional
        TIFF/OME-TIFF: return ``data`` as a Dask array backed by
        tifffile's zarr store, for stacks bigger than memory (zarr is
        always lazy; other formats ignore it).

    Returns
    -------
    ImageData
        ``data`` as stored (native dtype, the format's axis order),
        ``spacing`` per spatial axis, ``channel_axis``, ``format`` and
        ``meta``.  Details per format:

        * PNG/JPEG: ``(Y, X)`` or ``(Y, X, C)`` with ``channel_axis=-1``;
          spacing 1.0.  16-bit colour PNG is refused (Pillow would reduce
          it to 8 bits silently).
        * TIFF: series 0 of the file, ``(Y, X)`` or ``(Z, Y, X)`` (ImageJ
          hyperstacks keep their ``C``/``T`` axes; ``C``/``S`` is the
          channel axis); spacing from ImageJ metadata (``spacing``,
          X/YResolution, ``unit``), OME PhysicalSizeX/Y/Z or the JSON
          description written by :func:`write`.
        * NIfTI: ``(X, Y, Z)`` (4-D: ``channel_axis=3``); on-disk dtype, or
          float32 when scl_slope/scl_inter scale the data; spacing from the
          header zooms; ``meta["header"]``, ``meta["affine"]``.
        * DICOM series: ``(Z, rows, columns)`` sorted along the slice
          normal (InstanceNumber when positions are missing; a single
          slice gives ``(rows, columns)``, a multi-frame file
          ``(frames, rows, columns)``); Rescale
          slope/intercept applied (int16/int32 when both are integral,
          float32 otherwise; raw dtype when absent); spacing
          ``(slice spacing, PixelSpacing[0], PixelSpacing[1])``.
        * NRRD: pynrrd's ``(X, Y, Z)`` order; spacing from ``space
          directions`` or ``spacings``.

    Raises
    ------
    ImageFileError
        The file is missing (also a FileNotFoundError), empty, truncated,
        corrupt, of an unknown extension, needs a missing optional package,
        or the directory holds no (or several) DICOM series.  The message
        names the path.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from imdiffuse import io
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = io.write(f"{tmp}/vol.nii.gz", np.zeros((4, 5, 6), np.int16), spacing=(0.7, 0.7, 2.5))
    ...     img = io.read(f"{tmp}/vol.nii.gz")
    >>> img.data.shape, img.data.dtype, img.spacing, img.format
    ((4, 5, 6), dtype('int16'), (0.7, 0.7, 2.5), 'nifti')
    """
    from ._validate import check_bool

    p = _as_path(path)
    lazy = check_bool(lazy, "lazy")
    if p.name.lower().rstrip("/").endswith(".zarr"):
        if not p.exists():
            raise _ImageFileNotFoundError(f"cannot read {p}: no such file or directory")
        fmt = "ome-zarr" if p.name.lower().endswith(".ome.zarr") else "zarr"
    elif p.is_dir():
        fmt = "dicom"
    else:
        if not p.exists():
            raise _ImageFileNotFoundError(f"cannot read {p}: no such file")
        fmt = _format_of(p, "read")
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise ImageFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
        if size == 0:
            raise ImageFileError(f"cannot read {p}: the file is empty (0 bytes)")
    reader = _READERS[fmt]
    try:
        img = _read_tiff(p, lazy=True) if lazy and fmt in ("tiff", "ome-tiff") else reader(p)
        data = img.data
        if data.dtype.byteorder not in ("=", "|"):  # e.g. '<i2' from nibabel, '>u2' from big-endian files
            native = data.dtype.newbyteorder("=")
            data = data.view(native) if data.dtype.isnative else data.astype(native)
            img = dataclasses.replace(img, data=data)
        return img
    except ImageFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageFileError(
            f"cannot read {p} as {fmt.upper()}: the file is corrupt, truncated or not a {fmt} file "
            f"({type(exc).__name__}: {reason})"
        ) from exc


def _read_png_jpeg(p: pathlib.Path, fmt: str) -> ImageData:
    iio = _import("imageio.v3", fmt.upper(), p, "read", package="imageio")
    if fmt == "png":
        with open(p, "rb") as fh:
            head = fh.read(26)
        if head[:8] != b"\x89PNG\r\n\x1a\n":
            raise ImageFileError(f"cannot read {p}: not a PNG file (wrong signature)")
        if len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6):
            raise ImageFileError(
                f"cannot read {p}: 16-bit colour PNG is not supported (Pillow would reduce it to "
                f"8 bits); convert it to 16-bit TIFF first"
            )
    data = np.asarray(iio.imread(p, plugin="pillow", extension=p.suffix.lower() or None))
    if data.ndim not in (2, 3):
        raise ImageFileError(f"cannot read {p}: unexpected image shape {data.shape}")
    channel_axis = -1 if data.ndim == 3 else None
    return ImageData(data, (1.0, 1.0), channel_axis, fmt, {})


def _read_png(p):
    return _read_png_jpeg(p, "png")


def _read_jpeg(p):
    return _read_png_jpeg(p, "jpeg")


def _read_tiff(p: pathlib.Path, lazy: bool = False) -> ImageData:
    import logging

    tifffile = _import("tifffile", "TIFF", p, "read")

    class _Errors(logging.Handler):  # tifffile logs structural damage and reads on with less data
        def __init__(self):
            super().__init__(logging.ERROR)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    errors = _Errors()
    logger = logging.getLogger("tifffile")
    logger.addHandler(errors)
    try:
        return _read_tiff_file(p, tifffile, errors.messages, lazy)
    finally:
        logger.removeHandler(errors)


def _read_tiff_file(p, tifffile, errors, lazy=False) -> ImageData:
    import json

    def check():
        if errors:
            raise ImageFileError(f"cannot read {p}: the TIFF file is corrupt or truncated ({errors[0]})")

    with tifffile.TiffFile(p) as tif:
        if not tif.series:
            check()
            raise ImageFileError(f"cannot read {p}: the TIFF file holds no image")
        series = tif.series[0]
        if lazy:  # tifffile's zarr store: pages are read when Dask computes their chunks
            zarr = _import("zarr", "lazy TIFF", p, "read", extra="dask")
            da = _import("dask.array", "lazy TIFF", p, "read", extra="dask")
            data = da.from_zarr(zarr.open(tifffile.imread(p, aszarr=True, series=0), mode="r"))
        else:
            data = np.asarray(series.asarray())
        check()
        if tif.is_imagej:
            images = (tif.imagej_metadata or {}).get("images")
            axes_ij = str(series.axes)
            planes = int(np.prod([n for a, n in zip(axes_ij, data.shape) if a not in "YXS"]))
            if isinstance(images, int) and len(axes_ij) == data.ndim and images != planes:
                raise ImageFileError(
                    f"cannot read {p}: the TIFF file is truncated or corrupt (ImageJ metadata announce "
                    f"{images} images, the file holds {planes})"
                )
        axes = str(series.axes)
        page = tif.pages[0]
        fmt = "tiff"
        meta: dict = {"axes": axes}
        by_axis: dict = {}
        unit = None
        channel_axis = None
        exact = None
        if len(axes) == data.ndim:
            for letter in ("S", "C"):
                if letter in axes:
                    channel_axis = axes.index(letter)
                    break
        if tif.is_ome:
            fmt = "ome-tiff"
            import xml.etree.ElementTree as ET

            root = ET.fromstring(tif.ome_metadata)
            pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
            if pixels is not None:
                units = set()
                for letter in "XYZ":
                    value = pixels.get(f"PhysicalSize{letter}")
                    if value is not None:
                        by_axis[letter] = float(value)
                        units.add(pixels.get(f"PhysicalSize{letter}Unit", "µm"))
                if len(units) == 1:
                    unit = units.pop()
        elif tif.is_imagej:
            ij = tif.imagej_metadata or {}
            res = _resolution_spacing(page)
            if res is not None:
                by_axis["X"], by_axis["Y"] = res
            if "spacing" in ij:
                by_axis["Z"] = float(ij["spacing"])
            if isinstance(ij.get("unit"), str):
                unit = _unescape_unit(ij["unit"])
            if isinstance(ij.get("imdiffuse_spacing"), str):
                try:
                    exact = [float(v) for v in json.loads(ij["imdiffuse_spacing"])]
                except (ValueError, TypeError):
                    exact = None
        elif tif.is_shaped:
            shaped = (tif.shaped_metadata or ({},))[0] or {}
            if isinstance(shaped.get("unit"), str):
                unit = _unescape_unit(shaped["unit"])
            if "channel_axis" in shaped:
                ch = shaped["channel_axis"]
                channel_axis = int(ch) if ch is not None else None
                if channel_axis is not None and not 0 <= channel_axis < data.ndim:
                    channel_axis = None
                if channel_axis is not None and shaped.get("channels_first"):
                    data = np.moveaxis(data, 0, channel_axis)
            if isinstance(shaped.get("spacing"), list):
                exact = [float(v) for v in shaped["spacing"]]
        nspatial = data.ndim - (channel_axis is not None)
        if len(axes) == data.ndim and by_axis:
            spacing = [by_axis.get(a, 1.0) for i, a in enumerate(axes) if i != channel_axis]
            if exact is not None and len(exact) == nspatial and np.allclose(exact, spacing, rtol=1e-6, atol=0):
                spacing = exact
        elif exact is not None and len(exact) == nspatial:
            spacing = exact
        else:
            spacing = [1.0] * nspatial
        if not _spacing_ok(spacing):
            spacing = [1.0] * nspatial
        if unit is not None:
            meta["unit"] = unit
        if tif.is_imagej:
            meta["imagej"] = dict(tif.imagej_metadata or {})
        if channel_axis is not None and channel_axis == data.ndim - 1:
            channel_axis = -1
    return ImageData(data, tuple(float(s) for s in spacing), channel_axis, fmt, meta)


def _resolution_spacing(page):
    """(x, y) pixel size from the X/YResolution tags (pixels per unit), or None."""
    out = []
    for name in ("XResolution", "YResolution"):
        tag = page.tags.get(name)
        if tag is None:
            return None
        value = tag.value
        num, den = (value if isinstance(value, tuple) else (value, 1))[:2]
        if not num or not den:
            return None
        out.append(float(den) / float(num))
    return tuple(out)


def _read_nifti(p: pathlib.Path) -> ImageData:
    nib = _import("nibabel", "NIfTI", p, "read")
    img = nib.load(str(p), mmap=False)
    header = img.header
    proxy = img.dataobj
    slope = float(getattr(proxy, "slope", 1.0))
    inter = float(getattr(proxy, "inter", 0.0))
    scaled = not (slope == 1.0 and inter == 0.0)
    meta: dict = {"header": header, "affine": np.asarray(img.affine, dtype=np.float64)}
    if scaled:
        data = np.asarray(img.get_fdata(dtype=np.float32))
        meta["scaling"] = (slope, inter)
    else:
        data = np.asarray(np.asanyarray(proxy))
    zooms = tuple(header.get_zooms())
    if data.ndim == 5 and data.shape[3] == 1:
        data = data[:, :, :, 0, :]
    if data.ndim > 4:
        raise ImageFileError(f"cannot read {p}: {data.ndim}-D NIfTI images are not supported (shape {data.shape})")
    channel_axis = 3 if data.ndim == 4 else None
    nspatial = min(data.ndim, 3)
    spacing = tuple(_clean_float(z) for z in zooms[:nspatial])
    spacing = spacing + (1.0,) * (nspatial - len(spacing))
    if not _spacing_ok(spacing):
        spacing = tuple(s if (np.isfinite(s) and s > 0) else 1.0 for s in spacing)
    try:
        unit = header.get_xyzt_units()[0]
    except Exception:  # pragma: no cover - odd headers
        unit = "unknown"
    meta["unit"] = unit
    return ImageData(data, spacing, channel_axis, "nifti", meta)


_NRRD_NON_SPATIAL = {
    "list", "point", "vector", "covariant-vector", "normal", "stub", "scalar", "complex",
    "2-vector", "3-color", "rgb-color", "hsv-color", "xyz-color", "4-color", "rgba-color",
    "3-vector", "3-gradient", "3-normal", "4-vector", "quaternion", "2d-symmetric-matrix",
    "2d-masked-symmetric-matrix", "2d-matrix", "2d-masked-matrix", "3d-symmetric-matrix",
    "3d-masked-symmetric-matrix", "3d-matrix", "3d-masked-matrix",
}


def _read_nrrd(p: pathlib.Path) -> ImageData:
    nrrd = _import("nrrd", "NRRD", p, "read", extra="nrrd", package="pynrrd")
    data, header = nrrd.read(str(p))
    data = np.asarray(data)
    ndim = data.ndim
    kinds = [str(k).lower() for k in header.get("kinds", [])] if header.get("kinds") is not None else []
    directions = header.get("space directions")
    if directions is not None:
        directions = np.asarray(directions, dtype=np.float64)
        if directions.ndim != 2 or directions.shape[0] != ndim:
            directions = None
    spacings = header.get("spacings")
    if spacings is not None:
        spacings = np.asarray(spacings, dtype=np.float64).ravel()
        if spacings.shape[0] != ndim:
            spacings = None
    non_spatial = []
    for i in range(ndim):
        kind_ns = len(kinds) == ndim and kinds[i] in _NRRD_NON_SPATIAL
        dir_ns = directions is not None and not np.all(np.isfinite(directions[i]))
        if kind_ns or dir_ns:
            non_spatial.append(i)
    if len(non_spatial) > 1:
        raise ImageFileError(
            f"cannot read {p}: NRRD files with more than one non-spatial axis are not supported "
            f"(axes {non_spatial}, kinds {header.get('kinds')})"
        )
    channel_axis = non_spatial[0] if non_spatial else None
    spacing = []
    for i in range(ndim):
        if i == channel_axis:
            continue
        value = np.nan
        if directions is not None and np.all(np.isfinite(directions[i])):
            value = float(np.linalg.norm(directions[i]))
        elif spacings is not None:
            value = float(spacings[i])
        spacing.append(value if (np.isfinite(value) and value > 0) else 1.0)
    meta: dict = {"header": header}
    units = header.get("space units")
    if units is not None and len(set(units)) == 1:
        meta["unit"] = list(units)[0]
    elif directions is not None or spacings is not None:
        meta["unit"] = "mm" if directions is not None else "unknown"
    if channel_axis is not None and channel_axis == ndim - 1:
        channel_axis = -1
    return ImageData(data, tuple(spacing), channel_axis, "nrrd", meta)


def _read_dicom(p: pathlib.Path) -> ImageData:
    pydicom = _import("pydicom", "DICOM", p, "read", extra="dicom")
    if p.is_dir():
        return _read_dicom_series(p, pydicom)
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(p))
    except InvalidDicomError:
        ds = pydicom.dcmread(str(p), force=True)  # no preamble; errors are wrapped by read()
    if "PixelData" not in ds:
        raise ImageFileError(f"cannot read {p}: the DICOM file holds no image (no PixelData)")
    return _dicom_volume(p, [(str(p), ds)])


def _dicom_candidates(folder: pathlib.Path, pydicom):
    """(path, dataset) for every file in `folder` that pydicom reads as an image; count of the others."""
    from pydicom.errors import InvalidDicomError

    found, skipped = [], 0
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file():
            continue
        ds = None
        try:
            ds = pydicom.dcmread(entry.path)
        except InvalidDicomError:
            # files without the 128-byte preamble: accept when they start like a DICOM group
            try:
                with open(entry.path, "rb") as fh:
                    start = fh.read(2)
                if start in (b"\x08\x00", b"\x02\x00"):
                    ds = pydicom.dcmread(entry.path, force=True)
            except Exception:
                ds = None
        except Exception:
            ds = None
        if ds is not None and "PixelData" in ds and "Rows" in ds and "Columns" in ds:
            found.append((entry.path, ds))
        else:
            skipped += 1
    return found, skipped


def _read_dicom_series(folder: pathlib.Path, pydicom) -> ImageData:
    found, skipped = _dicom_candidates(folder, pydicom)
    if not found:
        what = f"{skipped} file(s), none a DICOM image" if skipped else "it is empty"
        raise ImageFileError(f"cannot read {folder}: no DICOM images in this directory ({what})")
    series: dict = {}
    for path, ds in found:
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((path, ds))
    if len(series) > 1:
        listing = "; ".join(
            f"{uid or '(no UID)'} ({len(items)} files, {str(items[0][1].get('SeriesDescription', '')) or 'no description'})"
            for uid, items in series.items()
        )
        raise ImageFileError(
            f"cannot read {folder}: the directory holds {len(series)} DICOM series; "
            f"put each series in its own directory. Series: {listing}"
        )
    return _dicom_volume(folder, next(iter(series.values())))


def _dicom_floats(ds, keyword, count):
    value = ds.get(keyword)
    if value is None:
        return None
    try:
        values = [float(v) for v in (value if not isinstance(value, (str, bytes)) and hasattr(value, "__len__") else [value])]
    except (TypeError, ValueError):
        return None
    return values if len(values) == count and all(np.isfinite(values)) else None


def _dicom_volume(where: pathlib.Path, items) -> ImageData:
    import warnings

    first = items[0][1]
    frames = int(first.get("NumberOfFrames", 1) or 1)
    if len(items) > 1 and frames > 1:
        raise ImageFileError(
            f"cannot read {where}: series of multi-frame DICOM files are not supported; read one file at a time"
        )
    orientation = _dicom_floats(first, "ImageOrientationPatient", 6)
    positions = [_dicom_floats(ds, "ImagePositionPatient", 3) for _, ds in items]
    order_by = "position"
    if len(items) > 1:
        if orientation is not None and all(pos is not None for pos in positions):
            normal = np.cross(orientation[:3], orientation[3:])
            proj = np.array([float(np.dot(normal, pos)) for pos in positions])
            idx = np.argsort(proj, kind="stable")
        else:
            order_by = "InstanceNumber"
            numbers = [int(ds.get("InstanceNumber", 0) or 0) for _, ds in items]
            idx = np.argsort(numbers, kind="stable")
            proj = None
        items = [items[i] for i in idx]
        positions = [positions[i] for i in idx]
    else:
        proj = None
    first = items[0][1]

    # spacing
    pixel_spacing = _dicom_floats(first, "PixelSpacing", 2) or _dicom_floats(first, "ImagerPixelSpacing", 2)
    in_plane = tuple(pixel_spacing) if pixel_spacing and _spacing_ok(pixel_spacing) else (1.0, 1.0)
    dz = None
    if proj is not None:
        steps = np.diff(np.sort(proj))
        if np.any(steps <= 1e-6 * max(1.0, float(np.max(np.abs(proj))))):
            raise ImageFileError(
                f"cannot read {where}: several slices share one position (several acquisitions or "
                f"time points in one series?); split them into separate directories"
            )
        dz = round(float(np.median(steps)), 6)
        if np.max(np.abs(steps - dz)) > 1e-3 * dz + 1e-4:
            warnings.warn(
                f"{where}: slice spacing is not uniform (from {steps.min():g} to {steps.max():g}); "
                f"using the median {dz:g}",
                UserWarning,
                stacklevel=4,
            )
    if dz is None:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = _dicom_floats(first, keyword, 1)
            if value and value[0] > 0:
                dz = value[0]
                break
    if dz is None:
        dz = 1.0

    # pixels and rescale
    arrays, rescale = [], []
    any_rescale = False
    for path, ds in items:
        try:
            arr = np.asarray(ds.pixel_array)
        except Exception as exc:
            ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            ts_name = getattr(ts, "name", str(ts)) if ts is not None else "unknown"
            raise ImageFileError(
                f"cannot read {path}: cannot decode the pixel data (transfer syntax {ts_name}); "
                f"compressed DICOM needs a decoder such as pylibjpeg or gdcm ({type(exc).__name__}: {exc})"
            ) from exc
        slope = _dicom_floats(ds, "RescaleSlope", 1)
        inter = _dicom_floats(ds, "RescaleIntercept", 1)
        any_rescale = any_rescale or slope is not None or inter is not None
        rescale.append((slope[0] if slope else 1.0, inter[0] if inter else 0.0))
        arrays.append(arr)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ImageFileError(f"cannot read {where}: the slices have different shapes {sorted(shapes)}")
    samples = int(first.get("SamplesPerPixel", 1) or 1)
    if any_rescale and samples == 1:
        integral = all(float(s).is_integer() and float(i).is_integer() for s, i in rescale)
        if integral:
            lo = min(min(int(a.min()) * int(s), int(a.max()) * int(s)) + int(i) for a, (s, i) in zip(arrays, rescale))
            hi = max(max(int(a.min()) * int(s), int(a.max()) * int(s)) + int(i) for a, (s, i) in zip(arrays, rescale))
            out_dtype = next(
                (np.dtype(t) for t in (np.int16, np.int32) if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max),
                np.dtype(np.int64),
            )
            arrays = [
                (a.astype(np.int64) * int(s) + int(i)).astype(out_dtype) for a, (s, i) in zip(arrays, rescale)
            ]
        else:
            arrays = [(a.astype(np.float64) * s + i).astype(np.float32) for a, (s, i) in zip(arrays, rescale)]
    data = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=0)
    channel_axis = -1 if samples > 1 else None
    nspatial = data.ndim - (channel_axis is not None)
    spacing = (dz,) + in_plane if nspatial == 3 else in_plane
    rescale_meta = rescale[0] if len(set(rescale)) == 1 else rescale
    meta = {
        "rescale": rescale_meta if any_rescale else None,
        "series_uid": str(first.get("SeriesInstanceUID", "")),
        "modality": str(first.get("Modality", "")),
        "files": [path for path, _ in items],
        "positions": positions if all(pos is not None for pos in positions) else None,
        "orientation": orientation,
        "order": order_by,
        "unit": "mm",
        "photometric": str(first.get("PhotometricInterpretation", "")),
    }
    return ImageData(data, tuple(float(s) for s in spacing), channel_axis, "dicom", meta)


_READERS = {
    "png": _read_png,
    "jpeg": _read_jpeg,
    "tiff": _read_tiff,
    "ome-tiff": _read_tiff,
    "nifti": _read_nifti,
    "nrrd": _read_nrrd,
    "dicom": _read_dicom,
    "zarr": lambda p: _read_zarr(p, ome=False),
    "ome-zarr": lambda p: _read_zarr(p, ome=True),
}


# --------------------------------------------------------------------------- zarr


def _ome_attrs(attrs) -> dict | None:
    """The OME-NGFF metadata of a group's attributes (0.5 nests them under "ome")."""
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else attrs
    return ome if isinstance(ome.get("multiscales"), list) and ome["multiscales"] else None


def _read_zarr(p: pathlib.Path, ome: bool) -> ImageData:
    """Lazy read of a zarr array (or OME-Zarr group): data is a Dask array."""
    zarr = _import("zarr", "zarr", p, "read", extra="dask")
    da = _import("dask.array", "zarr", p, "read", extra="dask")
    node = zarr.open(str(p), mode="r")
    meta: dict = {}
    channel_axis = None
    spacing = None
    attrs = dict(node.attrs)
    ngff = _ome_attrs(attrs)
    if ngff is not None:  # OME-Zarr (also when named .zarr only)
        fmt = "ome-zarr"
        ms = ngff["multiscales"][0]
        level = ms["datasets"][0]
        arr = node[level["path"]]
        axes = ms.get("axes") or [{"name": n, "type": "space"} for n in "zyx"[3 - arr.ndim:]]
        axes = [a if isinstance(a, dict) else {"name": a, "type": "space" if a in "zyx" else "channel"} for a in axes]
        scale = [1.0] * arr.ndim
        for tr in list(ms.get("coordinateTransformations") or []) + list(level.get("coordinateTransformations") or []):
            if tr.get("type") == "scale" and len(tr.get("scale", [])) == arr.ndim:
                scale = [a * float(b) for a, b in zip(scale, tr["scale"])]
        kinds = [a.get("type", "space") for a in axes]
        if "channel" in kinds:
            channel_axis = kinds.index("channel")
        elif "time" in kinds:
            channel_axis = kinds.index("time")
        spacing = [s for i, s in enumerate(scale) if i != channel_axis]
        units = {a.get("unit") for a in axes if a.get("type", "space") == "space" and a.get("unit")}
        if len(units) == 1:
            meta["unit"] = units.pop()
        meta["axes"] = [a.get("name") for a in axes]
        meta["ome"] = ngff
        meta["levels"] = [d["path"] for d in ms["datasets"]]
    else:
        fmt = "zarr"
        if not hasattr(node, "shape"):
            raise ImageFileError(f"cannot read {p}: the zarr group holds no OME-NGFF multiscale image")
        arr = node
        own = attrs.get("imdiffuse") if isinstance(attrs.get("imdiffuse"), dict) else {}
        if own.get("channel_axis") is not None:
            channel_axis = int(own["channel_axis"])
        if isinstance(own.get("spacing"), list):
            spacing = [float(v) for v in own["spacing"]]
        if isinstance(own.get("unit"), str):
            meta["unit"] = own["unit"]
    data = da.from_zarr(arr)
    nspatial = data.ndim - (channel_axis is not None)
    if spacing is None or len(spacing) != nspatial or not _spacing_ok(spacing):
        spacing = [1.0] * nspatial
    if channel_axis is not None and channel_axis == data.ndim - 1:
        channel_axis = -1
    meta["chunks"] = tuple(arr.chunks)
    return ImageData(data, tuple(float(s) for s in spacing), channel_axis, fmt, meta)


def _write_zarr(target, fmt, data, spacing, calibrated, axis, like, dtype, overwrite, chunks):
    """Store a (Dask or NumPy) array as zarr v3 / OME-Zarr, chunk by chunk, atomically.

    Written into a hidden temporary directory beside the target, then renamed
    into place (an existing target is replaced only with ``overwrite``, via a
    second rename, so the target is never partial).
    """
    import shutil

    zarr = _import("zarr", "zarr", target, "write", extra="dask")
    da = _import("dask.array", "zarr", target, "write", extra="dask")
    darr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks="auto")
    if darr.dtype.kind == "b":
        darr = darr.astype(np.uint8)
    if dtype is not None:
        darr = darr.map_blocks(lambda b: _fit_dtype(target, b, dtype), dtype=dtype)
    if chunks is not None:
        darr = darr.rechunk(chunks)
    # zarr chunks are regular: align the Dask chunks with them (no two tasks write one zarr chunk)
    regular = tuple(max(c) for c in darr.chunks)
    darr = darr.rechunk(regular)
    unit = _like_unit(like) if calibrated else None
    tmp = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-")
    try:
        try:
            if fmt == "ome-zarr":
                names = ["z", "y", "x"][3 - len(spacing):]
                axes = [{"name": n, "type": "space"} for n in names]
                if unit is not None:
                    for a in axes:
                        a["unit"] = {"mm": "millimeter", "µm": "micrometer", "um": "micrometer",
                                     "micron": "micrometer", "nm": "nanometer", "m": "meter"}.get(unit, unit)
                scale = [float(v) for v in spacing]
                if axis is not None:
                    axes.insert(axis, {"name": "c", "type": "channel"})
                    scale.insert(axis, 1.0)
                ome = {"version": "0.5", "multiscales": [{
                    "name": target.name[: -len(".ome.zarr")] if target.name.lower().endswith(".ome.zarr") else target.name,
                    "axes": axes,
                    "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
                }]}
                group = zarr.open_group(tmp, mode="w", zarr_format=3, attributes={"ome": ome})
                out = group.create_array("0", shape=darr.shape, chunks=regular, dtype=darr.dtype,
                                         dimension_names=[a["name"] for a in axes])
            else:
                attrs = {"imdiffuse": {"spacing": [float(v) for v in spacing], "channel_axis": axis}}
                if unit is not None:
                    attrs["imdiffuse"]["unit"] = unit
                out = zarr.create_array(tmp, shape=darr.shape, chunks=regular, dtype=darr.dtype, zarr_format=3,
                                        attributes=attrs, overwrite=True)
            da.store(darr, out, lock=False)
        except ImageFileError:
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ImageFileError(f"cannot write {target}: {type(exc).__name__}: {reason}") from exc
        if os.path.lexists(target):
            if not overwrite:
                raise _ImageFileExistsError(
                    f"cannot write {target}: it appeared while writing; pass overwrite=True to replace it"
                )
            old = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-")
            os.rename(target, os.path.join(old, "x"))  # move the old one aside, then the new one in
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- write


def write(
    path,
    data,
    *,
    spacing=None,
    channel_axis=None,
    like: ImageData | None = None,
    dtype=None,
    overwrite: bool = False,
    chunks=None,
) -> pathlib.Path:
    """Write an image or volume atomically, with its spacing.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; the extension picks the format: ``.png``, ``.tif`` /
        ``.tiff`` (ImageJ-compatible), ``.ome.tif`` / ``.ome.tiff``,
        ``.nii`` / ``.nii.gz``, ``.nrrd``.  JPEG (lossy) and DICOM are not
        written: :class:`ImageFileError` suggests PNG/TIFF or NIfTI.
    data : array_like or ImageData
        Real numeric or bool array: 2-D or 3-D spatial axes, plus
        `channel_axis` if given.  An :class:`ImageData` also supplies the
        defaults of `like` and `channel_axis`.
    spacing : float or sequence of float, optional
        Physical size per spatial axis (channel axis excluded), finite and
        > 0.  None: ``like.spacing`` when `like` is given, else 1.0 per
        axis.  PNG cannot store it.
    channel_axis : int, optional
        Axis of `data` holding colour/vector channels.  None: that of `like`
        when `like` has as many dimensions as `data`, else no channels.
        PNG stores channels last (1-4 channels); NIfTI stores them as the
        4th axis (a 2-D image with channels becomes ``(X, Y, 1, C)``).
    like : ImageData, optional
        An image read with :func:`read` whose properties are reused:
        spacing, integer dtype for PNG, unit for TIFF, and for NIfTI the
        header and affine (dtype and zooms updated), for NRRD the header.
    dtype : dtype-like, optional
        Stored dtype.  See the dtype rule below.
    overwrite : bool, default False
        Replace an existing target.  Checked before any work.
    chunks : int or tuple, optional
        zarr / OME-Zarr only: chunk shape of the store (default: the Dask
        array's chunks, or Dask's "auto" for NumPy data).  ``data`` may be a
        Dask array, computed and written chunk by chunk (bounded memory).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ImageFileError
        Unknown or unwritable extension (JPEG, DICOM), target exists and
        not `overwrite` (also a FileExistsError), the parent directory is
        missing, values that do not fit the format (PNG), NaN written to an
        integer dtype, a missing optional package, or a failure while
        writing.  The message names the path.  The target is never left
        partial; the temporary file is removed on any error (including
        KeyboardInterrupt).
    ValueError, TypeError
        Bad `spacing`, `channel_axis`, `like` or data type.

    Notes
    -----
    The dtype rule: with ``dtype=None``, PNG (integers only) keeps
    uint8/uint16 data, else takes ``like``'s uint8/uint16 dtype, else uint8
    when all rounded values lie in [0, 255], else uint16 when they lie in
    [0, 65535], else raises (rescale the data, pass ``dtype=`` to clip, or
    write TIFF/NIfTI/NRRD); colour PNG is 8-bit only.  TIFF, NIfTI and NRRD
    keep the array's dtype (float16 -> float32 for NIfTI and NRRD).  Float
    data written to an integer dtype are rounded (``np.rint``) and clipped
    to its range, never wrapped; NaN raises.  bool data become uint8 0/1
    (0/255 for PNG).

    The file is first written to a hidden temporary file next to the target
    (``.<name>.tmp-XXXXXXXX<ext>``), flushed to disk and then moved into
    place (``os.replace`` with `overwrite`, else ``os.link``, which fails if
    the target appeared meanwhile).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from imdiffuse import io
    >>> vol = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = io.write(f"{tmp}/vol.tif", vol, spacing=(2.5, 0.7, 0.7))
    ...     back = io.read(out)
    >>> back.spacing, back.data.dtype, bool((back.data == vol).all())
    ((2.5, 0.7, 0.7), dtype('float32'), True)

    Float data written to PNG are rounded and clipped with ``dtype=``:

    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = io.write(f"{tmp}/x.png", np.array([[-3.4, 2.6, 300.7]]), dtype=np.uint8)
    ...     io.read(out).data
    array([[  0,   3, 255]], dtype=uint8)
    """
    from ._validate import check_bool, check_channel_axis, parse_spacing

    target = _as_path(path)
    overwrite = check_bool(overwrite, "overwrite")
    if like is not None and not isinstance(like, ImageData):
        raise TypeError(f"like must be an ImageData returned by imdiffuse.io.read, got {type(like).__name__}")

    # the format, the target and its directory: checked before any work
    if target.is_dir() and not target.name.lower().endswith(".zarr"):
        raise ImageFileError(
            f"cannot write {target}: it is a directory (DICOM output is not supported; "
            f"write NIfTI, e.g. {target.name or 'volume'}.nii.gz, instead)"
        )
    fmt = _format_of(target, "write")
    if fmt == "jpeg":
        raise ImageFileError(
            f"cannot write {target}: JPEG is lossy and would change the values; write PNG (.png) or TIFF (.tif) instead"
        )
    if fmt == "dicom":
        raise ImageFileError(f"cannot write {target}: DICOM output is not supported; write NIfTI (.nii.gz) instead")
    if fmt == "nrrd" and target.name.lower().endswith(".nhdr"):
        raise ImageFileError(
            f"cannot write {target}: detached NRRD headers (.nhdr) are read only; write a .nrrd file instead"
        )
    if os.path.lexists(target) and not overwrite:
        raise _ImageFileExistsError(f"cannot write {target}: the file exists; pass overwrite=True to replace it")
    parent = target.parent
    if not parent.is_dir():
        raise ImageFileError(f"cannot write {target}: the directory {parent} does not exist")

    # the data
    if isinstance(data, ImageData):
        if like is None:
            like = data
        if channel_axis is None:
            channel_axis = data.channel_axis
        data = data.data
    if isinstance(data, np.ma.MaskedArray):
        raise TypeError("data must be a plain ndarray, got a masked array; fill it first (data.filled(...))")
    if chunks is not None and fmt not in ("zarr", "ome-zarr"):
        raise ValueError(f"chunks applies to zarr / OME-Zarr targets only, got a {fmt} target {target.name}")
    lazy = fmt in ("zarr", "ome-zarr") and hasattr(data, "dask") and hasattr(data, "chunks")
    arr = data if lazy else np.asarray(data)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"data must have a real numeric or bool dtype, got {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"data must not be empty, got an array of shape {arr.shape}")
    if channel_axis is None and like is not None and like.channel_axis is not None and like.data.ndim == arr.ndim:
        channel_axis = like.channel_axis
    axis = check_channel_axis(channel_axis, arr.ndim)
    nspatial = arr.ndim - (axis is not None)
    if nspatial not in (2, 3):
        hint = " (pass channel_axis= for colour/vector images)" if axis is None and arr.ndim == 4 else ""
        raise ValueError(f"data must be 2-D or 3-D (besides the channel axis), got shape {arr.shape}{hint}")
    if spacing is None and like is not None:
        if len(like.spacing) != nspatial:
            raise ValueError(
                f"spacing: like.spacing has {len(like.spacing)} entries but data have {nspatial} spatial axes; "
                f"pass spacing= explicitly"
            )
        spacing = like.spacing
    calibrated = spacing is not None
    spacing = parse_spacing(spacing, nspatial)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "iuf":
            raise TypeError(f"dtype must be an integer or float dtype, got {dtype}")

    if fmt in ("zarr", "ome-zarr"):
        _write_zarr(target, fmt, arr, spacing, calibrated, axis, like, dtype, overwrite, chunks)
        return target
    writer = _WRITERS[fmt]
    prepared = writer.prepare(target, arr, axis, dtype, like)
    _atomic_write(
        target,
        lambda tmp: writer.write(tmp, prepared, axis, spacing, calibrated, like),
        overwrite,
    )
    return target


def _fit_dtype(target, arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert `arr` to `dtype`: float->int rounded and clipped, int->int clipped, NaN refused."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(dtype)
    if dtype.kind == "f":
        return arr.astype(dtype)
    info = np.iinfo(dtype)
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ImageFileError(
                f"cannot write {target}: the data contain NaN, which {dtype} cannot store; "
                f"replace NaN first or write a float format (TIFF, NIfTI, NRRD)"
            )
        lo, hi = float(info.min), float(info.max)
        if int(hi) > info.max:
            hi = float(np.nextafter(hi, -np.inf))
        # float64 work where the source float cannot hold the integer bounds exactly
        work = arr.astype(np.float64) if arr.dtype.itemsize < 4 or (arr.dtype.itemsize < 8 and info.bits > 16) else arr
        out = np.rint(work)
        np.clip(out, lo, hi, out=out)
        return out.astype(dtype)
    # integer -> integer: clip in the source type where it can hold the bounds
    src = np.iinfo(arr.dtype)
    lo, hi = max(info.min, src.min), min(info.max, src.max)
    if lo > src.min or hi < src.max:
        arr = np.clip(arr, np.array(lo).astype(arr.dtype), np.array(hi).astype(arr.dtype))
    return arr.astype(dtype)


def _value_range(target, arr: np.ndarray):
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ImageFileError(
                f"cannot write {target}: the data contain NaN, which PNG cannot store; "
                f"replace NaN first or write TIFF/NIfTI"
            )
        return float(np.rint(arr.min())), float(np.rint(arr.max()))
    return int(arr.min()), int(arr.max())


class _PNGWriter:
    @staticmethod
    def prepare(target, arr, axis, dtype, like):
        if axis is not None:
            arr = np.moveaxis(arr, axis, -1)
            if not 1 <= arr.shape[-1] <= 4:
                raise ImageFileError(
                    f"cannot write {target}: PNG stores 1 to 4 channels, got {arr.shape[-1]}; write TIFF instead"
                )
            if arr.shape[-1] == 1:
                arr = arr[..., 0]
        elif arr.ndim != 2:
            raise ImageFileError(
                f"cannot write {target}: PNG stores 2-D images, got shape {arr.shape} "
                f"(pass channel_axis=-1 for colour, or write TIFF/NIfTI for volumes)"
            )
        if arr.ndim != 2 and arr.ndim != 3:
            raise ImageFileError(f"cannot write {target}: PNG stores 2-D images, got shape {arr.shape}")
        colour = arr.ndim == 3
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * np.uint8(255)
        if dtype is None:
            if arr.dtype in (np.uint8, np.uint16):
                dtype = arr.dtype
            elif like is not None and like.data.dtype in (np.uint8, np.uint16):
                dtype = like.data.dtype
            else:
                lo, hi = _value_range(target, arr)
                if lo >= 0 and hi <= 255:
                    dtype = np.dtype(np.uint8)
                elif lo >= 0 and hi <= 65535:
                    dtype = np.dtype(np.uint16)
                else:
                    raise ImageFileError(
                        f"cannot write {target}: values range from {lo:g} to {hi:g}, but PNG stores "
                        f"integers in [0, 255] (uint8) or [0, 65535] (uint16); rescale the data, pass "
                        f"dtype=np.uint8 or np.uint16 to clip, or write TIFF/NIfTI which store any values"
                    )
        if dtype not in (np.uint8, np.uint16):
            raise ImageFileError(f"cannot write {target}: PNG stores uint8 or uint16, not {dtype}")
        if colour and dtype == np.uint16:
            raise ImageFileError(
                f"cannot write {target}: 16-bit colour PNG is not supported; "
                f"pass dtype=np.uint8 or write TIFF (.tif) instead"
            )
        return np.ascontiguousarray(_fit_dtype(target, arr, dtype))

    @staticmethod
    def write(tmp, arr, axis, spacing, calibrated, like):
        import imageio.v3 as iio

        iio.imwrite(tmp, arr, plugin="pillow", extension=".png")


_IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16), np.dtype(np.float32))
_OME_UNITS = {"micron": "µm", "um": "µm", "µm": "µm", "μm": "µm"}


def _ascii_unit(unit: str) -> str:
    """ImageJ/TIFF descriptions are ASCII: micro signs become ImageJ's 'micron', others \\uXXXX escapes."""
    if unit in ("µm", "μm"):
        return "micron"
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04X}" for c in unit)


def _unescape_unit(unit: str) -> str:
    """Undo ImageJ's \\uXXXX escapes (e.g. '\\u00B5m' -> 'µm')."""
    import re

    return re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: chr(int(m.group(1), 16)), unit)


def _like_unit(like):
    unit = like.meta.get("unit") if like is not None else None
    if not isinstance(unit, str) or unit.lower() in ("", "unknown", "pixel", "pixels"):
        return "mm"
    return unit


class _TIFFWriter:
    def __init__(self, ome: bool):
        self.ome = ome

    @staticmethod
    def prepare(target, arr, axis, dtype, like):
        _import("tifffile", "TIFF", target, "write")
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8)
        if dtype is not None:
            arr = _fit_dtype(target, arr, dtype)
        return np.ascontiguousarray(arr)

    def write(self, tmp, arr, axis, spacing, calibrated, like):
        import json

        import tifffile

        unit = _like_unit(like)
        if not self.ome:
            unit = _ascii_unit(unit)
        nspatial = len(spacing)
        rgb = (
            axis is not None
            and axis == arr.ndim - 1
            and arr.shape[-1] in (3, 4)
            and arr.dtype in (np.uint8, np.uint16)
        )
        if self.ome:
            spatial_axes = "ZYX"[3 - nspatial:]
            metadata: dict = {}
            if axis is None:
                axes = spatial_axes
            elif rgb:
                axes = spatial_axes + "S"
            else:
                arr = np.moveaxis(arr, axis, 0)
                axes = "C" + spatial_axes
            metadata["axes"] = axes
            if calibrated:
                ome_unit = _OME_UNITS.get(unit, unit)
                for letter, value in zip(spatial_axes, spacing):
                    metadata[f"PhysicalSize{letter}"] = float(value)
                    metadata[f"PhysicalSize{letter}Unit"] = ome_unit
            tifffile.imwrite(
                tmp, np.ascontiguousarray(arr), ome=True, photometric="rgb" if rgb else "minisblack", metadata=metadata
            )
            return
        imagej = axis is None and arr.dtype in _IMAGEJ_DTYPES and arr.nbytes < 2**32 - 2**25
        sy, sx = spacing[-2], spacing[-1]
        if imagej:
            metadata = {"axes": "ZYX" if nspatial == 3 else "YX"}
            kwargs = {}
            if calibrated:
                kwargs["resolution"] = (1.0 / sx, 1.0 / sy)
                metadata["unit"] = unit
                if nspatial == 3:
                    metadata["spacing"] = float(spacing[0])
                metadata["imdiffuse_spacing"] = json.dumps([float(s) for s in spacing])
            tifffile.imwrite(tmp, arr, imagej=True, photometric="minisblack", metadata=metadata, **kwargs)
            return
        # plain TIFF with a JSON description ("shaped" in tifffile's terms)
        metadata = {"spacing": [float(s) for s in spacing], "channel_axis": axis}
        if calibrated:
            metadata["unit"] = unit
        kwargs = {"resolution": (1.0 / sx, 1.0 / sy)} if calibrated else {}
        if rgb:
            photometric = "rgb"
        else:
            photometric = "minisblack"
            if axis is not None:
                arr = np.ascontiguousarray(np.moveaxis(arr, axis, 0))
                metadata["channels_first"] = True
        tifffile.imwrite(tmp, arr, photometric=photometric, metadata=metadata, **kwargs)


class _NIfTIWriter:
    @staticmethod
    def prepare(target, arr, axis, dtype, like):
        _import("nibabel", "NIfTI", target, "write")
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8)
        if dtype is not None:
            arr = _fit_dtype(target, arr, dtype)
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if axis is not None:
            arr = np.moveaxis(arr, axis, -1)
            if arr.ndim == 3:  # 2-D image with channels -> (X, Y, 1, C)
                arr = arr[:, :, None, :]
        return arr

    @staticmethod
    def write(tmp, arr, axis, spacing, calibrated, like):
        import nibabel as nib

        sp3 = tuple(spacing) + (1.0,) * (3 - len(spacing))
        header = None
        base = None
        if like is not None and like.format == "nifti" and like.meta.get("header") is not None:
            header = like.meta["header"].copy()
            base = like.meta.get("affine")
        if base is not None:
            affine = np.array(base, dtype=np.float64)
            for i in range(3):
                norm = float(np.linalg.norm(affine[:3, i]))
                if norm > 0:
                    affine[:3, i] *= sp3[i] / norm
                else:
                    affine[:3, i] = 0.0
                    affine[i, i] = sp3[i]
        else:
            affine = np.diag(sp3 + (1.0,))
        klass = nib.Nifti2Image if header is not None and isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
        if header is not None:
            qcode = int(header["qform_code"])
            scode = int(header["sform_code"])
            fourth = float(header.get_zooms()[3]) if len(header.get_zooms()) > 3 else 1.0
        else:
            qcode = scode = 1
            fourth = 1.0
        img = klass(arr, affine, header=header, dtype=arr.dtype)
        hdr = img.header
        hdr.set_data_dtype(arr.dtype)
        hdr.set_slope_inter(np.nan, np.nan)
        img.set_qform(affine, code=qcode)
        img.set_sform(affine, code=scode)
        zooms = sp3 if arr.ndim <= 3 else sp3 + (fourth if np.isfinite(fourth) and fourth > 0 else 1.0,)
        hdr.set_zooms(zooms[: arr.ndim])
        if header is None:
            hdr.set_xyzt_units("mm", "sec")
        nib.save(img, tmp)


_NRRD_STRUCTURAL = {
    "type", "dimension", "sizes", "endian", "encoding", "data file", "datafile", "byte skip", "byteskip",
    "line skip", "lineskip", "space directions", "spacings", "kinds", "space dimension", "space",
    "space origin", "content", "block size", "blocksize",
}
_NRRD_PER_AXIS = {"labels", "units", "centerings", "centers", "thicknesses", "axis mins", "axismins",
                  "axis maxs", "axismaxs"}


class _NRRDWriter:
    @staticmethod
    def prepare(target, arr, axis, dtype, like):
        _import("nrrd", "NRRD", target, "write", extra="nrrd", package="pynrrd")
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8)
        if dtype is not None:
            arr = _fit_dtype(target, arr, dtype)
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        return arr

    @staticmethod
    def write(tmp, arr, axis, spacing, calibrated, like):
        import nrrd

        ndim = arr.ndim
        nspatial = len(spacing)
        like_header = like.meta.get("header") if like is not None and like.format == "nrrd" else None
        header: dict = {}
        space_dim = nspatial
        unit_dirs = None
        origin = None
        if like_header is not None:
            for key, value in like_header.items():
                if key in _NRRD_STRUCTURAL:
                    continue
                if key in _NRRD_PER_AXIS and like.data.ndim != ndim:
                    continue
                header[key] = value
            dirs = like_header.get("space directions")
            if dirs is not None:
                dirs = np.asarray(dirs, dtype=np.float64)
                rows = [r for r in dirs if np.all(np.isfinite(r))]
                if len(rows) == nspatial and all(np.linalg.norm(r) > 0 for r in rows):
                    unit_dirs = [r / np.linalg.norm(r) for r in rows]
                    space_dim = dirs.shape[1]
                    if like_header.get("space origin") is not None:
                        origin = np.asarray(like_header["space origin"], dtype=np.float64)
                    if "space" in like_header:
                        header["space"] = like_header["space"]
        if unit_dirs is None:
            unit_dirs = list(np.eye(nspatial))
        if "space" not in header:
            if space_dim == 3:
                header["space"] = "left-posterior-superior"
            else:
                header["space dimension"] = space_dim
        directions = []
        kinds = []
        spatial_index = 0
        for i in range(ndim):
            if i == axis:
                directions.append(np.full(space_dim, np.nan))
                kinds.append("vector")
            else:
                directions.append(unit_dirs[spatial_index] * spacing[spatial_index])
                kinds.append("domain")
                spatial_index += 1
        header["space directions"] = np.array(directions)
        header["kinds"] = kinds
        header["space origin"] = origin if origin is not None and origin.shape == (space_dim,) else np.zeros(space_dim)
        header["encoding"] = "gzip"
        nrrd.write(tmp, arr, header, compression_level=6)


_WRITERS = {
    "png": _PNGWriter(),
    "tiff": _TIFFWriter(ome=False),
    "ome-tiff": _TIFFWriter(ome=True),
    "nifti": _NIfTIWriter(),
    "nrrd": _NRRDWriter(),
}


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(target: pathlib.Path, write_to, overwrite: bool) -> None:
    """Write via `write_to(tmp_path)` to a temp file beside `target`, then move it into place.

    On any exception (KeyboardInterrupt included) the temporary file is removed
    and the target is left as it was.
    """
    ext = _extension_of(target)
    stem = target.name[: len(target.name) - len(ext)] if ext else target.name
    parent = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{stem}.tmp-", suffix=ext)
    except OSError as exc:
        raise ImageFileError(f"cannot write {target}: cannot create a file in {parent} ({exc.strerror or exc})") from exc
    os.close(fd)
    try:
        try:
            write_to(tmp)
            # permissions of a normally created file (mkstemp makes 0600), or those of the replaced file
            try:
                if overwrite and os.path.exists(target):
                    mode = os.stat(target).st_mode & 0o7777
                else:
                    mode = 0o666 & ~_umask()
                os.chmod(tmp, mode)
            except OSError:
                pass
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            _move_into_place(tmp, target, overwrite)
        except ImageFileError:
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ImageFileError(f"cannot write {target}: {type(exc).__name__}: {reason}") from exc
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _move_into_place(tmp: str, target: pathlib.Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise _ImageFileExistsError(
            f"cannot write {target}: the file appeared while writing; pass overwrite=True to replace it"
        ) from None
    except OSError:
        # no hard links on this file system: replace (the existence check still applies)
        if os.path.lexists(target):
            raise _ImageFileExistsError(
                f"cannot write {target}: the file exists; pass overwrite=True to replace it"
            ) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)
