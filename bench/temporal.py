"""Registration cost and accuracy on full-size synthetic prior/recent pairs.

Per view of each case of a full-size synthetic set (4096x3328 px at 0.07 mm, made once
under ``bench/out``):

- **decode**: reading both DICOMs (:func:`mcalc.imageio.read_image`), the floor any
  temporal view pays; **prepare**: the pixel pipeline and breast masks of both;
- **register**: :func:`mcalc.temporal.register_images` (affine from the masks' moments,
  B-spline inside the breast, quality figures), and its ratio to the decode floor;
- **TRE**: target registration error in mm on the generator's landmark pairs inside the
  breast (recent -> prior, and the inverse), beside the distance before registration.

``--misalign DEG MM`` also rotates the prior by DEG degrees about a point of the chest
wall, shifts it by MM millimetres, darkens it by 25% and drops its last 5% of rows (position,
exposure and size differing as between real screening rounds); the landmarks follow.

    python bench/temporal.py                 # 3 cases, both views
    python bench/temporal.py --cases 4 --json
    python bench/temporal.py --misalign 8 14
    python bench/temporal.py --levels 1      # the single-level B-spline, to compare
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OUT = Path(__file__).resolve().parent / "out"


def demo(cases: int) -> Path:
    from mcalc.synthetic import LANDMARKS_NAME, generate_demo, is_synthetic

    folder = OUT / f"temporal-demo-{cases}"
    if not (is_synthetic(folder) and (folder / LANDMARKS_NAME).is_file()):
        generate_demo(folder, cases=cases, seed=0, size="full")
    return folder


def misalign(
    prior: np.ndarray, pairs: np.ndarray, deg: float, mm: float, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """The prior rotated, shifted, darkened and shortened; the landmark pairs to match."""
    import cv2

    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = np.array([prior.shape[0] / 2, 0.0])
    t = centre - rot @ centre + np.array([mm, -mm]) / spacing / np.sqrt(2)
    rows = int(prior.shape[0] * 0.95)
    yy, xx = np.mgrid[:rows, : prior.shape[1]].astype(np.float32)
    src_r = (rot[0, 0] * yy + rot[0, 1] * xx + t[0]).astype(np.float32)
    src_c = (rot[1, 0] * yy + rot[1, 1] * xx + t[1]).astype(np.float32)
    moved = cv2.remap(prior, src_c, src_r, cv2.INTER_LINEAR, borderValue=0.0) * 0.75
    out = pairs.copy()
    out[:, :2] = (pairs[:, :2] - t) @ np.linalg.inv(rot).T
    return moved.astype(np.float32), out


def run(
    cases: int, work_side: int, shake: tuple[float, float] | None = None, levels: int = 2
) -> list[dict[str, object]]:
    from mcalc.breast import breast_mask, chest_wall_side
    from mcalc.dataset import open_dataset
    from mcalc.imageio import read_image
    from mcalc.imaging import file_unit
    from mcalc.synthetic import read_landmarks
    from mcalc.temporal import RegistrationSettings, landmark_error, register_images

    root = demo(cases)
    index = open_dataset(root)
    marks = read_landmarks(root)
    settings = RegistrationSettings(work_side=work_side, bspline_levels=levels)
    rows: list[dict[str, object]] = []
    for case in index.cases:
        for view in ("CC", "MLO"):
            rec_r, rec_p = case.image(view, "recent"), case.image(view, "prior")
            if rec_r is None or rec_p is None or case.folder is None:
                continue
            t0 = time.perf_counter()
            m_r, m_p = read_image(rec_r.image_path), read_image(rec_p.image_path)
            t1 = time.perf_counter()
            u_r, u_p = file_unit(m_r), file_unit(m_p)
            key = f"{case.folder.parent.name}/{case.folder.name}/{view}"
            pairs = marks[key]
            if shake is not None:
                u_p, pairs = misalign(u_p, pairs, *shake, m_p.pixel_spacing_mm[0])
            b_r, b_p = breast_mask(u_r), breast_mask(u_p)
            mirrored = chest_wall_side(b_r) != chest_wall_side(b_p)
            t2 = time.perf_counter()
            reg = register_images(
                u_r,
                u_p,
                b_r,
                b_p,
                spacing_mm=m_r.pixel_spacing_mm[0],
                prior_mirrored=mirrored,
                settings=settings,
            )
            t3 = time.perf_counter()
            err = landmark_error(reg, pairs, b_r)
            rows.append(
                {
                    "pair": key,
                    "shape": list(m_r.shape),
                    "decode_s": round(t1 - t0, 3),
                    "prepare_s": round(t2 - t1, 3),
                    "register_s": round(t3 - t2, 3),
                    "register_over_decode": round((t3 - t2) / max(t1 - t0, 1e-9), 2),
                    "method": reg.method,
                    "fallback": reg.fallback,
                    "tre_mm": round(err["tre_mm"], 3),
                    "tre_max_mm": round(err["tre_max_mm"], 3),
                    "inverse_mm": round(err["inverse_mm"], 3),
                    "before_mm": round(err["before_mm"], 3),
                    "ncc_before": round(float(reg.quality["ncc_before"]), 4),
                    "ncc_after": round(float(reg.quality["ncc_after"]), 4),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3, help="cases of the full-size set (>= 3)")
    parser.add_argument("--work-side", type=int, default=256, help="registration's image side")
    parser.add_argument(
        "--misalign",
        nargs=2,
        type=float,
        metavar=("DEG", "MM"),
        help="also rotate and shift the prior, darken and shorten it",
    )
    parser.add_argument(
        "--levels", type=int, default=2, help="B-spline levels (1: the single-level stage)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows = run(
        args.cases, args.work_side, tuple(args.misalign) if args.misalign else None, args.levels
    )
    reg = np.array([r["register_s"] for r in rows], dtype=float)
    dec = np.array([r["decode_s"] for r in rows], dtype=float)
    tre = np.array([r["tre_mm"] for r in rows], dtype=float)
    before = np.array([r["before_mm"] for r in rows], dtype=float)
    total = {
        "pairs": len(rows),
        "register_s_median": round(float(np.median(reg)), 3),
        "register_s_max": round(float(reg.max()), 3),
        "decode_s_median": round(float(np.median(dec)), 3),
        "register_over_decode_median": round(float(np.median(reg / dec)), 2),
        "tre_mm_mean": round(float(tre.mean()), 3),
        "tre_mm_max_pair": round(float(tre.max()), 3),
        "before_mm_mean": round(float(before.mean()), 3),
        "fallbacks": sum(1 for r in rows if r["fallback"]),
    }
    if args.json:
        print(json.dumps({"rows": rows, "total": total}))
        return 0
    print(
        f"{'pair':28} {'decode s':>8} {'prep s':>7} {'reg s':>6} {'ratio':>6} "
        f"{'TRE mm':>7} {'inv mm':>7} {'before':>7}  method"
    )
    for r in rows:
        print(
            f"{r['pair']:28} {r['decode_s']:8.2f} {r['prepare_s']:7.2f} {r['register_s']:6.2f} "
            f"{r['register_over_decode']:6.2f} {r['tre_mm']:7.3f} {r['inverse_mm']:7.3f} "
            f"{r['before_mm']:7.3f}  {r['method']}{' (fallback)' if r['fallback'] else ''}"
        )
    print(json.dumps(total))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
