"""Reaching the Ray cluster that ``--address`` names, before Ray is asked to join it.

``ray.init(address="host:6379")`` on an address where nothing listens does not fail: it
retries for minutes, printing ``Failed to connect to GCS`` lines (measured: a run given
``127.0.0.1:1`` was still waiting after 90 s). One TCP connection, with a short timeout,
tells at once whether anything is there.

Example:
    >>> unreachable_ray_address("auto") is None  # Ray finds a local cluster itself
    True
"""

from __future__ import annotations

import socket

__all__ = ["unreachable_ray_address"]


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
