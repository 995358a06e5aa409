"""The patch scores of one evaluation, and the image and case scores built from them.

An evaluation scores patches. :class:`EvalScores` keeps, for every patch, its true class,
the model's class probabilities, its image and its case and patient; from them it builds
three levels (:data:`LEVELS`):

- ``patch``: every patch on its own;
- ``image``: one answer per mammogram, the **max over the image's sampled patches**;
- ``case``: one answer per case (a breast's prior and recent CC and MLO views), the **max
  over its images** (so over all its sampled patches).

A group (image, case) is positive when any of its patches is; its score is the maximum of
its patches' scores (:func:`mcalc.models.curves.group_scores`): the most suspicious patch
decides, as a reader reports the worst finding. This is not the map score Predict shows for
a whole mammogram (the highest value of the sliding window's dense map in the breast,
:mod:`mcalc.explain.scoring`). For the class-wise metrics of the 3-class ``birads`` task
the class probabilities are *averaged* over the group and the argmax is the group's class;
the true class of a group is the most frequent one of its patches.

Caveat: patches are sampled where the annotations are (calcification patches) and from
tissue, not by sliding a window over the whole mammogram, so image- and case-level numbers
say how well the model tells sampled lesion patches from tissue; they are not a detection
study.

Example:
    >>> import numpy as np
    >>> s = EvalScores(("no", "yes"), ("yes",), np.array([0, 1, 0, 0]),
    ...     np.array([[.9, .1], [.3, .7], [.8, .2], [.6, .4]]),
    ...     np.array(["a", "a", "b", "b"]), np.array(["a", "a", "b", "b"]),
    ...     np.array(["a/CC", "a/CC", "b/CC", "b/MLO"]))
    >>> s.binary("image").y.tolist(), s.binary("image").score.tolist()
    ([1, 0, 0], [0.7, 0.2, 0.4])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mcalc.models.curves import group_scores

__all__ = ["LEVELS", "GROUP_RULE", "LEVEL_RULES", "positive_rule", "EvalScores", "LevelScores"]

#: Levels at which an evaluation can be analysed.
LEVELS: tuple[str, ...] = ("patch", "image", "case")
#: How patch scores become image and case scores (:func:`mcalc.models.curves.group_scores`).
GROUP_RULE = "max"
#: What each level's score is, in words (captions, tables, the CLI's JSON).
LEVEL_RULES: dict[str, str] = {
    "patch": "the patch's own score",
    "image": "max over sampled patches",
    "case": "max over images",
}


def positive_rule(level: str) -> str:
    """When an image or a case is positive, in words, its article chosen by the word
    (the classification tab read "an case").

    Example:
        >>> positive_rule("image"), positive_rule("case")
        ('an image is positive when any of its patches is', 'a case is positive when any of its patches is')

    Raises:
        ValueError: not ``image`` or ``case`` (a patch is positive by its own label).
    """
    if level not in ("image", "case"):
        raise ValueError(f"expected the image or case level, got {level!r}")
    article = "an" if level[0] in "aeiou" else "a"
    return f"{article} {level} is positive when any of its patches is"


@dataclass(frozen=True)
class LevelScores:
    """Binary truth and score per item of one level, with each item's patient.

    Attributes:
        ids: item ids (patch index, image key or case id).
        y: 0/1 truth.
        score: probability of the positive classes (per :data:`GROUP_RULE`).
        patients: the patient of each item (the bootstrap's clusters).
    """

    ids: np.ndarray
    y: np.ndarray
    score: np.ndarray
    patients: np.ndarray


@dataclass
class EvalScores:
    """Per-patch truth and probabilities of one evaluation.

    Attributes:
        classes: class names, in the model's output order.
        positive: classes counted as positive by the binary view.
        y: true class index of each patch, ``(N,)``.
        proba: class probabilities, ``(N, C)``.
        case_ids, patient_ids, image_keys: where each patch comes from, ``(N,)``.
    """

    classes: tuple[str, ...]
    positive: tuple[str, ...]
    y: np.ndarray
    proba: np.ndarray
    case_ids: np.ndarray
    patient_ids: np.ndarray
    image_keys: np.ndarray

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.positive = tuple(self.positive)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.proba = np.asarray(self.proba, dtype=np.float64)
        self.case_ids = np.asarray(self.case_ids, dtype=str)
        self.patient_ids = np.asarray(self.patient_ids, dtype=str)
        self.image_keys = np.asarray(self.image_keys, dtype=str)
        n, c = len(self.y), len(self.classes)
        if self.proba.shape != (n, c):
            raise ValueError(f"expected probabilities of shape ({n}, {c}), got {self.proba.shape}")
        for name in ("case_ids", "patient_ids", "image_keys"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"expected {n} {name}, got {getattr(self, name).shape}")
        unknown = [p for p in self.positive if p not in self.classes]
        if unknown or not self.positive:
            raise ValueError(f"positive classes {list(self.positive)} not in {list(self.classes)}")
        if n and (self.y.min() < 0 or self.y.max() >= c):
            raise ValueError(
                f"class indices must lie in [0, {c}), got {self.y.min()}..{self.y.max()}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def positive_label(self) -> str:
        """The binary view's name, e.g. ``calcification`` or ``suspicious``."""
        return " + ".join(self.positive)

    def _binary_patches(self) -> tuple[np.ndarray, np.ndarray]:
        idx = [self.classes.index(p) for p in self.positive]
        return np.isin(self.y, idx).astype(int), self.proba[:, idx].sum(axis=1)

    def _groups(self, level: str) -> np.ndarray:
        if level == "patch":
            return np.arange(len(self.y)).astype(str)
        if level == "image":
            return self.image_keys
        if level == "case":
            return self.case_ids
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")

    def binary(self, level: str) -> LevelScores:
        """Binary truth and score per patch, image or case.

        Raises:
            ValueError: unknown level.
        """
        y, score = self._binary_patches()
        if level == "patch":
            return LevelScores(np.arange(len(y)), y, score, self.patient_ids)
        groups = self._groups(level)
        ids, yg, sg = group_scores(y, score, groups, GROUP_RULE)
        first = {g: p for g, p in zip(groups[::-1], self.patient_ids[::-1], strict=True)}
        return LevelScores(ids, yg, sg, np.array([first[i] for i in ids], dtype=str))

    def multiclass(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        """True class and class probabilities per item of a level (mean over patches).

        Raises:
            ValueError: unknown level.
        """
        if level == "patch":
            return self.y, self.proba
        groups = self._groups(level)
        ids, inverse = np.unique(groups, return_inverse=True)
        counts = np.bincount(inverse).astype(np.float64)
        proba = (
            np.stack(
                [
                    np.bincount(inverse, weights=self.proba[:, k], minlength=len(ids))
                    for k in range(len(self.classes))
                ],
                axis=1,
            )
            / counts[:, None]
        )
        votes = np.zeros((len(ids), len(self.classes)), np.int64)
        np.add.at(votes, (inverse, self.y), 1)
        return votes.argmax(axis=1), proba

    def _subset(self, keep: np.ndarray) -> EvalScores:
        """The patches where ``keep`` is true (order kept)."""
        return EvalScores(
            self.classes,
            self.positive,
            self.y[keep],
            self.proba[keep],
            self.case_ids[keep],
            self.patient_ids[keep],
            self.image_keys[keep],
        )

    def of_images(self, keys: set[str] | frozenset[str]) -> EvalScores:
        """The patches of the images ``keys`` only (order kept)."""
        keep = np.isin(self.image_keys, sorted(keys))
        return self._subset(keep)

    def of_case_classes(self, classes: tuple[str, ...]) -> EvalScores:
        """The patches of the cases whose true class (the most frequent one of the case's
        patches, as :meth:`multiclass` decides it) is one of ``classes`` (order kept).

        Raises:
            ValueError: a class the model does not have.
        """
        unknown = [c for c in classes if c not in self.classes]
        if unknown:
            raise ValueError(f"classes {unknown} not in the model's {list(self.classes)}")
        ids = np.unique(self.case_ids)
        truth, _ = self.multiclass("case")
        wanted = [self.classes.index(c) for c in classes]
        keep = np.isin(self.case_ids, ids[np.isin(truth, wanted)])
        return self._subset(keep)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (probabilities rounded to 6 decimals)."""
        return {
            "classes": list(self.classes),
            "positive": list(self.positive),
            "y": self.y.tolist(),
            "proba": np.round(self.proba, 6).tolist(),
            "case_ids": self.case_ids.tolist(),
            "patient_ids": self.patient_ids.tolist(),
            "image_keys": self.image_keys.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalScores:
        """The inverse of :meth:`as_json`.

        Raises:
            ValueError: a field is missing or inconsistent.
        """
        try:
            n_classes = len(data["classes"])
            proba = np.asarray(data["proba"], dtype=np.float64).reshape(-1, n_classes)
            return cls(
                tuple(data["classes"]),
                tuple(data["positive"]),
                np.asarray(data["y"], dtype=np.int64),
                proba,
                np.asarray(data["case_ids"], dtype=str),
                np.asarray(data["patient_ids"], dtype=str),
                np.asarray(data["image_keys"], dtype=str),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"evaluation scores lack a field or have a bad one: {exc}") from exc
