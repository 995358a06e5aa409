"""Reading DICOM and raster mammograms, including bad and unusual files."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from mcalc.dicomwrite import write_dicom
from mcalc.errors import DecoderMissingError, ImageReadError
from mcalc.imageio import read_image


def _ramp(h=64, w=48, top=4095):
    return (np.arange(h * w).reshape(h, w) % (top + 1)).astype(np.uint16)


def test_dicom_tags_and_full_bit_depth(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", _ramp(), laterality="R", view="MLO", spacing_mm=0.1)
    m = read_image(path)
    assert m.shape == (64, 48)
    assert m.pixels.dtype == np.uint16 and int(m.pixels.max()) > 255  # never cast to 8 bits
    assert (m.window_center, m.window_width) == (2047.0, 4096.0)
    assert m.pixel_spacing_mm == (0.1, 0.1) and m.spacing_source == "PixelSpacing"
    assert (m.laterality, m.view, m.monochrome1, m.bits_stored) == ("R", "MLO", False, 12)
    assert m.flags == ()


@pytest.mark.parametrize(
    ("file_mm", "manifest_mm", "got_mm", "source", "note"),
    [
        (0.1, None, 0.1, "PixelSpacing", None),  # no manifest value: the file's, as before
        (0.1, 0.1004, 0.1, "PixelSpacing", None),  # within 1 %: no note
        (0.1, 0.2, 0.1, "PixelSpacing", "the manifest's pixel spacing 0.2 mm differs from "
         "the file's PixelSpacing 0.1 mm; the file's is used"),  # the DICOM's wins
        (None, 0.2, 0.2, "manifest", "pixel spacing 0.2 mm from the manifest (the file has none)"),
        (None, None, 0.07, "default", "no pixel spacing in the file: assuming 0.07 mm"),
    ],
)  # fmt: skip
def test_manifest_spacing_against_the_files_own(
    tmp_path, file_mm, manifest_mm, got_mm, source, note
):
    path = write_dicom(tmp_path / "s.dcm", _ramp(), spacing_mm=file_mm)
    m = read_image(path, spacing_mm=manifest_mm)
    assert (m.pixel_spacing_mm, m.spacing_source) == ((got_mm, got_mm), source)
    spacing_flags = [f for f in m.flags if "spacing" in f]
    assert spacing_flags == ([] if note is None else [note])


def test_upper_case_suffix_is_read(tmp_path):
    path = write_dicom(tmp_path / "MLO_prior.DCM", _ramp())
    assert read_image(path).shape == (64, 48)


def test_missing_tags_get_flagged_defaults(tmp_path):
    path = write_dicom(
        tmp_path / "b.dcm", _ramp(), laterality=None, spacing_mm=None, window=None, view=None
    )
    m = read_image(path, default_spacing_mm=0.07)
    assert m.pixel_spacing_mm == (0.07, 0.07) and m.spacing_source == "default"
    assert m.laterality is None
    joined = " ".join(m.flags)
    assert "pixel spacing" in joined and "laterality" in joined and "window" in joined
    assert m.window_width > 0


def test_monochrome1_and_rescale(tmp_path):
    path = write_dicom(tmp_path / "c.dcm", _ramp(), monochrome1=True, rescale=(2.0, -10.0))
    m = read_image(path)
    assert m.monochrome1
    assert m.pixels.dtype == np.float32
    assert float(m.pixels[0, 1]) == pytest.approx(2.0 * 1 - 10.0)


def test_truncated_dicom_is_a_clear_error(tmp_path):
    path = write_dicom(tmp_path / "d.dcm", _ramp(256, 256))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"d\.dcm"):
        read_image(path)


def test_a_dicom_cut_before_its_pixels_says_to_copy_it_again(tmp_path):
    """A download cut short in its header read as "DICOM has no pixel data (expected an
    image, got a header only)": no cause, nothing to do."""
    path = write_dicom(tmp_path / "h.dcm", _ramp(256, 200))
    data = path.read_bytes()
    path.write_bytes(data[: data.rfind(b"\xe0\x7f\x10\x00")])  # before (7FE0,0010)
    with pytest.raises(ImageReadError, match=r"h\.dcm: the DICOM ends before its pixel data"):
        read_image(path)
    with pytest.raises(ImageReadError, match=r"200x256 image.*copy the file from the source"):
        read_image(path)
    path.write_bytes(data[:200])  # the file meta alone
    with pytest.raises(ImageReadError, match=r"cut short.*copy the file from the source again"):
        read_image(path)


