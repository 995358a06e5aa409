"""Writing the synthetic set: the output folder, DICOMs, annotation JPEGs, spreadsheet, marker.

The set is built in a hidden sibling folder and moved into place when complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

from mcalc import __version__
from mcalc.dataset.zenodo import (
    DATASET_FOLDER,
    DEMO_MARKER,
    DESCRIPTION_COLUMNS,
    DESCRIPTION_NAME,
    GROUP_SHEETS,
    canonical_name,
)
from mcalc.dicomwrite import write_dicom
from mcalc.errors import FieldError
from mcalc.imaging import to_uint8, window
from mcalc.progress import ProgressFn
from mcalc.synthetic.film import STYLES
from mcalc.synthetic.paint import CalcTruth
from mcalc.synthetic.plan import Case, name_quirks, plan_cases
from mcalc.synthetic.render import render_case
from mcalc.synthetic.spec import (
    CLUSTER_MIN_CALCS,
    CLUSTER_RADIUS_MM,
    CLUSTER_SIZE,
    DEFORM_MM,
    DIFFICULTIES,
    GLAND_FRACTION,
    LOOKS,
    MIN_CASES,
    MIN_SIDE,
    SHIFT_MM,
    SIZES,
    WINDOW,
)

__all__ = [
    "DemoSummary",
    "ImageTruth",
    "LANDMARKS_NAME",
    "generate_demo",
    "is_synthetic",
    "read_landmarks",
]

log = logging.getLogger(__name__)


_REPLACE_LOCK = threading.Lock()


class ImageTruth(TypedDict):
    """Ground truth of one written image (``images`` of the marker file)."""

    dicom: str
    gt: str
    group: str
    birads: str
    laterality: str
    view: str
    timepoint: str
    calcifications: int
    clusters: int
    calcs: list[CalcTruth]


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo` wrote.

    Attributes:
        out: the folder holding the set (README.txt, Description.xlsx, Dataset/, marker).
        cases: number of case folders.
        images: number of DICOM images (4 per case).
        calcifications: calcifications painted over all images.
        clusters: suspicious clusters (>= ``CLUSTER_MIN_CALCS`` calcifications) over all images.
        truth: per image key (``Suspicious_cases/1/CC_recent``) the ground truth written to
            ``mcalc_demo.json``: files, counts and calcification centres.
        seconds: wall-clock time taken.
    """

    out: Path
    cases: int
    images: int
    calcifications: int
    clusters: int
    truth: dict[str, ImageTruth]
    seconds: float


#: Per view of each case, corresponding points of the prior and recent image (the
#: deformation applied between rounds), for measuring a registration's error.
LANDMARKS_NAME = "mcalc_landmarks.json"
_LANDMARKS_NOTE = (
    "SYNTHETIC ground truth: per '<group>/<case>/<view>', rows of [prior_row, prior_col, "
    "recent_row, recent_col] in full-resolution pixels of the DICOMs"
)


def read_landmarks(root: str | Path) -> dict[str, np.ndarray]:
    """The landmark pairs of a demo set, ``{'<group>/<case>/<view>': (N, 4) array}``.

    Raises:
        FileNotFoundError: ``root`` is not a demo set written with landmarks.
    """
    path = Path(root) / LANDMARKS_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no {LANDMARKS_NAME} in {root}: regenerate the demo (python -m mcalc demo) "
            "to get the deformation's landmarks"
        )
    views = json.loads(path.read_text(encoding="utf-8"))["views"]
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in views.items()}


def is_synthetic(root: str | Path) -> bool:
    """Whether ``root`` is a set made by :func:`generate_demo`.

    ``root`` is the set's top folder, or its ``Dataset/`` folder (then the parent is checked).

    Example:
        >>> is_synthetic("/nonexistent")
        False
    """
    root = Path(root)
    if (root / DEMO_MARKER).is_file():
        return True
    named = root.name.lower().startswith(DATASET_FOLDER.lower())
    return named and (root.parent / DEMO_MARKER).is_file()


