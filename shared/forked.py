"""Spread one step of a large audit over the machine's cores: the first shares of a list are
worked on in forked child processes while this process works on the last, and the results come
back in order. `amlguard audit` reads and evaluates this way; each step gives exactly what one
process gives. Rendering is not spread: after a fork, whichever process touches an object first
copies its page (reference counts are writes), and a renderer touches the whole report, so each
half took longer than the whole in one process.

Plain fork and a pipe: multiprocessing's pool costs more to start and stop (its threads and
queues) than reading a few hundred small files, and a forked child sees this process's values
(the pack, the settled resources, the report) without their being sent. Only a single-threaded,
short-lived process may fork (the CLI); a threaded server must not, and passes `workers=1`.

`keep_freed_memory` is for the same short-lived processes: glibc keeps what they free for reuse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["keep_freed_memory", "spread"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def spread(work: Callable[[Sequence[Item]], Result], items: Sequence[Item], workers: int, *, minimum: int,
           extra: float = 0.0, send: Callable[[Result], Any] | None = None,
           receive: Callable[[Any], Result] | None = None) -> list[Result]:
    """`work` on `items` cut into `workers` shares, one result per share in the order of `items`.

    Below `minimum` items (where a process costs more than it saves), with one worker, or where
    fork is unavailable, it is `[work(items)]`. A child's result is pickled back: `send` turns it
    into something cheaper to pickle (plain tuples, not objects) and `receive` turns that back
    here. `extra` is what that costs a child, as a fraction of working on its share: children
    take that much less, so that every process finishes at about the same moment. A child that
    fails, or could not start, has its share worked on here: the result is the same either way.
    """
    if workers < 2 or len(items) < minimum or not hasattr(os, "fork"):
        return [work(items)]
    size = int(len(items) / (workers + extra))
    shares = [items[n * size:(n + 1) * size] for n in range(workers - 1)]
    children = [_start(share, work, send) for share in shares]
    try:
        own = work(items[(workers - 1) * size:])
    except BaseException:  # no child is left behind, blocked on a pipe nobody reads
        for child in children:
            _abandon(child)
        raise
    results = []
    for share, child in zip(shares, children, strict=True):
        sent = _finish(child)
        results.append(work(share) if sent is _FAILED else receive(sent) if receive is not None else sent)
    return [*results, own]


_FAILED = object()


def _start(share: Sequence[Item], work: Callable[[Sequence[Item]], Result],
           send: Callable[[Result], Any] | None) -> tuple[int, int] | None:
    """A child process working on `share` and writing its pickled result to a pipe: (pid, read
    end), or None when no process could be started."""
    try:
        read_end, write_end = os.pipe()
    except OSError as exc:
        log.debug("no pipe for a child process (%s); working here", exc)
        return None
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        log.debug("no child process (%s); working here", exc)
        return None
    if pid:
        os.close(write_end)
        return pid, read_end
    status = 1
    try:  # the child: never returns into the caller, whatever happens
        os.close(read_end)
        result = work(share)
        # pickled whole before writing: pickling into the pipe would stall on the full pipe
        # until the parent reads, and so happen after the parent's own share, not beside it
        data = pickle.dumps(send(result) if send is not None else result, pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as stream:
            stream.write(data)
        status = 0
    finally:
        os._exit(status)


def _abandon(child: tuple[int, int] | None) -> None:
    if child is not None:
        pid, read_end = child
        os.close(read_end)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _finish(child: tuple[int, int] | None) -> Any:
    """What a child sent, or _FAILED."""
    if child is None:
        return _FAILED
    pid, read_end = child
    try:
        with os.fdopen(read_end, "rb") as stream:
            sent = pickle.load(stream)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        log.debug("a child process failed (%s); working on its share here", exc)
        sent = _FAILED
    _, status = os.waitpid(pid, 0)
    return sent if status == 0 else _FAILED


def keep_freed_memory(heap_blocks_up_to: int = 4 << 20, keep_up_to: int = 64 << 20) -> None:
    """Let glibc serve blocks up to `heap_blocks_up_to` bytes from its heap and keep up to
    `keep_up_to` bytes of freed heap for reuse, instead of mapping each block afresh and faulting
    it in again, a page fault per 4 KiB (Linux; elsewhere nothing changes). Larger blocks are still
    mapped and unmapped, so a large input does not leave a fragmented heap behind. One arena:
    threads would otherwise each fault in their own. Only for a short-lived command.

    - `amlguard audit` of files (the defaults): the files' bytes and the report's pieces; a quarter
      fewer page faults on 5,000 small files (~0.03 s). Serving every size from the heap cost the
      80,000-endpoint export 75 MB of peak memory, for no fewer faults.
    - `amlguard drift` (1 GiB, 1 GiB): each feature allocates arrays of (baseline + current)
      float64 and frees them right after; fresh mappings for each cost a quarter of a 500k-row
      run, and the threads' own arenas half its page faults and system time that varied
      0.35-1.1 s from run to run.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):  # another C library: its defaults stay
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, heap_blocks_up_to)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, keep_up_to)  # M_TRIM_THRESHOLD
        libc.mallopt(-8, 1)  # M_ARENA_MAX
