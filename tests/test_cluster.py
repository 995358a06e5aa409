"""A Ray cluster address where nothing listens is refused at once (Ray retries for minutes)."""

from __future__ import annotations

import socket
import time

import pytest

from mcalc.cluster import unreachable_ray_address
from tests.cli_fixtures import run_as_a_user


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def test_an_address_where_something_listens_or_that_ray_resolves_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert unreachable_ray_address(f"127.0.0.1:{port}") is None
        assert unreachable_ray_address(f"ray://127.0.0.1:{port}") is None
    for left_to_ray in (None, "", "auto", "local", "head-node"):
        assert unreachable_ray_address(left_to_ray) is None


def test_a_closed_port_is_a_message_with_what_to_do() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    problem = unreachable_ray_address(address, timeout_s=2)
    assert time.perf_counter() - t0 < 2.5
    assert (
        problem is not None and f"nothing answers at the Ray cluster address {address}" in problem
    )
    assert "ray start --head" in problem and "leave it out" in problem


def test_batch_and_crossval_refuse_it_before_any_work(tmp_path) -> None:
    from mcalc.batch.run import run_batch
    from mcalc.batch.settings import BatchError
    from mcalc.errors import ModelError
    from mcalc.models.crossval import crossval
    from mcalc.models.train_config import TrainConfig

    address = f"ray://127.0.0.1:{_closed_port()}"
    # Neither the model nor the data exists: the address is looked at first.
    with pytest.raises(BatchError, match="nothing answers at the Ray cluster address"):
        run_batch("none-such", tmp_path / "nope", tmp_path / "out", engine="ray", address=address)
    with pytest.raises(ModelError, match="nothing answers at the Ray cluster address"):
        crossval(TrainConfig(data=str(tmp_path / "nope")), 2, engine="ray", address=address)


def test_the_crossval_command_refuses_it_before_importing_tensorflow(tmp_path) -> None:
    """`crossval --engine ray --address <dead>` took about 8 s to refuse: TensorFlow was
    imported (quietly, up front) before the library looked at the address."""
    address = f"127.0.0.1:{_closed_port()}"
    proc = run_as_a_user(
        ["crossval", "--data", str(tmp_path), "--folds", "2", "--engine", "ray", "--address",
         address],
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"nothing answers at the Ray cluster address {address}" in proc.stderr
    assert proc.stdout.strip() == "tensorflow imported: False", proc.stdout