def generate_demo(
    out: str | Path,
    *,
    cases: int = 12,
    seed: int = 0,
    size: str = "small",
    shape: tuple[int, int] | None = None,
    progress: ProgressFn | None = None,
    style: str = "digital",
    difficulty: str = "real",
) -> DemoSummary:
    """Generate a synthetic dataset in the real dataset's layout.

    The set is built in a hidden sibling folder and moved into place when complete, so
    ``out`` never holds a half-written set.

    Args:
        out: folder to create. It may be missing, empty, or a previous demo set (replaced);
            any other non-empty folder is refused.
        cases: number of case folders (>= 3), split between the groups like the real set,
            always with at least one BI-RADS 1, one BI-RADS 2 and one suspicious case.
        seed: seed of every random choice (>= 0); the same seed gives the same pixels.
        size: ``small`` (1024x832 at 0.1 mm) or ``full`` (4096x3328 at 0.07 mm).
        shape: (rows, cols) overriding the size's shape, for tests. The pixel spacing is
            scaled so that the breast keeps its physical size.
        progress: called as ``progress(done, total, message)`` after each image.
        style: ``digital`` (full-field digital look-alikes) or ``film`` (the same images
            with scanned-film artefacts: bright borders, scanner lines, a sticker touching
            the border, fog; see :mod:`mcalc.synthetic.film`).
        difficulty: ``real`` (calcifications of a few pixels near the noise, benign and
            suspicious morphology that overlap, dense tissue hiding some) or ``easy`` (the
            plainly visible ones of earlier versions, byte for byte); see
            :data:`mcalc.synthetic.spec.LOOKS`.

    Returns:
        A :class:`DemoSummary` of what was written.

    Raises:
        ValueError: ``cases`` < 3, an unknown ``size``, a ``shape`` under 128 px a side or
            a negative ``seed``.
        FileExistsError: ``out`` exists and is a file or a non-empty folder that is not a
            previous demo set.

    Example:
        >>> import tempfile
        >>> s = generate_demo(tempfile.mkdtemp() + "/d", cases=3, seed=1, shape=(256, 208))
        >>> s.cases, s.images
        (3, 12)
    """
    start = time.perf_counter()
    shape, spacing = _resolve_size(size, shape)
    _check_args(cases, seed)
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(
            f"unknown difficulty {difficulty!r}; expected one of {', '.join(DIFFICULTIES)}"
        )
    out = Path(os.path.abspath(os.path.expanduser(out)))  # "." or "demo/." name a folder too
    _check_target(out)

    plans = plan_cases(cases, seed)
    quirks = name_quirks(plans)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the set is meant to be shared
    try:
        truth = _write_set(tmp, plans, quirks, seed, shape, spacing, progress, style, difficulty)
        _write_metadata(tmp, plans, quirks, truth, seed, size, shape, spacing, difficulty)
        # An easy digital set stays byte-identical to earlier versions.
        added: dict[str, object] = {"style": style} if style != "digital" else {}
        if difficulty != "easy":
            look = LOOKS[difficulty]
            added["difficulty"] = difficulty
            added["calcification_amplitude"] = {
                "cluster": list(look.cluster_amplitude),
                "scattered": list(look.scattered_amplitude),
                "mixed_morphology": look.mixed_morphology,
                "hide_in_dense": look.hide_in_dense,
            }
        if added:
            marker = tmp / DEMO_MARKER
            marker.write_text(json.dumps({**json.loads(marker.read_text()), **added}, indent=1))
        _replace(out, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    summary = DemoSummary(
        out=out,
        cases=len(plans),
        images=len(truth),
        calcifications=sum(t["calcifications"] for t in truth.values()),
        clusters=sum(t["clusters"] for t in truth.values()),
        truth=truth,
        seconds=time.perf_counter() - start,
    )
    log.info(
        "synthetic demo set: %d cases, %d images, %d calcifications in %s (%.1f s)",
        summary.cases,
        summary.images,
        summary.calcifications,
        out,
        summary.seconds,
    )
    return summary


def _resolve_size(size: str, shape: tuple[int, int] | None) -> tuple[tuple[int, int], float]:
    """(rows, cols) and pixel spacing (mm) for a size preset and an optional shape."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    base_shape, base_spacing = SIZES[size]
    if shape is None:
        return base_shape, base_spacing
    if len(shape) != 2 or not all(isinstance(v, (int, np.integer)) for v in shape):
        raise ValueError(f"shape must be (rows, cols) as two integers, got {shape!r}")
    rows, cols = int(shape[0]), int(shape[1])
    if min(rows, cols) < MIN_SIDE:
        raise ValueError(f"shape must be at least {MIN_SIDE} px a side, got ({rows}, {cols})")
    # Same field of view as the preset: coarser pixels for smaller images.
    return (rows, cols), round(base_spacing * base_shape[0] / rows, 4)


def _check_args(cases: int, seed: int) -> None:
    if isinstance(cases, bool) or not isinstance(cases, (int, np.integer)):
        raise FieldError("cases", f"must be an integer >= {MIN_CASES}, got {cases!r}")
    if cases < MIN_CASES:
        raise FieldError(
            "cases",
            f"must be at least {MIN_CASES} (one BI-RADS 1, one BI-RADS 2 and one "
            f"suspicious case), got {cases}",
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FieldError("seed", f"must be an integer >= 0, got {seed!r}")


def _check_target(out: Path) -> None:
    """Refuse to write over anything but nothing, an empty folder or a previous demo set."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another output folder")
    if any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise FileExistsError(
            f"{out} is not empty and is not a mcalc demo set (no {DEMO_MARKER}); refusing to "
            "overwrite it: choose an empty or new folder"
        )


