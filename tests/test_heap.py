"""The running bot's heap housekeeping (``bot.heap``)."""

from __future__ import annotations

import ctypes
import gc
import os
from typing import Any

import pytest

from bot import heap

GLIBC = bool(os.confstr("CS_GNU_LIBC_VERSION")) if hasattr(os, "confstr") else False


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_free_memory_inside_the_heap_is_given_back() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(64 * 1024) for _ in range(256)]  # below mmap's threshold: the heap
    for block in blocks[:-1]:
        libc.free(block)  # holes below the last block, which the heap's top keeps
    try:
        assert heap.release_free_memory()
    finally:
        libc.free(blocks[-1])


class _Queue:
    def __init__(self) -> None:
        self.jobs: list[tuple[Any, float, str]] = []

    def run_repeating(self, callback: Any, *, interval: float, first: float, name: str) -> None:
        self.jobs.append((callback, interval, name))


class _App:
    def __init__(self) -> None:
        self.post_init = None
        self.job_queue = _Queue()


async def test_the_started_bot_releases_free_memory_every_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released: list[bool] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: released.append(True) or True)
    app: Any = _App()
    heap.freeze_after_start(app)
    try:
        await app.post_init(app)
    finally:
        gc.unfreeze()  # a test process must not keep its garbage for good
    [(callback, interval, name)] = app.job_queue.jobs
    assert (interval, name) == (60.0, "release")
    await callback(None)
    assert released == [True]
