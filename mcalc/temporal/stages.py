"""The registration itself: the prior mammogram registered to the recent one by SimpleITK,
in stages (:func:`register_images`); the result and its checks are
:mod:`mcalc.temporal.register`'s.

Stages, on copies shrunk to ``RegistrationSettings.work_side`` px (area averaging):

1. **global**: an affine transform initialised from the moments (centre of mass, principal
   axes) of the two breast masks, so the breast outlines and chest walls start aligned;
   refined by Mattes mutual information inside the recent breast (exposure may differ
   between rounds), two resolution levels;
2. **non-rigid**: a multi-level B-spline on top of the global transform, same metric and
   mask, a bounded number of L-BFGS-B iterations per level: ``bspline_levels`` levels, the
   first with ``bspline_grid`` control cells per side on images shrunk further (and
   smoothed), each next one a finer B-spline (control grid doubled) on sharper images,
   composed on the levels before: coarse, large deformation first, then finer detail.

A non-rigid stage that fails, folds (Jacobian determinant <= 0 inside the breast) or lowers
the similarity is dropped for the global stage, and the result says so (``fallback``); a
registration whose similarity is below that of the images as filed is not applied
(:func:`~mcalc.temporal.register.as_filed_if_worse`).

Reference: Loizidou et al., "An automated breast micro-calcification detection and
classification technique using temporal subtraction of mammograms", IEEE Access 2020.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import cv2
import numpy as np

from mcalc.temporal.register import (
    Registration,
    RegistrationError,
    RegistrationSettings,
    _work,
    _work_shape,
    as_filed_if_worse,
    quality_figures,
)

__all__ = ["register_images"]

log = logging.getLogger(__name__)


def register_images(
    recent: np.ndarray,
    prior: np.ndarray,
    recent_mask: np.ndarray,
    prior_mask: np.ndarray,
    *,
    spacing_mm: float,
    prior_mirrored: bool = False,
    settings: RegistrationSettings | None = None,
) -> Registration:
    """Register ``prior`` to ``recent`` (both [0, 1] float images, same pixel pipeline).

    Args:
        recent, prior: full-resolution images in [0, 1], as in their files.
        recent_mask, prior_mask: boolean breast masks of the same shapes.
        spacing_mm: full-resolution pixel spacing (row and column assumed equal).
        prior_mirrored: mirror the prior left-right first (its chest wall lies on the other
            side); points still map to and from the prior's file.
        settings: how to register (defaults: :class:`RegistrationSettings`).

    Raises:
        RegistrationError: shapes disagree or a breast mask is (nearly) empty.
    """
    import SimpleITK as sitk

    # One thread: the metric's sums, split over threads, are added in whatever order the
    # threads finish, and the optimisers carry those last-digit differences into another
    # transform (the same pair came out "affine" or "not registered", fields 1.3 mm apart, on
    # a 2-core machine; the registration method's own thread setting does not reach them).
    # It runs on copies of at most work_side px: one thread costs little. Set for the
    # process and left so (mcalc uses SimpleITK nowhere else): restoring it after each call
    # would let a registration running in another thread (another app session) pick up the
    # restored count half-way.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return _register(sitk, recent, prior, recent_mask, prior_mask, spacing_mm,
                     prior_mirrored, settings or RegistrationSettings())  # fmt: skip


def _register(
    sitk,
    recent: np.ndarray,
    prior: np.ndarray,
    recent_mask: np.ndarray,
    prior_mask: np.ndarray,
    spacing_mm: float,
    prior_mirrored: bool,
    settings: RegistrationSettings,
) -> Registration:
    """:func:`register_images` (SimpleITK imported and its threads set by the caller)."""
    for name, img, mask in (("recent", recent, recent_mask), ("prior", prior, prior_mask)):
        if img.ndim != 2 or mask.shape != img.shape:
            raise RegistrationError(
                f"{name}: expected a 2-D image and a mask of the same shape, got "
                f"{img.shape} and {mask.shape}"
            )
        if mask.mean() < 0.01:
            raise RegistrationError(
                f"{name}: the breast mask covers {100 * mask.mean():.2f}% of the image; "
                "no breast found to register"
            )
    start = time.perf_counter()
    r_shape = _work_shape(recent.shape, settings.work_side)
    p_shape = _work_shape(prior.shape, settings.work_side)
    r_scale = (recent.shape[0] / r_shape[0], recent.shape[1] / r_shape[1])
    p_scale = (prior.shape[0] / p_shape[0], prior.shape[1] / p_shape[1])

    def to_sitk(arr: np.ndarray, scale: tuple[float, float]) -> sitk.Image:
        # Physical coordinates = full-resolution pixel index * spacing, so both images share
        # one frame whatever their size: origin = centre of working pixel 0.
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((scale[1] * spacing_mm, scale[0] * spacing_mm))
        img.SetOrigin(((scale[1] / 2 - 0.5) * spacing_mm, (scale[0] / 2 - 0.5) * spacing_mm))
        return img

    file_prior, file_prior_mask = prior, prior_mask
    if prior_mirrored:
        prior, prior_mask = prior[:, ::-1], prior_mask[:, ::-1]
    fixed = to_sitk(_work(recent, r_shape), r_scale)
    moving = to_sitk(_work(prior, p_shape), p_scale)
    r_mask_w = cv2.resize(
        recent_mask.astype(np.uint8), (r_shape[1], r_shape[0]), interpolation=cv2.INTER_NEAREST
    )
    p_mask_w = cv2.resize(
        prior_mask.astype(np.uint8), (p_shape[1], p_shape[0]), interpolation=cv2.INTER_NEAREST
    )
    fixed_mask = to_sitk(r_mask_w, r_scale)
    moving_mask = to_sitk(p_mask_w, p_scale)

    initial = sitk.CenteredTransformInitializer(
        sitk.Cast(fixed_mask, sitk.sitkFloat32),
        sitk.Cast(moving_mask, sitk.sitkFloat32),
        sitk.AffineTransform(2),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    affine = sitk.AffineTransform(initial)
    reg = _method(sitk, settings, fixed_mask)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-4,
        numberOfIterations=settings.affine_iterations,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
    reg.SetInitialTransform(affine, inPlace=True)
    reg.Execute(fixed, moving)

    def field_of(transform: sitk.Transform) -> np.ndarray:
        disp = sitk.TransformToDisplacementField(
            transform,
            sitk.sitkVectorFloat64,
            fixed.GetSize(),
            fixed.GetOrigin(),
            fixed.GetSpacing(),
            fixed.GetDirection(),
        )
        arr = sitk.GetArrayFromImage(disp) / spacing_mm  # (h, w, [x, y]) in full-res px
        return np.ascontiguousarray(arr[..., ::-1]).astype(np.float32)

    affine_field = field_of(affine)
    final_field, method, fallback = affine_field, "affine", None
    if settings.nonrigid:
        final_field, method, fallback = _nonrigid(
            sitk, settings, fixed, moving, fixed_mask, affine, field_of, affine_field, r_mask_w
        )

    reg_result = Registration(
        recent_shape=(int(recent.shape[0]), int(recent.shape[1])),
        prior_shape=(int(prior.shape[0]), int(prior.shape[1])),
        spacing_mm=float(spacing_mm),
        field=final_field,
        affine_field=affine_field,
        method=method,
        fallback=fallback,
        prior_mirrored=prior_mirrored,
    )
    quality = quality_figures(reg_result, recent, file_prior, recent_mask, file_prior_mask)
    if method != "affine":
        glob = _with_field(reg_result, affine_field, "affine", None)
        g_quality = quality_figures(glob, recent, file_prior, recent_mask, file_prior_mask)
        quality["ncc_global"] = g_quality["ncc_after"]
        if quality["folding"]:
            reg_result, quality = glob, g_quality
            reg_result = _with_field(
                glob, affine_field, "affine", "the non-rigid fit folded the image over itself"
            )
            quality["ncc_global"] = g_quality["ncc_after"]
        elif float(quality["ncc_after"]) < float(g_quality["ncc_after"]) - 0.005:
            reason = (
                f"the non-rigid fit lowered the similarity to {quality['ncc_after']:.3f}, "
                f"from {g_quality['ncc_after']:.3f} with the global fit alone"
            )
            reg_result, quality = _with_field(glob, affine_field, "affine", reason), g_quality
            quality["ncc_global"] = g_quality["ncc_after"]
    else:
        quality["ncc_global"] = quality["ncc_after"]
    if reg_result.fallback is None and fallback is not None:
        reg_result = _with_field(reg_result, reg_result.field, reg_result.method, fallback)
    ident = as_filed_if_worse(reg_result, quality)
    if ident is not None:
        glob_ncc = quality["ncc_global"]
        reg_result = ident
        quality = quality_figures(ident, recent, file_prior, recent_mask, file_prior_mask)
        quality["ncc_global"] = glob_ncc
    note = reg_result.fallback_note()
    if note is not None:  # the result carries it, and every caller shows it: not a warning
        log.info("%s", note)
    seconds = time.perf_counter() - start
    return replace(reg_result, quality=quality, seconds=seconds)


def _with_field(
    reg: Registration, disp: np.ndarray, method: str, fallback: str | None
) -> Registration:
    return replace(reg, field=disp, method=method, fallback=fallback)


def _method(sitk, settings: RegistrationSettings, fixed_mask):
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(settings.sampling, settings.seed)
    reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    return reg


def _nonrigid(sitk, settings, fixed, moving, fixed_mask, affine, field_of, affine_field, mask_w):
    """The multi-level B-spline stage over the global one; (field, method, fallback reason).

    Each level is its own registration of a fresh B-spline on top of the transforms found
    so far (L-BFGS-B keeps its parameter count, so the levels cannot share one run; from the
    second level on, the prior is resampled through them first): level
    ``k`` has ``bspline_grid * 2**k`` control cells per side and runs on the images shrunk
    ``2**(levels - 1 - k)`` times (smoothed accordingly).
    """
    try:
        found = [affine]
        levels = settings.bspline_levels
        for k in range(levels):
            shrink = 2 ** (levels - 1 - k)
            # Its domain a pixel wider than the image each side: at the domain's edge the
            # displacement drops to nothing, which would fold the last row or column.
            bspline = sitk.BSplineTransformInitializer(
                sitk.ConstantPad(fixed, [1, 1], [1, 1]), [settings.bspline_grid * 2**k] * 2, order=3
            )
            # Coefficients bounded to 0.4 control spacings: a B-spline that moves no control
            # point further cannot fold (Choi & Lee 2000), so a finer level cannot either.
            extent = min(n * d for n, d in zip(fixed.GetSize(), fixed.GetSpacing(), strict=True))
            bound = 0.4 * extent / (settings.bspline_grid * 2**k)
            reg = _method(sitk, settings, fixed_mask)
            reg.SetOptimizerAsLBFGSB(
                gradientConvergenceTolerance=1e-5,
                numberOfIterations=settings.bspline_iterations,
                maximumNumberOfCorrections=5,
                maximumNumberOfFunctionEvaluations=2 * settings.bspline_iterations,
                lowerBound=-bound,
                upperBound=bound,
            )
            reg.SetShrinkFactorsPerLevel([shrink])
            reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
            reg.SetSmoothingSigmasPerLevel([0.5 * (shrink - 1)])
            if k == 0:
                reg.SetMovingInitialTransform(affine)
                level_moving = moving
            else:
                # ITK cannot differentiate a B-spline in a moving initial transform: the prior
                # is resampled through what was found so far instead, on the recent grid.
                # Outside the prior: its edge repeated (black would pull the edge inwards).
                level_moving = sitk.Resample(
                    moving,
                    fixed,
                    sitk.CompositeTransform(found),
                    sitk.sitkLinear,
                    0.0,
                    moving.GetPixelID(),
                    True,
                )
            reg.SetInitialTransform(bspline, inPlace=True)
            reg.Execute(fixed, level_moving)
            found.append(bspline)
        disp = field_of(sitk.CompositeTransform(found))
    except RuntimeError as exc:  # SimpleITK reports every failure as RuntimeError
        return affine_field, "affine", f"the non-rigid fit failed: {str(exc).splitlines()[0]}"
    if not np.all(np.isfinite(disp)):
        return (
            affine_field,
            "affine",
            "the non-rigid fit gave no usable result (a non-finite field)",
        )
    return disp, "affine+bspline", None