def _replace(out: Path, tmp: Path) -> None:
    """Move the finished set ``tmp`` to ``out``, removing a previous demo set there."""
    with _REPLACE_LOCK:  # app sessions are threads of one process: one swap at a time
        _swap(out, tmp)


def _swap(out: Path, tmp: Path) -> None:
    if out.exists():
        _check_target(out)  # re-check: the folder may have changed while generating
        if (out / DEMO_MARKER).is_file():
            shutil.rmtree(out)
        else:
            out.rmdir()
    tmp.rename(out)


def _write_set(
    root: Path,
    plans: list[Case],
    quirks: list[dict[str, str]],
    seed: int,
    shape: tuple[int, int],
    spacing: float,
    progress: ProgressFn | None,
    style: str = "digital",
    difficulty: str = "real",
) -> dict[str, ImageTruth]:
    """Render and write every image of every case; return the per-image ground truth."""
    renamed = {(q["folder"], q["expected"]): q["file"] for q in quirks}
    total = 4 * len(plans)
    done = 0
    truth: dict[str, ImageTruth] = {}
    moved: dict[str, list[list[float]]] = {}
    for case in plans:
        folder_key = f"{case.group}/{case.folder}"
        folder = root / DATASET_FOLDER / case.group / str(case.folder)
        folder.mkdir(parents=True, exist_ok=True)
        for image in render_case(case, seed, shape, spacing, style, difficulty):
            stem = f"{image.view}_{image.timepoint}"
            dcm = canonical_name(image.view, image.timepoint)
            gt = canonical_name(image.view, image.timepoint, annotation=True)
            dcm, gt = renamed.get((folder_key, dcm), dcm), renamed.get((folder_key, gt), gt)
            write_dicom(
                folder / dcm,
                image.pixels,
                laterality=case.laterality,
                view=image.view,
                spacing_mm=spacing,
                window=WINDOW,
                bits_stored=12,
                patient_id=case.patient_id,
                study_date=case.prior_date if image.timepoint == "prior" else case.recent_date,
                institution="mcalc synthetic (not patient data)",
                study_key=f"mcalc-demo|{seed}|{case.patient_id}|{image.timepoint}",
                instance_key=f"mcalc-demo|{seed}|{case.patient_id}|{image.timepoint}|{image.view}",
            )
            (folder / gt).write_bytes(_gt_jpeg(image.pixels, image.mask))
            key = f"{folder_key}/{stem}"
            truth[key] = ImageTruth(
                dicom=f"{DATASET_FOLDER}/{folder_key}/{dcm}",
                gt=f"{DATASET_FOLDER}/{folder_key}/{gt}",
                group=case.group,
                birads=case.birads,
                laterality=case.laterality,
                view=image.view,
                timepoint=image.timepoint,
                calcifications=len(image.calcs),
                clusters=image.clusters,
                calcs=list(image.calcs),
            )
            if image.landmarks is not None:
                moved[f"{folder_key}/{image.view}"] = np.round(image.landmarks, 3).tolist()
            done += 1
            if progress is not None:
                progress(done, total, f"{folder_key} {stem}")
    (root / LANDMARKS_NAME).write_text(json.dumps({"note": _LANDMARKS_NOTE, "views": moved}))
    return truth


