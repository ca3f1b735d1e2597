"""Work side by side on a few threads, where the heavy steps release the GIL.

Arrow's CSV reader and compute kernels, and most numpy kernels, release the
GIL while they run, so a few threads use the machine's cores for them;
Python code between them runs one thread at a time. :func:`thread_map` is
the one place that decides how many threads: the cores this process may
use, at most :data:`MOST`, or ``REPKPI_THREADS`` when it is set (``1``: no
threads at all).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from repkpi.errors import OptionError

__all__ = ["MOST", "thread_count", "thread_map"]

MOST = 4
"""The most threads used by default: more would hold more raw tables in memory at once."""

T = TypeVar("T")
R = TypeVar("R")


def thread_count() -> int:
    """How many threads :func:`thread_map` uses: ``REPKPI_THREADS``, else the usable cores up to :data:`MOST`.

    Raises
    ------
    OptionError
        ``REPKPI_THREADS`` is set to something other than a whole number of at least 1.

    Examples
    --------
    >>> thread_count() >= 1
    True
    """
    given = os.environ.get("REPKPI_THREADS", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise OptionError(f"REPKPI_THREADS must be a whole number of at least 1, got {given!r}.\n"
                             "Hint: REPKPI_THREADS=1 runs everything on one thread.")
        return int(given)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MOST, cores or 1))


def thread_map(function: Callable[[T], R], items: Iterable[T], *,
               threads: int | None = None) -> list[R]:
    """``[function(item) for item in items]``, computed on up to ``threads`` threads.

    The results are in the order of ``items``. When a call raises, the
    first failing item's exception (in that order) is raised, as the loop
    would raise it, and the calls not started yet are cancelled.

    Parameters
    ----------
    function : callable
        Called once per item; it must be safe to call from several threads.
    items : iterable
    threads : int, optional
        Default :func:`thread_count`; 1 runs the loop on this thread.

    Examples
    --------
    >>> thread_map(len, ["a", "bb", "ccc"], threads=2)
    [1, 2, 3]
    """
    items = list(items)
    threads = thread_count() if threads is None else threads
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="repkpi")
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
