"""Reaching the Ray cluster that ``--address`` names, before Ray is asked to join it.

``ray.init(address="host:6379")`` on an address where nothing listens does not fail: it
retries for minutes, printing ``Failed to connect to GCS`` lines (measured: a run given
``127.0.0.1:1`` was still waiting after 90 s). One TCP connection, with a short timeout,
tells at once whether anything is there.

:func:`init_ray` starts or joins Ray for mcalc's engines with Ray's coming default for
workers that ask for no GPU chosen now (no ``FutureWarning`` at start), and
:data:`NO_GPU_ENV` keeps such workers off the GPUs as Ray's old default did.

Example:
    >>> unreachable_ray_address("auto") is None  # Ray finds a local cluster itself
    True
"""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["unreachable_ray_address", "init_ray", "ACCEL_OVERRIDE_ENV", "NO_GPU_ENV"]

#: Ray 2.52's switch for tasks and actors that ask for no GPU: ``1`` (its default, to go in
#: a later version: ray-project/ray#62492) sets their ``CUDA_VISIBLE_DEVICES`` to ``""``
#: and warns at every ``ray.init`` ("FutureWarning: Tip: In future versions of Ray, Ray
#: will no longer override accelerator visible devices env var if num_gpus=0 ... set
#: RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=0"); ``0`` leaves their environment as it is.
ACCEL_OVERRIDE_ENV = "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO"

#: The runtime environment's variables of a Ray task or actor of mcalc that asks for no
#: GPU: no CUDA device for its TensorFlow, what Ray's override gave it (whatever the
#: cluster's setting of :data:`ACCEL_OVERRIDE_ENV`).
NO_GPU_ENV: dict[str, str] = {"CUDA_VISIBLE_DEVICES": ""}


def init_ray(**kwargs: Any) -> None:
    """``ray.init(**kwargs)`` with :data:`ACCEL_OVERRIDE_ENV` set to ``0`` in this process
    unless the user has set it: no ``FutureWarning`` at start, and a local instance (its
    workers inherit this environment) already behaves as later Ray versions will. Tasks
    and actors that ask for no GPU hide the GPUs themselves (:data:`NO_GPU_ENV`), so they
    see the devices they saw before. On a cluster started elsewhere the workers follow
    that cluster's setting; the same then holds.

    Raises:
        ConnectionError, RuntimeError, ValueError: as ``ray.init`` raises them.
    """
    os.environ.setdefault(ACCEL_OVERRIDE_ENV, "0")
    import ray

    ray.init(**kwargs)


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; ``None`` for anything else
    (``auto``, ``local``, a bare host), which is left to Ray."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def unreachable_ray_address(address: str | None, timeout_s: float = 5.0) -> str | None:
    """Why nothing answers at ``address`` (``host:port`` or ``ray://host:port``), or ``None``
    when something accepts a connection there, or the address is not of that form.

    The message names the address and what to do; callers raise it as their own error.
    """
    if not address:
        return None
    where = _host_port(address)
    if where is None:
        return None
    try:
        with socket.create_connection(where, timeout=timeout_s):
            return None
    except OSError as exc:
        reason = (
            f"no answer within {timeout_s:g} s"
            if isinstance(exc, TimeoutError)
            else (exc.strerror or str(exc)).lower()
        )
        return (
            f"nothing answers at the Ray cluster address {address} ({reason}): start the cluster there (`ray start --head` on the head node, "
            "`ray status` shows its address), check --address, or leave it out to start a "
            "local Ray instance"
        )