def _write_metadata(
    root: Path,
    plans: list[Case],
    quirks: list[dict[str, str]],
    truth: dict[str, ImageTruth],
    seed: int,
    size: str,
    shape: tuple[int, int],
    spacing: float,
    difficulty: str = "real",
) -> None:
    """README.txt, Description.xlsx and the marker/ground-truth file."""
    look = LOOKS[difficulty]
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.txt").write_text(_readme(len(plans), seed, size, shape, spacing))
    _write_description(root / DESCRIPTION_NAME, plans, seed)
    marker = {
        "synthetic": True,
        "note": "SYNTHETIC data generated by mcalc; not patient data",
        "generator": "mcalc.synthetic.generate_demo",
        "mcalc_version": __version__,
        "seed": int(seed),
        "size": size,
        "shape": [int(shape[0]), int(shape[1])],
        "pixel_spacing_mm": spacing,
        "cases": len(plans),
        "parameters": {
            "window": list(WINDOW),
            "bits_stored": 12,
            "suspicious_diameter_mm": list(look.suspicious_mm),
            "benign_diameter_mm": list(look.benign_mm),
            "cluster_radius_mm": list(CLUSTER_RADIUS_MM),
            "cluster_min_calcs": CLUSTER_MIN_CALCS,
            "cluster_size_by_birads": {k: list(v) for k, v in CLUSTER_SIZE.items()},
            "prior_shift_mm": list(SHIFT_MM),
            "prior_deformation_mm": DEFORM_MM,
            "gland_fraction_by_density": GLAND_FRACTION,
            "gt_jpeg_quality": 92,
        },
        "case_list": [
            {
                "folder": f"{p.group}/{p.folder}",
                "patient_id": p.patient_id,
                "birads": p.birads,
                "laterality": p.laterality,
                "density": p.density,
                "prior_cluster": p.prior_cluster,
            }
            for p in plans
        ],
        "quirks": quirks,
        "images": truth,
    }
    (root / DEMO_MARKER).write_text(json.dumps(marker, indent=1))


def _readme(cases: int, seed: int, size: str, shape: tuple[int, int], spacing: float) -> str:
    return (
        "SYNTHETIC DATA - NOT PATIENT DATA\n"
        "=================================\n\n"
        f"Generated by mcalc {__version__} (mcalc.synthetic.generate_demo) with seed {seed}, "
        f"size '{size}' ({shape[0]}x{shape[1]} px, {spacing:g} mm per pixel), {cases} cases.\n\n"
        "Every image, annotation and spreadsheet value here is computer-generated. It imitates\n"
        "the layout of the 'Breast micro-calcifications dataset with precisely annotated\n"
        "sequential mammograms' (Loizidou et al., Zenodo 5036062) so that mcalc can be tried\n"
        "without it; it is not derived from that dataset or from any person.\n\n"
        "Dataset/Normal_cases/<n> and Dataset/Suspicious_cases/<n> each hold CC/MLO prior/recent\n"
        "DICOMs and *_GT.jpg annotation images (calcifications painted red). Some file names\n"
        "carry the real set's quirks on purpose (see 'quirks' in mcalc_demo.json).\n"
        "mcalc_demo.json marks the set as synthetic and holds the ground truth.\n"
        "mcalc_landmarks.json holds, per case and view, corresponding points of the prior and\n"
        "recent image (the deformation applied between exams), to measure registrations.\n"
    )


def _write_description(path: Path, plans: list[Case], seed: int) -> None:
    """Description.xlsx: two title rows, the header on row 3, one row per case."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for group in GROUP_SHEETS.values():
        sheet = book.create_sheet(group)
        sheet.append(
            [f"SYNTHETIC data generated by mcalc {__version__} (seed {seed}) - not patient data"]
        )
        sheet.append([group.replace("_", " ")])
        sheet.append(list(DESCRIPTION_COLUMNS.values()))
        for p in (p for p in plans if p.group == group):
            sheet.append(
                [
                    p.folder,
                    "Left" if p.laterality == "L" else "Right",
                    p.age,
                    p.density,
                    int(p.birads) if p.birads.isdigit() else p.birads,
                    p.available,
                    p.years_between,
                    p.biopsy,
                ]
            )
    book.save(path)


def _gt_jpeg(pixels: np.ndarray, mask: np.ndarray) -> bytes:
    """The annotation image: windowed gray in colour, calcifications painted pure red."""
    gray = to_uint8(window(pixels, *WINDOW))
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgr[mask] = (0, 0, 255)  # OpenCV is BGR: this is pure red
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:  # pragma: no cover - encoding an 8-bit BGR array does not fail
        raise RuntimeError("OpenCV could not encode the annotation JPEG")
    return buf.tobytes()
