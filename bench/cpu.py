"""CPU seconds used by each process of a run: the workers, PostgreSQL, the broker, the bench."""

from __future__ import annotations

import os

import psutil

Snapshot = dict[str, dict[int, float]]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def snapshot(groups: dict[str, list[int]], trees: frozenset[str] = frozenset()) -> Snapshot:
    """User + system CPU seconds of every process of each group; a group named in `trees`
    counts its processes' children too (PostgreSQL's backends)."""
    out: Snapshot = {}
    for name, pids in groups.items():
        seen: dict[int, float] = {}
        for pid in pids:
            for proc in _tree(pid) if name in trees else _tree(pid)[:1]:
                try:
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                seen[proc.pid] = times.user + times.system
        out[name] = seen
    return out


def used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (processes started meanwhile count
    whole; ones that ended meanwhile are lost, so take `after` while everything still runs)."""
    return {
        name: round(sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in pids.items()), 2)
        for name, pids in after.items()
    }


def bench_pid() -> int:
    """This process (the producer and the harness)."""
    return os.getpid()
