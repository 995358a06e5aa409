"""Batch inference on Ray agrees with the local process pool, row for row.

The one Ray module of the suite: a local Ray instance (``ray.init(num_cpus=2)``) is
started once for the module. Both engines run two workers (two processes, two actors),
each with one TensorFlow thread, over the same four images (one of them corrupt).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcalc.batch import BatchSettings, read_results, run_batch
from tests.batch_fixtures import batch_data_fixture  # noqa: F401
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

#: What must agree exactly between engines (besides the score, compared below).
SAME = ["image_key", "case_id", "view", "timepoint", "predicted", "class_scores",
        "top_regions", "detections", "n_clusters", "patches", "model_key", "settings_key",
        "error_kind", "error"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
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
