"""Ray engines give the local result: batch inference (row for row) and cross-validation
folds (the whole result).

The one Ray module of the suite: a local Ray instance (``ray.init(num_cpus=2)``) is
started once for the module and shared by both tests (a start costs several seconds). Batch:
both engines run two workers (two processes, two actors), each with one TensorFlow thread,
over the same four images (one of them corrupt). Cross-validation: two folds as parallel
Ray tasks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcalc.batch import BatchSettings, read_results, run_batch
from mcalc.config import REPO_ROOT
from tests.batch_fixtures import batch_data_fixture  # noqa: F401
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.models_fixtures import TINY, tiny_data_fixture  # noqa: F401

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

#: What must agree exactly between engines (besides the score, compared below).
SAME = ["image_key", "case_id", "view", "timepoint", "predicted", "class_scores",
        "top_regions", "detections", "n_clusters", "patches", "model_key", "settings_key",
        "error_kind", "error"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_session():
    # Workers import mcalc from this checkout (what crossval's own local start does).
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
    )
    yield
    ray.shutdown()


def test_ray_and_local_pool_give_the_same_table(
    ray_session, spot_registry, batch_data, tmp_path
) -> None:
    settings = BatchSettings()
    local = run_batch(
        "spot", batch_data, tmp_path / "local", settings, models_dir=spot_registry, workers=2
    )
    on_ray = run_batch(
        "spot",
        batch_data,
        tmp_path / "ray",
        settings,
        models_dir=spot_registry,
        engine="ray",
        workers=2,
    )
    assert ray.is_initialized()  # the caller's session is used and left running
    assert (local.analysed, local.failed) == (on_ray.analysed, on_ray.failed) == (4, 1)
    a, b = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert set(a["engine"]) == {"local"} and set(b["engine"]) == {"ray"}
    assert a[SAME].equals(b[SAME])
    # Same arithmetic (same patches, batches and thread count): the scores are expected to
    # be bit for bit equal; the tolerance only covers a different float summation order.
    np.testing.assert_allclose(a["score"], b["score"], rtol=0, atol=1e-9, equal_nan=True)
    assert json.loads(b.loc[0, "settings"]) == settings.as_dict()


def test_folds_on_ray_give_the_local_result(ray_session, tiny_data, tmp_path) -> None:
    """Two folds as parallel Ray tasks (a local instance of 2 CPUs) equal the local run."""
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig

    def run(engine: str) -> dict:
        config = TrainConfig(data=tiny_data, models_dir=tmp_path / engine, model_id="cv", **TINY)
        done: list[int] = []
        out = crossval(config, 2, n_boot=20, engine=engine, progress=lambda d, t, m: done.append(d))
        assert done == [1, 2] and out.pop("engine") == engine
        out.pop("seconds")
        out["config"].pop("models_dir")
        return out

    local = run("local")
    on_ray = run("ray")
    assert ray.is_initialized()  # the caller's session is used and left running
    assert on_ray == local
    assert [f["model_id"] for f in on_ray["folds"]] == ["cv-fold1of2", "cv-fold2of2"]
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["cv-fold1of2", "cv-fold2of2"]
