"""Models: architectures, freeze strategies, patches, training, registry and inference.

Importing this package is cheap: TensorFlow is imported only by the modules that need it
(``training``, ``data`` functions, ``architectures.build_model``), never by the registry
listing. Import the submodules you need, e.g. ``from mcalc.models.registry import list_models``.
"""

from mcalc.models.architectures import ARCHITECTURES
from mcalc.models.freeze import STRATEGIES
from mcalc.models.tasks import TASKS

__all__ = ["ARCHITECTURES", "STRATEGIES", "TASKS"]
