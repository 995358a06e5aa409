"""How long a batch run will take, before it is launched, from the speed earlier runs measured.

A run folder's ``progress.json`` records the images per second its launches measured (model
loading included), one speed per explanation method. The estimate of a new launch is the
images it will analyse divided by the speed of the newest run that is most like it: the same
model with the same explanation, else another model of the same architecture with the same
explanation, else the same model, else another of its architecture, with another explanation
(an explanation can make a run several times slower: the estimate then says so). Nothing is
run to estimate; with no such run there is no estimate, and the caller says so.

Example:
    >>> est = RunEstimate(48, 0.06, "vgg16-a--demo-1", "vgg16-a", True, "local", 2, None)
    >>> est.text()  # doctest: +NORMALIZE_WHITESPACE
    'About 13 min for 48 images at 0.06 images/s, the speed run `vgg16-a--demo-1` of this
    model measured here (local engine, 2 workers, no explanation).'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mcalc.batch import read_results
from mcalc.batch.table import launch_counts
from mcalc.explain.methods import method_name
from mcalc.jobs.batch import BatchJob, BatchOptions
from mcalc.plural import counted
from mcalc.progress import format_duration

__all__ = ["RunEstimate", "estimate_run", "resume_counts", "SLOW_S"]

#: A run estimated to take longer than this is worth a warning before launch.
SLOW_S = 300.0


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
            explanation (``None``: none) when it measured the speed.
        done: images of the launch already done (a launch resumes: they are skipped).
        failed: images whose row has an error (a launch tries them again).
        wanted_cam: the launch's explanation (``None``: none).
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
    failed: int = 0
    wanted_cam: str | None = None

    @property
    def left(self) -> int:
        """The images the launch will analyse (failed ones included)."""
        return max(0, self.images - self.done)

    @property
    def other_method(self) -> bool:
        """Whether the speed was measured with another explanation than the launch's."""
        return (self.cam or None) != (self.wanted_cam or None)

    @property
    def seconds(self) -> float:
        return self.left / self.images_per_s

    @property
    def slow(self) -> bool:
        return self.seconds > SLOW_S

    def text(self) -> str:
        """The estimate in one sentence, with where its speed was measured."""
        whose = "this model" if self.same_model else f"`{self.model}` (same architecture)"
        workers = (
            "default workers"
            if not self.workers
            else ("1 worker" if self.workers == 1 else f"{self.workers} workers")
        )
        cam = f"{method_name(self.cam)} explanations" if self.cam else "no explanation"
        if self.left == 0:
            every = "The 1 image is" if self.images == 1 else f"All {self.images} images are"
            return f"{every} done with these settings: a launch resumes and analyses none."
        count = counted(self.images, "image")
        if self.done or self.failed:
            skipped = [f"{self.done} done are skipped"] if self.done else []
            if self.failed:
                skipped.append(
                    f"{self.failed} failed and will be tried again"
                    if self.failed > 1
                    else "1 failed and will be tried again"
                )
            left = "the 1 image left" if self.left == 1 else f"the {self.left} images left"
            count = f"{left} of {self.images} ({'; '.join(skipped)})"
        text = (
            f"About {format_duration(self.seconds)} for {count} at "
            f"{self.images_per_s:.2g} images/s, the speed run `{self.run}` of {whose} measured "
            f"here ({self.engine} engine, {workers}, {cam})."
        )
        if not self.other_method:
            return text
        if self.wanted_cam:
            return text[:-1] + (
                f": no run with {method_name(self.wanted_cam)} explanations has measured its "
                "speed here yet, and an explanation can make a run several times slower."
            )
        return text[:-1] + (
            ": no run without explanations has measured its speed here yet, and one "
            "without can be several times faster."
        )


def resume_counts(folder: str | Path, model_key: str, options: BatchOptions) -> tuple[int, int]:
    """``(done, failed)`` images of a launch of ``options`` into the run folder ``folder``
    by the model file ``model_key`` (:func:`mcalc.explain.results.model_key`): those it
    skips, and those it tries again (:func:`mcalc.batch.table.launch_counts`)."""
    return launch_counts(read_results(folder), model_key, options.cam, options.maps)


def estimate_run(
    model_id: str,
    images: int,
    jobs: Iterable[BatchJob],
    *,
    cam: str | None = None,
    architectures: Mapping[str, str] | None = None,
    done: int = 0,
    failed: int = 0,
) -> RunEstimate | None:
    """The expected duration of a launch of ``model_id`` over ``images`` images.

    Args:
        model_id: the model to launch.
        images: how many images the launch goes over.
        jobs: the batch runs so far (:func:`mcalc.jobs.batch.list_batch_jobs`, newest first).
        cam: the launch's explanation method (``None``: none); a speed measured with the
            same one is preferred, by the same model, else another of its architecture.
        architectures: model id -> architecture, to fall back on a run of another model of
            the same architecture; ``None``: the same model only.
        done: images already done with these settings (skipped by the launch).
        failed: images whose row has an error (tried again by the launch).

    Returns:
        ``None`` when no run has measured a speed that applies.
    """
    arch = (architectures or {}).get(model_id)
    ranked: list[tuple[tuple[int, int], BatchJob, str, dict]] = []
    for order, job in enumerate(jobs):
        if job.model_id == model_id:
            same = 0
        elif arch is not None and (architectures or {}).get(job.model_id) == arch:
            same = 1
        else:
            continue
        for method, speed in job.speeds().items():
            # The explanation first: it can make a run several times slower.
            rank = same + (0 if method == (cam or "") else 2)
            ranked.append(((rank, order), job, method, speed))
    if not ranked or images <= 0:
        return None
    _, job, method, speed = min(ranked, key=lambda r: r[0])
    return RunEstimate(
        images=images,
        images_per_s=float(speed["images_per_s"]),
        run=job.name,
        model=job.model_id,
        same_model=job.model_id == model_id,
        engine=str(speed.get("engine") or job.options.engine),
        workers=speed.get("workers"),
        cam=method or None,
        done=min(max(0, done), images),
        failed=max(0, failed),
        wanted_cam=cam,
    )