def test_not_a_dicom(tmp_path):
    path = tmp_path / "e.dcm"
    path.write_bytes(b"this is not a dicom file at all" * 10)
    with pytest.raises(ImageReadError, match=r"e\.dcm"):
        read_image(path)


@pytest.mark.parametrize("name", ["z.dcm", "z.png", "z"])
def test_an_empty_file_is_said_to_be_empty(tmp_path, name):
    """A zero-byte file (a failed copy) read as "not a DICOM file" (a .dcm, or a name
    without suffix) or "cannot decode image" (a PNG) until 6 December 2026."""
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty file \(0 bytes\)") as err:
        read_image(path)
    assert str(path) in str(err.value) and "not a DICOM" not in str(err.value)


def test_a_compressed_file_declaring_huge_dimensions_is_refused_undecoded(tmp_path, monkeypatch):
    """A compressed DICOM of a few kB may declare 60000x60000 pixels: its decoder allocated
    them (7 GB of the server's memory) before reading any data (the security review of
    6 December 2026). The header's size is checked first; the decoder is never asked."""
    import pydicom
    from pydicom.uid import RLELossless

    path = write_dicom(tmp_path / "f.dcm", _ramp())
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.Rows, ds.Columns = 60000, 60000
    ds.save_as(tmp_path / "huge.dcm")
    asked: list[str] = []
    real = pydicom.dataset.Dataset.pixel_array
    monkeypatch.setattr(
        pydicom.dataset.Dataset,
        "pixel_array",
        property(lambda self: asked.append("decode") or real.fget(self)),
    )
    with pytest.raises(ImageReadError, match=r"60000x60000 pixels .* 6\.7 GiB decoded") as err:
        read_image(tmp_path / "huge.dcm")
    assert asked == [] and "not decoded" in str(err.value)
    np.testing.assert_array_equal(read_image(tmp_path / "f.dcm").pixels, _ramp())


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.dcm")


def test_compressed_dicom_decodes_with_installed_decoder(tmp_path):
    import pydicom
    import pylibjpeg  # noqa: F401  (a requirement: its absence must fail)
    from pydicom.uid import RLELossless

    path = write_dicom(tmp_path / "f.dcm", _ramp())
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")
    m = read_image(tmp_path / "rle.dcm")
    np.testing.assert_array_equal(m.pixels, _ramp())


def test_missing_decoder_names_the_package(tmp_path, monkeypatch):
    import pydicom
    from pydicom.uid import RLELossless

    path = write_dicom(tmp_path / "g.dcm", _ramp())
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm")

    def no_decoder(self):
        raise RuntimeError("Unable to decode the pixel data as no plugins are available")

    from pydicom.pixels.decoders.base import Decoder

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decoder))
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(DecoderMissingError, match="pylibjpeg-rle"):
        read_image(tmp_path / "rle.dcm")


