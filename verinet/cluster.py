"""Dask distributed, for the work that can spread over a cluster (the optional ``dask``
extra): the module, a client with one clear line when the scheduler cannot be reached,
and a local cluster of worker processes."""

from __future__ import annotations

from typing import Any

from .errors import InputError

__all__ = ["distributed", "connect", "local_cluster", "check_scheduler"]


def distributed() -> Any:
    """The ``distributed`` module, or an error saying how to install it."""
    try:
        import distributed as dd
    except ImportError:
        raise InputError("the Dask executor needs Dask distributed: pip install "
                         "'verinet[dask]'") from None
    return dd


def _unreachable(where: str, e: Exception) -> InputError:
    return InputError(f"--scheduler {where}: cannot reach the Dask scheduler ({e}); check "
                      "the address (tcp://HOST:PORT) and that the scheduler runs")


def connect(address: Any, timeout: str, where: str) -> Any:
    """A Dask client of ``address`` (a scheduler address or a cluster)."""
    try:
        return distributed().Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise _unreachable(where, e) from None


def local_cluster(workers: int) -> Any:
    """A Dask cluster of ``workers`` one-thread processes on 127.0.0.1, no dashboard."""
    try:
        return distributed().LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                          processes=True, host="127.0.0.1",
                                          dashboard_address=None)
    except (OSError, TimeoutError, ValueError) as e:
        raise _unreachable("a local cluster", e) from None


def check_scheduler(scheduler: str) -> None:
    """Fail fast (within a few seconds) when the Dask scheduler cannot be reached."""
    connect(scheduler, "5s", scheduler).close()
