"""Work spread over forked processes comes back whole, in order, whatever happens to a child; a
short-lived process keeps the memory it frees."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import pytest

import amlguard.forked as forked
from amlguard.forked import spread


def squares(numbers: Sequence[int]) -> list[tuple[int, int]]:
    return [(n, n * n) for n in numbers]


def pids(numbers: Sequence[int]) -> list[int]:
    return [os.getpid()] * len(numbers)


@pytest.mark.parametrize(("count", "workers", "extra"), [(1000, 2, 0.0), (1001, 3, 0.5), (1000, 8, 0.16)])
def test_every_share_comes_back_in_order(count: int, workers: int, extra: float) -> None:
    shares = spread(squares, range(count), workers, minimum=10, extra=extra)
    assert len(shares) == workers
    assert [item for share in shares for item in share] == squares(range(count))
    # children take less by `extra`: this process's share, the last, is the largest
    assert len(shares[-1]) >= max(len(share) for share in shares)


def test_children_do_the_first_shares_and_this_process_the_last() -> None:
    shares = spread(pids, range(900), 3, minimum=10)
    assert shares[-1] == [os.getpid()] * 300
    assert all(len(set(share)) == 1 and share[0] != os.getpid() for share in shares[:-1])
    assert shares[0][0] != shares[1][0]


def test_below_the_minimum_or_with_one_worker_the_work_is_done_here_whole() -> None:
    assert spread(pids, range(50), 4, minimum=100) == [[os.getpid()] * 50]
    assert spread(pids, range(500), 1, minimum=100) == [[os.getpid()] * 500]


def test_what_a_child_sends_is_turned_back_by_receive() -> None:
    shares = spread(squares, range(400), 2, minimum=10,
                    send=lambda result: [b for _, b in result], receive=lambda sent: [(-1, b) for b in sent])
    assert shares[0] == [(-1, n * n) for n in range(200)]  # a child's share, sent and received
    assert shares[1] == squares(range(200, 400))  # this process's own share, as work gave it


@pytest.mark.parametrize("failure", ["no fork", "no pipe", "child fails", "child dies"])
def test_a_failed_child_leaves_its_share_to_this_process(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    if failure == "no fork":
        monkeypatch.setattr(forked.os, "fork", broken)
    elif failure == "no pipe":
        monkeypatch.setattr(forked.os, "pipe", broken)
    elif failure == "child fails":  # the child inherits the patch: it fails before sending anything
        monkeypatch.setattr(forked.pickle, "dumps", broken)

    def work(numbers: Sequence[int]) -> list[int]:
        if failure == "child dies" and os.getpid() != parent:
            os._exit(3)
        return pids(numbers)

    parent = os.getpid()
    shares = spread(work, range(600), 3, minimum=10)
    assert shares == [[parent] * 200] * 3


def test_when_this_process_fails_no_child_is_left_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            started.append(pid)
        return pid

    def work(numbers: Sequence[int]) -> list[int]:
        if os.getpid() == parent:
            raise RuntimeError("this share failed")
        return list(numbers) * 1000  # more than a pipe holds: the child waits for a reader

    monkeypatch.setattr(forked.os, "fork", recorded)
    parent = os.getpid()
    with pytest.raises(RuntimeError, match="this share failed"):
        spread(work, range(3000), 3, minimum=10)
    assert len(started) == 2
    for pid in started:  # each was reaped: no such child any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


_REFAULTS = """
import resource, sys
from amlguard.forked import keep_freed_memory
mode, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "defaults":
    keep_freed_memory()
elif mode == "every size":
    keep_freed_memory(1 << 30, 1 << 30)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # take `count` blocks of `size` bytes, then give them all back
    blocks = [bytearray(size) for _ in range(count)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_up_to_the_block_size_asked() -> None:
    def faults(mode: str, size: int, count: int) -> int:
        out = subprocess.run([sys.executable, "-c", _REFAULTS, mode, str(size), str(count)], check=True,
                             capture_output=True, text=True)
        return int(out.stdout)

    one_round = 40 * 256  # pages in 40 blocks of 1 MiB
    # glibc by default hands most of 40 MiB back after each round and faults it in again
    assert faults("glibc", 1 << 20, 40) > 10 * one_round
    assert faults("defaults", 1 << 20, 40) < 2 * one_round
    # a block above the limit is still handed back: a large input leaves no heap behind
    assert faults("defaults", 48 << 20, 1) > 10 * 12_288
    assert faults("every size", 48 << 20, 1) < 2 * 12_288