def test_corrupt_jpeg2000_is_not_a_missing_decoder(tmp_path):
    """A JPEG 2000 DICOM whose stream is damaged was reported as a missing decoder ("install
    a decoder: pip install pylibjpeg pylibjpeg-openjpeg"), the decoder being installed and
    reading the intact file: pydicom's "Unable to decode ..." matched the word "decod"."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(write_dicom(tmp_path / "g.dcm", _ramp()))
    ds.compress(JPEG2000Lossless)
    ds.save_as(tmp_path / "j2k.dcm")
    np.testing.assert_array_equal(read_image(tmp_path / "j2k.dcm").pixels, _ramp())
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame[: len(frame) // 2] + bytes(len(frame) - len(frame) // 2)])
    ds.save_as(tmp_path / "bad.dcm")
    with pytest.raises(ImageReadError) as caught:
        read_image(tmp_path / "bad.dcm")
    message = str(caught.value)
    assert not isinstance(caught.value, DecoderMissingError), message
    assert "corrupt or truncated" in message and "pip install" not in message, message
    assert "J2K" in message, message  # pydicom's own reason is kept
    assert "\n" not in message


@pytest.mark.parametrize(
    ("suffix", "dtype", "bits"),
    [
        (".png", np.uint8, 8),
        (".png", np.uint16, 12),
        (".tif", np.uint16, 12),
        (".pgm", np.uint8, 8),
    ],
)
def test_raster_formats(tmp_path, suffix, dtype, bits):
    img = _ramp(32, 32, top=2**bits - 1).astype(dtype)
    path = tmp_path / f"img{suffix}"
    assert cv2.imwrite(str(path), img)
    m = read_image(path)
    np.testing.assert_array_equal(m.pixels, img)
    assert m.bits_stored == bits
    assert m.spacing_source == "default"
    assert any("spacing" in f for f in m.flags)


def test_colour_jpeg_becomes_gray(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., :] = 120
    cv2.imwrite(str(tmp_path / "c.jpg"), img)
    m = read_image(tmp_path / "c.jpg")
    assert m.pixels.ndim == 2


def test_corrupt_raster(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_image(tmp_path / "bad.png")


def test_voi_lut_is_read_and_seeds_the_window(tmp_path):
    # A LUT that is flat up to 1000, rises linearly to 3000, then flat: like a window.
    table = np.clip((np.arange(4096) - 1000) / 2000.0, 0, 1) * 65535
    path = write_dicom(tmp_path / "lut.dcm", _ramp(), window=None, voi_lut=(0, table))
    m = read_image(path)
    assert m.voi_lut is not None and m.voi_lut[0] == 0 and len(m.voi_lut[1]) == 4096
    assert m.voi_lut[1].max() == pytest.approx(1.0)
    assert m.window_center == pytest.approx(2000, abs=5)
    assert m.window_width == pytest.approx(2000, abs=10)
    assert any("VOI LUT" in f for f in m.flags)


def _native_file(path, arr, *, stored, signed=False, implicit=False):
    """A DICOM of ``arr``'s raw bytes as they are (high bits and sign included)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored = arr.dtype.itemsize * 8, stored
    ds.HighBit, ds.PixelRepresentation = stored - 1, int(signed)
    ds.WindowCenter, ds.WindowWidth = "100", "200"
    raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds.PixelData = raw + b"\0" * (len(raw) % 2)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("dtype", "stored", "signed", "implicit", "shape"),
    [
        (np.uint16, 12, False, False, (40, 30)),  # junk in the 4 unused high bits
        (np.int16, 12, True, False, (40, 30)),  # 12-bit signed: sign-extended
        (np.uint16, 16, False, True, (33, 17)),  # implicit VR, all bits used
        (np.uint8, 7, False, False, (5, 7)),  # odd byte count: a pad byte
    ],
)
def test_uncompressed_frame_read_from_file_equals_pydicom(
    tmp_path, monkeypatch, dtype, stored, signed, implicit, shape
):
    import pydicom

    from mcalc import imageio

    monkeypatch.setattr(imageio, "_DEFER_BYTES", 16)  # small files take the direct read too
    info = np.iinfo(dtype)
    arr = np.random.default_rng(0).integers(info.min, info.max, shape, endpoint=True)
    path = _native_file(tmp_path / "n.dcm", arr.astype(dtype), stored=stored, signed=signed)
    if implicit:
        path = _native_file(path, arr.astype(dtype), stored=stored, signed=signed, implicit=True)
    ds = imageio._dataset(path)
    direct = imageio._native_frame(ds, path)
    assert direct is not None  # the direct read was taken
    oracle = pydicom.dcmread(path).pixel_array
    assert direct.dtype == oracle.dtype and direct.flags.writeable
    np.testing.assert_array_equal(direct, oracle)
    np.testing.assert_array_equal(read_image(path).pixels, oracle)
    data = path.read_bytes()  # cut short: pydicom's decode reports it, naming the file
    path.write_bytes(data[: len(data) - 20])
    assert imageio._native_frame(imageio._dataset(path), path) is None
    with pytest.raises(ImageReadError, match=r"n\.dcm"):
        read_image(path)


