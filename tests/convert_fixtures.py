"""Tiny collections in the published formats of CBIS-DDSM, INbreast, mini-MIAS and VinDr-Mammo.

Every file is made here (small seeded images, hand-written tables); no real data. Each
builder returns the folder to convert and documents the rows it plants, good and bad.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

import cv2
import numpy as np

from mcalc.dicomwrite import write_dicom

#: mini-MIAS fixture images: rows x columns (not square, so a flipped axis shows).
MIAS_SHAPE = (100, 80)


def _gray(shape: tuple[int, int], seed: int, top: int = 4095) -> np.ndarray:
    return np.random.default_rng(seed).integers(200, top, size=shape, dtype=np.uint16)


def make_mias(root: Path) -> Path:
    """``Info.txt`` + PGMs. Converted: mdb001 (CIRC), mdb002 (CALC at x=20, y=10, r=3),
    mdb003 (NORM). Reported: mdb004 (CALC without centre), mdb005 (centre outside),
    mdb006 (no image), mdb007 (unknown tissue letter)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "MIAS database - mini version",
        "",
        "mdb001 G CIRC B 40 50 10",
        "mdb002 D CALC M 20 10 3",
        "mdb003 F NORM",
        "mdb004 F CALC B",
        "mdb005 G CALC B 10 200 4",
        "mdb006 F NORM",
        "mdb007 X CALC B 1 1 1",
    ]
    (root / "Info.txt").write_text("\n".join(lines) + "\n")
    for n in range(1, 6):
        pixels = (_gray(MIAS_SHAPE, n) // 16).astype(np.uint8)
        cv2.imwrite(str(root / f"mdb{n:03d}.pgm"), pixels)
    return root


VINDR_SHAPE = (64, 48)
_VINDR_HEADER = "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,split"
_FINDING_HEADER = (
    "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
    "breast_density,finding_categories,finding_birads,xmin,ymin,xmax,ymax,split"
)


def make_vindr(root: Path) -> Path:
    """Study ``s1`` (4 images) and ``s2`` (2 images).

    Converted: s1/a (no finding), s1/b (calcification box x 10-30, y 20-40, plus a mass
    box that is ignored), s1/c (mass + calcification in one box, x 5-15, y 5-25), s2/f (L CC).
    Reported: s1/d (box with xmax < xmin), s2/e (no DICOM file).
    """
    h, w = VINDR_SHAPE
    images = [
        ("s1", "a", "L", "CC", "BI-RADS 1", "DENSITY B"),
        ("s1", "b", "L", "MLO", "BI-RADS 1", "DENSITY B"),
        ("s1", "c", "R", "CC", "BI-RADS 4", "DENSITY C"),
        ("s1", "d", "R", "MLO", "BI-RADS 4", "DENSITY C"),
        ("s2", "e", "R", "CC", "BI-RADS 2", "DENSITY A"),
        ("s2", "f", "L", "CC", "BI-RADS 2", "DENSITY A"),
    ]
    root.mkdir(parents=True, exist_ok=True)
    breast = [_VINDR_HEADER]
    for n, (study, image, lat, view, birads, density) in enumerate(images):
        breast.append(f"{study},ser,{image},{lat},{view},{h},{w},{birads},{density},training")
        if image != "e":
            target = root / "images" / study / f"{image}.dicom"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_dicom(target, _gray(VINDR_SHAPE, n), laterality=lat, view=view)
    (root / "breast-level_annotations.csv").write_text("\n".join(breast) + "\n")
    common = {i: f"{s},ser,{i},{lat},{v},{h},{w},{b},{d}" for s, i, lat, v, b, d in images}
    findings = [
        _FINDING_HEADER,
        f"{common['a']},['No Finding'],,,,,,training",
        f"{common['b']},['Suspicious Calcification'],BI-RADS 4,10.0,20.0,30.0,40.0,training",
        f"{common['b']},['Mass'],BI-RADS 3,1.0,1.0,8.0,8.0,training",
        f"{common['c']},\"['Mass', 'Suspicious Calcification']\",BI-RADS 4,5.0,5.0,15.0,25.0,training",
        f"{common['d']},['Suspicious Calcification'],BI-RADS 4,30.0,5.0,20.0,25.0,training",
        f"{common['e']},['No Finding'],,,,,,training",
        f"{common['f']},['No Finding'],,,,,,training",
    ]
    (root / "finding_annotations.csv").write_text("\n".join(findings) + "\n")
    return root


INBREAST_SHAPE = (60, 50)


def _plist(path: Path, rois: list[tuple[str, list[str]]]) -> None:
    document = {
        "Images": [
            {
                "ImageIndex": 0,
                "NumberOfROIs": len(rois),
                "ROIs": [
                    {"Name": name, "NumberOfPoints": len(points), "Point_px": points}
                    for name, points in rois
                ],
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        plistlib.dump(document, fh)


def make_inbreast(root: Path) -> Path:
    """Release folder with ``INbreast.csv`` (``;``), ``AllDICOMs`` and ``AllXML``.

    Converted: 1001 (R CC; calcification points (10, 12) and (30, 40), a calcification
    contour, a cluster around them -> mask), 1002 (R MLO; cluster only -> region), 1003
    (L CC; no XML -> none). Reported: 1004 (broken XML), 1005 (no DICOM), 1006 (view XX).
    Patient hash ``aa11`` for all.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        ("1001", "R", "CC", "3", "4a"),
        ("1002", "R", "MLO", "3", "4a"),
        ("1003", "L", "CC", "3", "2"),
        ("1004", "L", "MLO", "3", "2"),
        ("1005", "R", "CC", "3", "2"),
        ("1006", "L", "XX", "3", "2"),
    ]
    lines = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for n, (name, lat, view, acr, birads) in enumerate(rows):
        lines.append(f"removed;removed;{lat};{view};201001;{name};{acr};{birads}")
        if name != "1005":
            target = root / "AllDICOMs" / f"{name}_aa11_MG_{lat}_{view}_ANON.dcm"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_dicom(target, _gray(INBREAST_SHAPE, n), laterality=lat, view="CC")
    (root / "INbreast.csv").write_text("\n".join(lines) + "\n")
    cluster = ["(5, 5)", "(45, 5)", "(45, 55)", "(5, 55)"]
    _plist(
        root / "AllXML" / "1001.xml",
        [
            ("Calcification", ["(10, 12)"]),
            ("Calcification", ["(30.4, 40.2)"]),
            ("Calcification", ["(20, 20)", "(24, 20)", "(24, 24)", "(20, 24)"]),
            ("Cluster", cluster),
            ("Mass", ["(1, 1)", "(3, 1)", "(3, 3)"]),
        ],
    )
    _plist(root / "AllXML" / "1002.xml", [("Cluster", cluster)])
    (root / "AllXML" / "1004.xml").write_text("<plist><dict><key>Images</key>")
    return root


CBIS_SHAPE = (64, 48)
_CBIS_HEADER = (
    "patient_id,breast density,left or right breast,image view,abnormality id,"
    "abnormality type,calc type,calc distribution,assessment,pathology,subtlety,"
    "image file path,cropped image file path,ROI mask file path"
)


def _cbis_row(
    patient: str, side: str, view: str, abn: int, kind: str, assess: int, path: str
) -> str:
    series = f"Calc-Training_{patient}_{side}_{view}"
    full = f"{series}/1.3.6.1/1.3.6.2/000000.dcm"
    roi = f"{series}_{abn}/1.3.6.3/1.3.6.4/000000.dcm"
    crop = f"{series}_{abn}/1.3.6.3/1.3.6.4/000001.dcm"
    return (
        f"{patient},3,{side},{view},{abn},{kind},PLEOMORPHIC,CLUSTERED,{assess},{path},3,"
        f'{full},"{crop}\n","{roi}\n"'
    )


def make_cbis(root: Path) -> Path:
    """``calc_case_description_train_set.csv`` + an NBIA-style tree under ``CBIS-DDSM/``.

    Converted: P_00001 LEFT CC with two abnormalities (ROI 1: mask and crop in one 'ROI
    mask images' series, file names swapped; ROI 2: separate series) -> one region that is
    their union; assessment 4 and 3 -> BI-RADS 4; MALIGNANT + BENIGN -> malignant.
    Reported: P_00002 RIGHT MLO (no image folder), P_00003 LEFT CC (ROI mask of another
    size), P_00004 LEFT MLO (abnormality type mass).
    """
    tree = root / "CBIS-DDSM"

    def dcm(folder: str, series: str, name: str, pixels: np.ndarray) -> None:
        target = tree / folder / "08-07-2016-DDSM-NA-1" / series / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_dicom(target, pixels, laterality=None, view=None, window=None)

    dcm(
        "Calc-Training_P_00001_LEFT_CC",
        "1.000000-full mammogram images-1",
        "1-1.dcm",
        _gray(CBIS_SHAPE, 1),
    )
    roi1 = np.zeros(CBIS_SHAPE, np.uint16)
    roi1[10:20, 5:15] = 255
    # mask and crop share one series; the CSV names the crop 000001 and the mask 000000,
    # the download names them 1-2 and 1-1 the other way round.
    dcm(
        "Calc-Training_P_00001_LEFT_CC_1",
        "1.000000-ROI mask images-2",
        "1-1.dcm",
        _gray((12, 10), 2),
    )
    dcm("Calc-Training_P_00001_LEFT_CC_1", "1.000000-ROI mask images-2", "1-2.dcm", roi1)
    roi2 = np.zeros(CBIS_SHAPE, np.uint16)
    roi2[40:50, 30:40] = 255
    dcm(
        "Calc-Training_P_00001_LEFT_CC_2",
        "1.000000-cropped images-3",
        "1-1.dcm",
        _gray((12, 10), 3),
    )
    dcm("Calc-Training_P_00001_LEFT_CC_2", "1.000000-ROI mask images-4", "1-1.dcm", roi2)
    dcm(
        "Calc-Training_P_00003_LEFT_CC",
        "1.000000-full mammogram images-5",
        "1-1.dcm",
        _gray(CBIS_SHAPE, 5),
    )
    dcm(
        "Calc-Training_P_00003_LEFT_CC_1",
        "1.000000-ROI mask images-6",
        "1-1.dcm",
        np.zeros((32, 24), np.uint16),
    )
    dcm(
        "Calc-Training_P_00004_LEFT_MLO",
        "1.000000-full mammogram images-7",
        "1-1.dcm",
        _gray(CBIS_SHAPE, 7),
    )
    rows = [
        _CBIS_HEADER,
        _cbis_row("P_00001", "LEFT", "CC", 1, "calcification", 4, "MALIGNANT"),
        _cbis_row("P_00001", "LEFT", "CC", 2, "calcification", 3, "BENIGN_WITHOUT_CALLBACK"),
        _cbis_row("P_00002", "RIGHT", "MLO", 1, "calcification", 2, "BENIGN"),
        _cbis_row("P_00003", "LEFT", "CC", 1, "calcification", 2, "BENIGN"),
        _cbis_row("P_00004", "LEFT", "MLO", 1, "mass", 4, "MALIGNANT"),
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc_case_description_train_set.csv").write_text("\n".join(rows) + "\n")
    return root


def make_region_manifest(
    root: Path, views: tuple[tuple[str, ...], ...] = (("CC",), ("CC",))
) -> Path:
    """One case per item of ``views`` (``c1``, ``c2``, ...), one recent image of each view
    named (the default: two cases of one CC image each, as CBIS-DDSM may give; ``("MLO",)``
    each: mini-MIAS): a bright breast with a disk-shaped ``region`` annotation (an ROI as
    CBIS-DDSM or MIAS give), written as PNG files + a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["case_id,laterality,view,timepoint,image,annotation,annotation_kind,birads"]
    centres = [(120, 90), (140, 110)]
    for n, case_views in enumerate(views, start=1):
        rng = np.random.default_rng(n)
        image = np.zeros((256, 200), np.uint16)
        cv2.ellipse(image, (0, 128), (170, 120), 0, -90, 90, 2400, -1)
        image = (image + rng.integers(0, 300, image.shape)).astype(np.uint16)
        region = np.zeros(image.shape, np.uint8)
        centre = centres[(n - 1) % len(centres)]
        cv2.circle(region, (centre[1], centre[0]), 30, 255, -1)
        for view in case_views:
            name = f"c{n}" if view == "CC" else f"c{n}_{view}"
            cv2.imwrite(str(root / f"{name}.png"), image)
            cv2.imwrite(str(root / f"{name}_roi.png"), region)
            rows.append(f"c{n},L,{view},recent,{name}.png,{name}_roi.png,region,4")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"
