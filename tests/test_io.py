"""Tests for imdiffuse.io: round trips, spacing, dtype rule, atomic writes, corrupt files."""

from __future__ import annotations

import gzip
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest

from imdiffuse import io
from imdiffuse.io import ImageData, ImageFileError

RNG = np.random.default_rng(1234)


def _random(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (RNG.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _leftovers(directory):
    return sorted(name for name in os.listdir(directory) if ".tmp-" in name)


# --------------------------------------------------------------------------- ImageData, formats


def test_imagedata_array_protocol():
    img = ImageData(np.arange(6, dtype=np.uint8).reshape(2, 3), (1.0, 1.0), None, "png", {})
    assert np.asarray(img) is img.data
    assert np.asarray(img, dtype=np.float32).dtype == np.float32
    assert np.array(img, copy=True) is not img.data
    assert img.shape == (2, 3) and img.ndim == 2 and img.dtype == np.uint8
    assert "shape=(2, 3)" in repr(img)
    with pytest.raises(Exception):
        img.spacing = (2.0, 2.0)  # frozen


def test_formats_table():
    table = io.formats()
    assert set(table) == {"png", "jpeg", "tiff", "ome-tiff", "nifti", "nrrd", "dicom", "zarr", "ome-zarr"}
    assert table["jpeg"].modes == "r" and table["dicom"].modes == "r"
    assert table["png"].modes == "rw" and table["png"].extra is None
    assert table["dicom"].extra == "dicom" and table["nrrd"].extra == "nrrd"
    assert ".nii.gz" in table["nifti"].extensions
    ext, modes, extra, note = table["tiff"]
    assert ext == (".tif", ".tiff") and isinstance(note, str)


# --------------------------------------------------------------------------- PNG / JPEG


@pytest.mark.parametrize(
    "shape, dtype, channel_axis",
    [((17, 23), np.uint8, None), ((17, 23, 3), np.uint8, -1), ((17, 23, 4), np.uint8, -1), ((17, 23), np.uint16, None)],
)
def test_png_round_trip(tmp_path, shape, dtype, channel_axis):
    data = _random(shape, dtype)
    out = io.write(tmp_path / "img.png", data, channel_axis=channel_axis)
    assert out == tmp_path / "img.png"
    back = io.read(out)
    assert back.format == "png"
    assert back.data.dtype == dtype
    np.testing.assert_array_equal(back.data, data)
    assert back.channel_axis == channel_axis
    assert back.spacing == (1.0, 1.0)


def test_png_channel_axis_first_is_moved_last(tmp_path):
    data = _random((3, 8, 9), np.uint8)
    back = io.read(io.write(tmp_path / "rgb.png", data, channel_axis=0))
    np.testing.assert_array_equal(back.data, np.moveaxis(data, 0, -1))
    assert back.channel_axis == -1


def test_png_float_to_uint8_rounds_and_clips(tmp_path):
    data = np.array([[-3.4, 2.6, 300.7]])
    back = io.read(io.write(tmp_path / "x.png", data, dtype=np.uint8))
    np.testing.assert_array_equal(back.data, [[0, 3, 255]])
    assert back.data.dtype == np.uint8


def test_png_auto_dtype(tmp_path):
    small = np.array([[0.2, 254.6], [3.0, 100.0]])
    back = io.read(io.write(tmp_path / "a.png", small))
    assert back.data.dtype == np.uint8
    np.testing.assert_array_equal(back.data, [[0, 255], [3, 100]])
    wide = np.array([[0, 1000], [3, 65535]], dtype=np.int32)
    back = io.read(io.write(tmp_path / "b.png", wide))
    assert back.data.dtype == np.uint16
    np.testing.assert_array_equal(back.data, wide)
    with pytest.raises(ImageFileError, match="rescale") as exc:
        io.write(tmp_path / "c.png", np.array([[-5.0, 10.0]]))
    assert "c.png" in str(exc.value)
    assert not (tmp_path / "c.png").exists()


def test_png_like_integer_dtype(tmp_path):
    like = io.read(io.write(tmp_path / "like.png", np.zeros((4, 4), np.uint16)))
    back = io.read(io.write(tmp_path / "out.png", np.full((4, 4), 7.4), like=like))
    assert back.data.dtype == np.uint16
    assert (back.data == 7).all()


def test_png_bool_is_0_255(tmp_path):
    mask = np.zeros((5, 6), bool)
    mask[1:3, 2:4] = True
    back = io.read(io.write(tmp_path / "m.png", mask))
    assert back.data.dtype == np.uint8
    np.testing.assert_array_equal(back.data, mask * 255)


def test_png_refusals(tmp_path):
    with pytest.raises(ImageFileError, match="NaN"):
        io.write(tmp_path / "n.png", np.array([[1.0, np.nan]]), dtype=np.uint8)
    with pytest.raises(ImageFileError, match="2-D"):
        io.write(tmp_path / "v.png", np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(ImageFileError, match="16-bit colour"):
        io.write(tmp_path / "c.png", np.zeros((4, 5, 3), np.uint16), channel_axis=-1)
    assert _leftovers(tmp_path) == [] and not list(tmp_path.iterdir())


def _png16_rgb(path, arr):
    """A minimal 16-bit RGB PNG (filter 0) for the refusal test."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(tag, payload):
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_png_16bit_colour_read_is_refused_not_truncated(tmp_path):
    path = tmp_path / "rgb16.png"
    _png16_rgb(path, _random((4, 5, 3), np.uint16))
    with pytest.raises(ImageFileError, match="16-bit colour") as exc:
        io.read(path)
    assert str(path) in str(exc.value)


def test_jpeg_read_and_write_refused(tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "photo.JPG"
    iio.imwrite(path, _random((16, 16, 3), np.uint8), extension=".jpg")
    img = io.read(path)
    assert img.format == "jpeg" and img.data.shape == (16, 16, 3) and img.channel_axis == -1
    with pytest.raises(ImageFileError, match="lossy") as exc:
        io.write(tmp_path / "out.jpg", img.data, channel_axis=-1)
    assert "PNG" in str(exc.value) and "out.jpg" in str(exc.value)
    assert not (tmp_path / "out.jpg").exists()


# --------------------------------------------------------------------------- TIFF / OME-TIFF


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
@pytest.mark.parametrize("spacing", [(0.7, 0.8), (2.5, 0.7, 0.7)], ids=["2d", "3d"])
def test_tiff_round_trip(tmp_path, dtype, spacing):
    shape = (5, 7, 9)[-len(spacing):]
    data = _random(shape, dtype)
    back = io.read(io.write(tmp_path / "img.tif", data, spacing=spacing))
    assert back.format == "tiff"
    assert back.data.dtype == dtype
    assert back.data.shape == shape
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == spacing
    assert back.channel_axis is None
    assert back.meta["unit"] == "mm"


def test_tiff_imagej_metadata_is_standard(tmp_path):
    import tifffile

    path = io.write(tmp_path / "stack.tiff", np.zeros((3, 4, 5), np.uint16), spacing=(2.5, 0.123456789, 0.3))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["spacing"] == 2.5 and tif.imagej_metadata["unit"] == "mm"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.3)
    assert io.read(path).spacing == (2.5, 0.123456789, 0.3)


def test_tiff_reads_foreign_imagej_file(tmp_path):
    import tifffile

    path = tmp_path / "fiji.tif"
    tifffile.imwrite(
        path, np.ones((4, 6, 8), np.uint8), imagej=True, resolution=(2.0, 4.0),
        metadata={"axes": "ZYX", "spacing": 3.0, "unit": "micron"},
    )
    img = io.read(path)
    assert img.spacing == (3.0, 0.25, 0.5)
    assert img.meta["unit"] == "micron"


def test_tiff_rgb_and_channels(tmp_path):
    rgb = _random((6, 7, 3), np.uint8)
    back = io.read(io.write(tmp_path / "rgb.tif", rgb, channel_axis=-1, spacing=(0.5, 0.25)))
    np.testing.assert_array_equal(back.data, rgb)
    assert back.channel_axis == -1 and back.spacing == (0.5, 0.25)
    vec = _random((2, 4, 5, 6), np.float32)
    back = io.read(io.write(tmp_path / "vec.tif", vec, channel_axis=0, spacing=(3.0, 2.0, 1.0)))
    np.testing.assert_array_equal(back.data, vec)
    assert back.channel_axis == 0 and back.spacing == (3.0, 2.0, 1.0)


def test_tiff_bool_is_0_1_and_int_dtype_clips(tmp_path):
    mask = np.eye(4, dtype=bool)
    back = io.read(io.write(tmp_path / "m.tif", mask))
    assert back.data.dtype == np.uint8 and back.data.max() == 1
    data = np.array([[-40000.0, 1.5, 2.5, 40000.0]])
    back = io.read(io.write(tmp_path / "i.tif", data, dtype=np.int16))
    np.testing.assert_array_equal(back.data, [[-32768, 2, 2, 32767]])  # rint: half to even
    ints = np.array([[-5, 300, 70000]], dtype=np.int64)
    back = io.read(io.write(tmp_path / "u.tif", ints, dtype=np.uint8))
    np.testing.assert_array_equal(back.data, [[0, 255, 255]])


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_ome_tiff_round_trip(tmp_path, dtype):
    data = _random((4, 6, 8), dtype)
    path = io.write(tmp_path / "vol.ome.tif", data, spacing=(2.5, 0.7, 0.65))
    back = io.read(path)
    assert back.format == "ome-tiff"
    assert back.data.dtype == dtype
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == (2.5, 0.7, 0.65)
    assert back.meta["unit"] == "mm"


def test_ome_tiff_channels(tmp_path):
    data = _random((5, 6, 2), np.float32)
    back = io.read(io.write(tmp_path / "ch.OME.TIFF", data, channel_axis=-1, spacing=(0.5, 0.25)))
    assert back.format == "ome-tiff"
    # OME stores non-RGB channels as its C axis, first
    assert back.channel_axis == 0
    np.testing.assert_array_equal(back.data, np.moveaxis(data, -1, 0))
    assert back.spacing == (0.5, 0.25)


# --------------------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz", "VOL.NII.GZ"])
def test_nifti_round_trip_int16(tmp_path, name):
    data = _random((6, 7, 5), np.int16)
    back = io.read(io.write(tmp_path / name, data, spacing=(0.7, 0.7, 2.5)))
    assert back.format == "nifti"
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == (0.7, 0.7, 2.5)
    assert back.channel_axis is None
    np.testing.assert_allclose(np.diag(back.meta["affine"]), [0.7, 0.7, 2.5, 1.0], rtol=1e-6)
    assert back.meta["unit"] == "mm"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_nifti_dtypes(tmp_path, dtype):
    data = _random((4, 5, 3), dtype)
    back = io.read(io.write(tmp_path / "v.nii.gz", data, spacing=(1.5, 1.25, 3.0)))
    assert back.data.dtype == dtype
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == (1.5, 1.25, 3.0)


def test_nifti_4d_channel_axis(tmp_path):
    data = _random((4, 5, 3, 2), np.float32)
    back = io.read(io.write(tmp_path / "v4.nii.gz", data, channel_axis=3, spacing=(1.0, 2.0, 3.0)))
    assert back.channel_axis == 3
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == (1.0, 2.0, 3.0)
    # channels given first are stored as NIfTI's 4th axis
    back = io.read(io.write(tmp_path / "v4b.nii", np.moveaxis(data, 3, 0), channel_axis=0, spacing=(1.0, 2.0, 3.0)))
    np.testing.assert_array_equal(back.data, data)


def test_nifti_like_carries_header(tmp_path):
    import nibabel as nib

    data = _random((4, 5, 3), np.int16)
    affine = np.array([[0.0, -0.8, 0.0, 10.0], [0.9, 0.0, 0.0, -5.0], [0.0, 0.0, 2.5, 3.0], [0, 0, 0, 1]])
    src = nib.Nifti1Image(data, affine)
    src.header["descrip"] = b"from the scanner"
    src.set_qform(affine, code=1)
    src.set_sform(affine, code=4)
    src.header.set_xyzt_units("mm", "sec")
    nib.save(src, tmp_path / "src.nii.gz")
    like = io.read(tmp_path / "src.nii.gz")
    assert like.spacing == pytest.approx((0.9, 0.8, 2.5))

    result = data.astype(np.float32) * 0.5
    out = io.write(tmp_path / "out.nii.gz", result, like=like)
    back = io.read(out)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.data, result)
    hdr = back.meta["header"]
    assert hdr["descrip"].tobytes().rstrip(b"\0") == b"from the scanner"
    assert int(hdr["qform_code"]) == 1 and int(hdr["sform_code"]) == 4
    np.testing.assert_allclose(back.meta["affine"], affine, atol=1e-6)
    assert back.spacing == like.spacing

    # a new spacing rescales the affine columns, keeping the orientation
    back = io.read(io.write(tmp_path / "out2.nii", result, like=like, spacing=(1.8, 1.6, 5.0)))
    assert back.spacing == (1.8, 1.6, 5.0)
    np.testing.assert_allclose(back.meta["affine"][:3, :3], affine[:3, :3] * 2, atol=1e-6)
    assert back.meta["header"]["descrip"].tobytes().rstrip(b"\0") == b"from the scanner"


def test_nifti_scaled_data_read_as_float32(tmp_path):
    import nibabel as nib

    raw = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(0.5, -10.0)
    nib.save(img, tmp_path / "s.nii")
    back = io.read(tmp_path / "s.nii")
    assert back.data.dtype == np.float32
    np.testing.assert_allclose(back.data, raw * 0.5 - 10.0)
    assert back.meta["scaling"] == (0.5, -10.0)


def test_nifti_nan_to_integer_refused(tmp_path):
    with pytest.raises(ImageFileError, match="NaN"):
        io.write(tmp_path / "n.nii.gz", np.full((3, 3, 3), np.nan), dtype=np.int16)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- NRRD


def test_nrrd_round_trip(tmp_path):
    pytest.importorskip("nrrd")
    data = _random((6, 5, 4), np.int16)
    back = io.read(io.write(tmp_path / "v.nrrd", data, spacing=(0.7, 0.8, 2.5)))
    assert back.format == "nrrd"
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == pytest.approx((0.7, 0.8, 2.5), rel=1e-12)
    assert back.channel_axis is None
    vec = _random((6, 5, 3), np.float32)
    back2 = io.read(io.write(tmp_path / "c.nrrd", vec, channel_axis=-1, spacing=(0.5, 0.25), like=None))
    np.testing.assert_array_equal(back2.data, vec)
    assert back2.channel_axis == -1 and back2.spacing == pytest.approx((0.5, 0.25))
    # like= keeps the orientation and custom fields
    back3 = io.read(io.write(tmp_path / "l.nrrd", data.astype(np.float32), like=back))
    assert back3.spacing == pytest.approx(back.spacing)
    assert back3.data.dtype == np.float32
    with pytest.raises(ImageFileError, match=".nhdr"):
        io.write(tmp_path / "v.nhdr", data)


def test_nrrd_reads_spacings_field(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    nrrd.write(str(tmp_path / "s.nrrd"), np.zeros((3, 4), np.float32), {"spacings": [0.25, 0.5]})
    assert io.read(tmp_path / "s.nrrd").spacing == (0.25, 0.5)


# --------------------------------------------------------------------------- DICOM


def _dicom_slice(path, pixels, *, z, series_uid, instance, pydicom, slope=1, intercept=-1024):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ct_storage = "1.2.840.10008.5.1.4.1.1.2"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ct_storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = ct_storage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.3.4"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [-20.0, -30.0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.8]
    ds.SliceThickness = 2.5
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.PixelData = pixels.tobytes()
    try:
        ds.save_as(path, enforce_file_format=True)  # pydicom >= 3
    except TypeError:  # pragma: no cover - pydicom 2.x
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


@pytest.mark.parametrize("raw_dtype", [np.int16, np.uint16])
def test_dicom_series(tmp_path, raw_dtype):
    pydicom = pytest.importorskip("pydicom")
    series_uid = "1.2.826.0.1.3680043.8.498.1"
    folder = tmp_path / "series"
    folder.mkdir()
    n = 5
    slices = [np.full((16, 16), 100 * k, raw_dtype) + np.arange(16, dtype=raw_dtype) for k in range(n)]
    order = RNG.permutation(n)
    for rank, k in enumerate(order):
        name = f"{RNG.integers(1 << 30):x}" + (".dcm" if rank % 2 else "")
        # InstanceNumber deliberately disagrees with the position order
        _dicom_slice(folder / name, slices[k], z=10 + 2.5 * k, series_uid=series_uid,
                     instance=int(n - k), pydicom=pydicom)
    (folder / "notes.txt").write_text("not a DICOM file")
    img = io.read(folder)
    assert img.format == "dicom"
    assert img.data.shape == (n, 16, 16)
    assert img.data.dtype == np.int16
    np.testing.assert_array_equal(img.data, np.stack(slices).astype(np.int32) - 1024)
    assert img.spacing == (2.5, 0.7, 0.8)
    assert img.meta["rescale"] == (1.0, -1024.0)
    assert img.meta["series_uid"] == series_uid
    assert [p[2] for p in img.meta["positions"]] == [10 + 2.5 * k for k in range(n)]
    # a single slice file: 2-D with the in-plane spacing
    one = io.read(img.meta["files"][0])
    assert one.data.shape == (16, 16) and one.spacing == (0.7, 0.8)


def test_dicom_non_integral_rescale_gives_float32(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    folder = tmp_path / "s"
    folder.mkdir()
    for k in range(3):
        _dicom_slice(folder / f"{k}.dcm", np.full((4, 4), k + 1, np.uint16), z=2.0 * k, series_uid="1.2.3",
                     instance=k + 1, pydicom=pydicom, slope=0.5, intercept=-1.25)
    img = io.read(folder)
    assert img.data.dtype == np.float32
    np.testing.assert_allclose(img.data[:, 0, 0], [-0.75, -0.25, 0.25])
    assert img.spacing == (2.0, 0.7, 0.8)


def test_dicom_several_series_listed(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    for k, uid in enumerate(["1.2.3.1", "1.2.3.2"]):
        _dicom_slice(tmp_path / f"{k}.dcm", np.zeros((4, 4), np.int16), z=0.0, series_uid=uid,
                     instance=1, pydicom=pydicom)
    with pytest.raises(ImageFileError, match="2 DICOM series") as exc:
        io.read(tmp_path)
    assert "1.2.3.1" in str(exc.value) and "1.2.3.2" in str(exc.value)


def test_dicom_ct_small():
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    img = io.read(path)
    assert img.format == "dicom"
    assert img.data.shape == (128, 128)
    assert img.data.dtype == np.int16
    assert -1100 < img.data.min() < 0 < img.data.max() < 3000  # Hounsfield units
    assert img.spacing == pytest.approx((0.661468, 0.661468))


def test_dicom_write_refused(tmp_path):
    with pytest.raises(ImageFileError, match="NIfTI") as exc:
        io.write(tmp_path / "x.dcm", np.zeros((4, 4), np.int16))
    assert "x.dcm" in str(exc.value)
    with pytest.raises(ImageFileError, match="DICOM output is not supported"):
        io.write(tmp_path, np.zeros((4, 4), np.int16), overwrite=True)


# --------------------------------------------------------------------------- write: safety


def test_existing_target_refused_then_overwritten(tmp_path):
    path = tmp_path / "img.nii.gz"
    io.write(path, np.zeros((3, 4, 5), np.float32))
    before = path.read_bytes()
    with pytest.raises(ImageFileError, match="overwrite=True") as exc:
        io.write(path, np.ones((3, 4, 5), np.float32))
    assert isinstance(exc.value, FileExistsError)
    assert str(path) in str(exc.value)
    assert path.read_bytes() == before
    io.write(path, np.ones((3, 4, 5), np.float32), overwrite=True)
    assert (io.read(path).data == 1).all()
    assert _leftovers(tmp_path) == []


def test_existing_checked_before_work(tmp_path, monkeypatch):
    path = tmp_path / "img.tif"
    path.write_bytes(b"old")
    monkeypatch.setattr(io, "_fit_dtype", lambda *a: pytest.fail("converted data before the existence check"))
    with pytest.raises(FileExistsError):
        io.write(path, np.array([[1.5]]), dtype=np.uint8)
    assert path.read_bytes() == b"old"


def test_written_file_has_normal_permissions(tmp_path):
    path = io.write(tmp_path / "p.png", np.zeros((2, 2), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, exc_type, existing):
    import nibabel as nib

    path = tmp_path / "out.nii.gz"
    if existing:
        path.write_bytes(b"previous")

    def broken_save(img, filename):
        with open(filename, "wb") as fh:
            fh.write(b"partial data")
        raise exc_type("disk on fire")

    monkeypatch.setattr(nib, "save", broken_save)
    expected = ImageFileError if exc_type is RuntimeError else KeyboardInterrupt
    with pytest.raises(expected) as info:
        io.write(path, np.zeros((3, 3, 3), np.float32), overwrite=existing)
    if expected is ImageFileError:
        assert str(path) in str(info.value) and "disk on fire" in str(info.value)
    assert _leftovers(tmp_path) == []
    if existing:
        assert path.read_bytes() == b"previous"
    else:
        assert not path.exists()


def test_temp_file_name_keeps_extension(tmp_path, monkeypatch):
    import nibabel as nib

    seen = []
    real_save = nib.save

    def spy(img, filename):
        seen.append(os.path.basename(filename))
        real_save(img, filename)

    monkeypatch.setattr(nib, "save", spy)
    io.write(tmp_path / "scan.nii.gz", np.zeros((2, 2, 2), np.int16))
    assert seen[0].startswith(".scan.tmp-") and seen[0].endswith(".nii.gz")
    assert io.read(tmp_path / "scan.nii.gz").data.dtype == np.int16  # really gzipped NIfTI
    with gzip.open(tmp_path / "scan.nii.gz") as fh:
        assert fh.read(4) == struct.pack("<i", 348)


def test_target_appearing_during_write_is_not_clobbered(tmp_path, monkeypatch):
    import tifffile

    path = tmp_path / "race.tif"
    real = tifffile.imwrite

    def racing(filename, *args, **kwargs):
        path.write_bytes(b"someone else")
        return real(filename, *args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", racing)
    with pytest.raises(FileExistsError):
        io.write(path, np.zeros((2, 2), np.uint8))
    assert path.read_bytes() == b"someone else"
    assert _leftovers(tmp_path) == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from imdiffuse import io
    data = np.random.default_rng(0).standard_normal((1000, 1000, 20))
    print("ready", flush=True)
    io.write(sys.argv[1], data, overwrite=True)
    print("done", flush=True)
    """
)


def _temp_size(directory):
    names = _leftovers(directory)
    try:
        return os.path.getsize(os.path.join(directory, names[0])) if names else 0
    except FileNotFoundError:
        return 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("existing", [False, True])
def test_sigkill_never_leaves_partial_target(tmp_path, existing):
    """Kill a writer while it is writing a ~160 MB .nii.gz: the target is never partial."""
    target = tmp_path / "big.nii.gz"
    old = None
    if existing:
        io.write(target, np.full((4, 4, 4), 7, np.int16))
        old = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        # wait until the temporary file holds data, i.e. the write is under way
        while _temp_size(tmp_path) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    finished = proc.returncode == 0
    if not finished:
        assert proc.returncode == -signal.SIGKILL
    if existing and target.read_bytes() == old:
        return  # killed before the move: the old content is intact
    if target.exists():  # only possible when the writer got to the move: complete file
        assert io.read(target).data.shape == (1000, 1000, 20)
    else:
        assert not existing and not finished


# --------------------------------------------------------------------------- write: arguments


def test_write_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="spacing"):
        io.write(tmp_path / "a.tif", np.zeros((3, 4)), spacing=(1.0, -2.0))
    with pytest.raises(ValueError, match="spacing"):
        io.write(tmp_path / "a.tif", np.zeros((3, 4)), spacing=(1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="dtype"):
        io.write(tmp_path / "a.tif", np.zeros((3, 4), complex))
    with pytest.raises(ValueError, match="channel_axis"):
        io.write(tmp_path / "a.tif", np.zeros((3, 4)), channel_axis=5)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        io.write(tmp_path / "a.nii", np.zeros((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="like"):
        io.write(tmp_path / "a.tif", np.zeros((3, 4)), like=np.zeros((3, 4)))
    with pytest.raises(ImageFileError, match="does not exist") as exc:
        io.write(tmp_path / "missing" / "a.tif", np.zeros((3, 4)))
    assert "a.tif" in str(exc.value)
    with pytest.raises(ImageFileError, match="unknown file extension") as exc:
        io.write(tmp_path / "a.xyz", np.zeros((3, 4)))
    assert ".nii.gz" in str(exc.value) and ".png" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_write_imagedata_and_like_spacing(tmp_path):
    src = io.read(io.write(tmp_path / "src.tif", np.zeros((3, 4, 5), np.float32), spacing=(2.0, 0.5, 0.25)))
    back = io.read(io.write(tmp_path / "copy.nii.gz", src))
    assert back.spacing == (2.0, 0.5, 0.25)
    back = io.read(io.write(tmp_path / "derived.tif", np.ones((3, 4, 5)), like=src))
    assert back.spacing == (2.0, 0.5, 0.25) and back.data.dtype == np.float64


# --------------------------------------------------------------------------- read: bad input


def _half(path):
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def _bad_files(tmp_path):
    text_png = tmp_path / "text.png"
    text_png.write_text("this is not an image\n")
    nii = io.write(tmp_path / "trunc.nii.gz", _random((40, 40, 20), np.float32))
    png = io.write(tmp_path / "half.png", _random((64, 64), np.uint8))
    tif = io.write(tmp_path / "trunc.tif", _random((10, 64, 64), np.uint16))
    empty = tmp_path / "empty.nii"
    empty.touch()
    unknown = tmp_path / "data.xyz"
    unknown.write_bytes(b"\x00" * 200)
    empty_dir = tmp_path / "nodicom"
    empty_dir.mkdir()
    junk_dir = tmp_path / "junkdir"
    junk_dir.mkdir()
    (junk_dir / "readme.txt").write_text("hello")
    return {
        "text named .png": text_png,
        "truncated .nii.gz": _half(nii),
        "PNG cut in half": _half(png),
        "truncated TIFF": _half(tif),
        "empty file": empty,
        "missing file": tmp_path / "missing.nii.gz",
        "unknown extension": unknown,
        "empty directory": empty_dir,
        "directory without DICOM": junk_dir,
    }


def test_corrupt_files_raise_image_file_error(tmp_path):
    for what, path in _bad_files(tmp_path).items():
        if "directory" in what:
            pytest.importorskip("pydicom")
        with pytest.raises(ImageFileError) as exc:
            io.read(path)
        assert str(path) in str(exc.value), what
        assert isinstance(exc.value, OSError)
    assert isinstance(_catch(lambda: io.read(tmp_path / "missing.nii.gz")), FileNotFoundError)


def _catch(func):
    try:
        func()
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


def test_missing_optional_package_names_the_extra(tmp_path, monkeypatch):
    nrrd_path = tmp_path / "x.nrrd"
    nrrd_path.write_bytes(b"NRRD0004\n")
    monkeypatch.setitem(sys.modules, "nrrd", None)  # import nrrd -> ImportError
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImageFileError, match=r'pip install "imdiffuse\[nrrd\]"') as exc:
        io.read(nrrd_path)
    assert str(nrrd_path) in str(exc.value)
    with pytest.raises(ImageFileError, match=r'pip install "imdiffuse\[dicom\]"'):
        io.read(tmp_path)
    with pytest.raises(ImageFileError, match=r'imdiffuse\[nrrd\]'):
        io.write(tmp_path / "y.nrrd", np.zeros((2, 2)))
    assert not (tmp_path / "y.nrrd").exists()


def test_dicom_sniffed_without_extension(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    path = tmp_path / "IM0001"
    _dicom_slice(path, np.full((4, 4), 5, np.int16), z=0.0, series_uid="1.2", instance=1, pydicom=pydicom)
    img = io.read(path)
    assert img.format == "dicom" and (img.data == 5 - 1024).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["u.tif", "u.ome.tif"])
def test_tiff_units_from_like(tmp_path, dtype, name):
    src = ImageData(np.zeros((3, 4, 5), dtype), (2.0, 0.5, 0.5), None, "ome-tiff", {"unit": "µm"})
    back = io.read(io.write(tmp_path / name, src))
    # ImageJ/TIFF descriptions are ASCII: ImageJ's own spelling "micron"
    assert back.meta["unit"] in ("µm", "micron")
    assert back.spacing == (2.0, 0.5, 0.5)