def test_raster_decodes_into_numpy_memory(tmp_path, monkeypatch):
    """A raster file is decoded by ``cv2.imread`` into an array the binding makes in
    NumPy's memory (``dst=None``), not by ``cv2.imdecode`` (OpenCV's memory, then a copy);
    the bytes decide only when OpenCV cannot open the path. Same pixels either way."""
    img = _ramp(48, 40, top=4095).astype(np.uint16)
    path = tmp_path / "ü-img.png"  # non-ASCII: where OpenCV may not open the path itself
    assert cv2.imwrite(str(tmp_path / "img.png"), img)
    (tmp_path / "img.png").rename(path)
    real_decode, real_read = cv2.imdecode, cv2.imread
    decoded: list[int] = []
    read: list[tuple[object, ...]] = []

    def counted_decode(*args):
        decoded.append(1)
        return real_decode(*args)

    def counted_read(*args):
        read.append(args)
        return real_read(*args)

    monkeypatch.setattr(cv2, "imdecode", counted_decode)
    monkeypatch.setattr(cv2, "imread", counted_read)
    np.testing.assert_array_equal(read_image(path).pixels, img)
    assert decoded == [] and len(read) == 1 and read[0][1] is None  # dst=None: NumPy's memory
    monkeypatch.setattr(cv2, "imread", lambda *args: None)  # a path OpenCV cannot open
    np.testing.assert_array_equal(read_image(path).pixels, img)
    assert decoded == [1]


_RACE = """
import sys, threading
import numpy as np
from mcalc.dicomwrite import write_dicom
from mcalc.imageio import read_image

barrier, errors = threading.Barrier(8), []

def work(i):
    barrier.wait()
    try:
        if i % 2:
            read_image(sys.argv[1])
        else:
            write_dicom(f"{sys.argv[2]}/{i}.dcm", np.zeros((4, 4), np.uint16))
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors)
"""


@pytest.mark.slow  # six fresh interpreters: about 3 s
def test_threads_reading_and_writing_dicom_at_once_in_a_fresh_process(tmp_path):
    """pydicom's first import by two threads at once (a page reading a DICOM while the
    warm-up writes its tiny set) failed every thread of half the runs with "cannot import
    name 'Dataset' from partially initialized module 'pydicom.dataset'" (a fresh test
    server's Browse and Evaluate pages, 5 December 2026)."""
    import subprocess
    import sys
    from pathlib import Path

    source = write_dicom(tmp_path / "a.dcm", np.full((8, 8), 100, np.uint16))
    repo = Path(__file__).resolve().parent.parent
    for run in range(6):
        out = tmp_path / f"run{run}"
        out.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _RACE, str(source), str(out)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "[]", (run, done.stdout)


def test_a_spacing_disagreement_is_logged_at_info_once(tmp_path, caplog):
    """A collection whose manifest disagrees with its DICOMs' own spacing: one INFO line,
    not one per image load (a batch over thousands of images); every image keeps its note."""
    paths = [write_dicom(tmp_path / f"{i}.dcm", _ramp(), spacing_mm=0.1) for i in range(3)]
    caplog.set_level(logging.DEBUG, logger="mcalc.imageio")
    got = [read_image(p, spacing_mm=0.25) for p in paths]
    assert all(any("differs from the file's" in f for f in m.flags) for m in got)
    said = [r for r in caplog.records if "differs from the file's" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO, logging.DEBUG, logging.DEBUG]


def test_a_truncated_raster_is_our_error_alone_on_stderr(tmp_path, capfd):
    """OpenCV printed its own "[ERROR:0@1.4] global loadsave.cpp ... imread_" line on the
    process' stderr beside mcalc's error (seen with `predict --image` on a cut PGM)."""
    ok, png = cv2.imencode(".pgm", np.full((64, 48), 200, np.uint8))
    assert ok
    path = tmp_path / "cut.pgm"
    path.write_bytes(png.tobytes()[:200])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)
    assert "[ERROR" not in capfd.readouterr().err
