"""What a model answers: the one owner of tasks, their classes and their binary views.

A task names the classes a model outputs (in output order), the class an image's score is
about (:attr:`Task.positive_class`), and the binary problems (ROC views) scored beside the
full classification (``birads``: suspicious vs the rest). Every other module asks this one.

Example:
    >>> t = get_task("birads")
    >>> t.classes, t.positive_class, t.positives
    (('normal', 'benign', 'suspicious'), 'suspicious', ('suspicious',))
    >>> get_task("calcification").binary_views
    {}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mcalc.errors import ModelError

__all__ = [
    "Task",
    "TASKS",
    "TASK_NAMES",
    "get_task",
    "task_classes",
    "positives_for",
    "positive_class_for",
    "PAPERS_TASK",
    "PAPERS_TASK_TEXT",
    "PAPERS_TASK_CLASSES",
    "has_papers_task",
]


@dataclass(frozen=True)
class Task:
    """One task.

    Attributes:
        name: its name on the command line and in model cards.
        classes: class names, in the model's output order.
        positive_class: the class an image or case score is the probability of.
        binary_views: extra binary problems, name -> the classes counted positive.
        description: one line for users.
    """

    name: str
    classes: tuple[str, ...]
    positive_class: str
    binary_views: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    @property
    def positives(self) -> tuple[str, ...]:
        """The classes counted positive by the task's binary (ROC) view."""
        return positives_for(self.classes, self.binary_views)

    @property
    def positive_index(self) -> int:
        """Output column of :attr:`positive_class`."""
        return self.classes.index(self.positive_class)

    def binary_views_dict(self) -> dict[str, list[str]]:
        """:attr:`binary_views` as plain JSON values (for model cards)."""
        return {name: list(pos) for name, pos in self.binary_views.items()}


TASKS: dict[str, Task] = {
    "calcification": Task(
        "calcification",
        ("no-calcification", "calcification"),
        "calcification",
        description="does a patch hold a micro-calcification",
    ),
    "birads": Task(
        "birads",
        ("normal", "benign", "suspicious"),
        "suspicious",
        {"suspicious": ("suspicious",)},
        description="BI-RADS group of the case a patch comes from (1, 2, 4-5)",
    ),
}

#: Task names, in the order offered to users.
TASK_NAMES: tuple[str, ...] = tuple(TASKS)

#: The published work's task on this dataset (Loizidou et al. 2020 and 2021): benign vs
#: suspicious micro-calcifications per case, the normal (BI-RADS 1) cases left out. Its key
#: in results (``evaluate``'s BI-RADS sets, ``compare --cases``, cross-validation) and its name.
PAPERS_TASK = "benign_vs_suspicious"
PAPERS_TASK_TEXT = "benign vs suspicious, normal cases left out"
#: The classes of the cases it keeps, the positive one last.
PAPERS_TASK_CLASSES: tuple[str, ...] = ("benign", "suspicious")


def has_papers_task(classes: Sequence[str]) -> bool:
    """Whether a model with ``classes`` answers the papers' task (:data:`PAPERS_TASK`): its
    truth must be the case's BI-RADS group, as a ``birads`` model's is; a ``calcification``
    model's truth (a calcification in the patch) is another question.

    Example:
        >>> has_papers_task(task_classes("birads")), has_papers_task(task_classes("calcification"))
        (True, False)
    """
    return all(c in tuple(classes) for c in PAPERS_TASK_CLASSES)


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ModelError: the task is unknown (the message lists the known ones).
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown task {name!r}; expected one of: {', '.join(TASKS)}") from None


def task_classes(name: str) -> tuple[str, ...]:
    """The class names of task ``name``, in output order (see :func:`get_task`)."""
    return get_task(name).classes


def positives_for(
    classes: Sequence[str], binary_views: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, ...]:
    """The classes counted positive by the binary (ROC) view of a model with ``classes``.

    Two classes: the second. More: the first usable binary view (a model card's
    ``binary_views``), else ``suspicious`` when present.

    Raises:
        ValueError: more than two classes and no usable binary view.
    """
    classes = tuple(classes)
    if len(classes) == 2:
        return (classes[1],)
    for positives in (binary_views or {}).values():
        if positives and all(p in classes for p in positives):
            return tuple(positives)
    if "suspicious" in classes:
        return ("suspicious",)
    raise ValueError(
        f"no binary view of classes {list(classes)}: the card needs binary_views, "
        "e.g. {'suspicious': ['suspicious']}"
    )


def positive_class_for(classes: Sequence[str]) -> str:
    """The class a score is about for a model with ``classes``: its task's positive class.

    Classes of no known task (a foreign model): the last class.

    Raises:
        ValueError: no classes.
    """
    classes = tuple(classes)
    for task in TASKS.values():
        if classes == task.classes:
            return task.positive_class
    if not classes:
        raise ValueError("a model needs at least one class")
    return str(classes[-1])
