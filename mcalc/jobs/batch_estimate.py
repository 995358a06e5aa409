"""How long a batch run will take, before it is launched, from the speed earlier runs measured.

A run's ``progress.json`` records the images per second its launch measured (model loading
included). The estimate of a new launch is the number of images divided by the speed of the
newest run that is most like it: the same model with the same explanation setting, else the
same model, else another model of the same architecture. Nothing is run to estimate; with
no such run there is no estimate, and the caller says so.

Example:
    >>> est = RunEstimate(48, 0.06, "vgg16-a--demo-1", "vgg16-a", True, "local", 2, None)
    >>> est.text()  # doctest: +NORMALIZE_WHITESPACE
    'About 13 min for 48 images at 0.06 images/s, the speed run `vgg16-a--demo-1` of this
    model measured here (local engine, 2 workers, no explanation).'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mcalc.jobs.batch import BatchJob

__all__ = ["RunEstimate", "estimate_run", "format_duration", "SLOW_S"]

#: A run estimated to take longer than this is worth a warning before launch.
SLOW_S = 300.0


def format_duration(seconds: float) -> str:
    """``45 s``, ``13 min``, ``2 h 05 min``.

    Example:
        >>> format_duration(800), format_duration(7500), format_duration(12)
        ('13 min', '2 h 05 min', '12 s')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class RunEstimate:
    """A launch's expected duration and the measured run it comes from.

    Attributes:
        images: images the launch will go over.
        images_per_s: the speed the earlier run measured.
        run: that run's name; model: its model.
        same_model: whether that run was of the model to launch (else of another model of
            the same architecture).
        engine, workers, cam: that run's engine, workers (``None``: the default) and
            explanation (``None``: none).
        done: images of the launch already done (a launch resumes: they are skipped).
    """

    images: int
    images_per_s: float
    run: str
    model: str
    same_model: bool
    engine: str
    workers: int | None
    cam: str | None
    done: int = 0

    @property
    def left(self) -> int:
        """The images the launch will analyse."""
        return max(0, self.images - self.done)

    @property
    def seconds(self) -> float:
        return self.left / self.images_per_s

    @property
    def slow(self) -> bool:
        return self.seconds > SLOW_S

    def text(self) -> str:
        """The estimate in one sentence, with where its speed was measured."""
        whose = "this model" if self.same_model else f"`{self.model}` (same architecture)"
        workers = f"{self.workers} workers" if self.workers else "default workers"
        cam = f"{self.cam} explanations" if self.cam else "no explanation"
        if self.left == 0:
            return (
                f"All {self.images} images are done with these settings: a launch resumes "
                "and analyses none."
            )
        count = (
            f"the {self.left} images left of {self.images} ({self.done} done are skipped)"
            if self.done
            else f"{self.images} images"
        )
        return (
            f"About {format_duration(self.seconds)} for {count} at "
            f"{self.images_per_s:.2g} images/s, the speed run `{self.run}` of {whose} measured "
            f"here ({self.engine} engine, {workers}, {cam})."
        )


def estimate_run(
    model_id: str,
    images: int,
    jobs: Iterable[BatchJob],
    *,
    cam: str | None = None,
    architectures: Mapping[str, str] | None = None,
    done: int = 0,
) -> RunEstimate | None:
    """The expected duration of a launch of ``model_id`` over ``images`` images.

    Args:
        model_id: the model to launch.
        images: how many images the launch goes over.
        jobs: the batch runs so far (:func:`mcalc.jobs.batch.list_batch_jobs`, newest first).
        cam: the launch's explanation method (``None``: none); a run with the same one is
            preferred.
        architectures: model id -> architecture, to fall back on a run of another model of
            the same architecture; ``None``: the same model only.
        done: images already done with these settings (skipped by the launch).

    Returns:
        ``None`` when no run has measured a speed that applies.
    """
    arch = (architectures or {}).get(model_id)
    ranked: list[tuple[tuple[int, int], BatchJob, float]] = []
    for order, job in enumerate(jobs):
        rate = job.progress().get("images_per_s")
        if not isinstance(rate, int | float) or rate <= 0:
            continue
        if job.model_id == model_id:
            rank = 0 if job.options.cam == cam else 1
        elif arch is not None and (architectures or {}).get(job.model_id) == arch:
            rank = 2 if job.options.cam == cam else 3
        else:
            continue
        ranked.append(((rank, order), job, float(rate)))
    if not ranked or images <= 0:
        return None
    _, job, rate = min(ranked, key=lambda r: r[0])
    return RunEstimate(
        images=images,
        images_per_s=rate,
        run=job.name,
        model=job.model_id,
        same_model=job.model_id == model_id,
        engine=job.options.engine,
        workers=job.options.workers,
        cam=job.options.cam,
        done=min(max(0, done), images),
    )
