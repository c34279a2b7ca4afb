"""One runner for the per-video jobs of dataset preparation and detection: in this process or a spawn pool.

``bench datasets prepare`` cuts one source video per job and ``--detect`` tracks one per job; both
run their jobs here, report problems one line each (above a progress bar on stderr) and end with a
one-line summary (:func:`summary_line`).
"""
from __future__ import annotations

import multiprocessing
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

P = TypeVar("P")
R = TypeVar("R")


def run_jobs(job: Callable[[P], R], payloads: Sequence[P], workers: int) -> Iterator[R]:
    """``job(payload)`` for each payload: in this process when ``workers`` is 1 or there is at most one
    payload, else in ``min(workers, len(payloads))`` spawned processes (results in completion order;
    ``job`` and the payloads must be picklable)."""
    if workers == 1 or len(payloads) <= 1:
        for payload in payloads:
            yield job(payload)
        return
    with multiprocessing.get_context("spawn").Pool(min(workers, len(payloads))) as pool:
        yield from pool.imap_unordered(job, payloads)
        pool.close()
        pool.join()


def progress_bar(total: int, unit: str, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr (hidden unless ``enabled``)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not enabled, file=sys.stderr)


def echo_lines(echo: Callable[[str], None] | None) -> Callable[[str], None]:
    """``echo``, or printing above the progress bar."""
    from tqdm import tqdm

    return echo or (lambda line: tqdm.write(line))


def summary_line(head: str, notes: Iterable[tuple[int, str]]) -> str:
    """``head`` followed by ``; <count> <what>`` for each note with a non-zero count."""
    return head + "".join(f"; {count} {what}" for count, what in notes if count)
