"""What was submitted for each cell: a small JSON file per cell under the experiment's jobs folder
(``runs/<name>/jobs/cells/<cell>.json``: job id, log files, time), and a lock that one submitting
``bench sweep`` holds, so that two of them never submit the same cell."""
from __future__ import annotations

import fcntl
import json
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from bench.errors import UserError


@dataclass(frozen=True)
class JobRecord:
    """One submission of a cell: the scheduler's job id and where its output goes."""

    job_id: str
    stdout: str
    stderr: str
    submitted: str


def cell_file_name(label: str) -> str:
    """A file name for a cell label (``fomm/vox/default seed=0/train`` -> ``fomm.vox.default.seed0.train``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", ".", label.replace("=", "")).strip(".")


class Records:
    """The job records of one experiment, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, label: str) -> Path:
        return self.folder / "cells" / f"{cell_file_name(label)}.json"

    def get(self, label: str) -> JobRecord | None:
        path = self._path(label)
        if not path.is_file():
            return None
        try:
            return JobRecord(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None  # a torn or foreign file: as if nothing had been submitted

    def put(self, label: str, record: JobRecord) -> None:
        path = self._path(label)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), indent=1))
        tmp.replace(path)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held while a sweep decides what to submit and submits it (another one waits up to a minute)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("w") as handle:
            deadline = time.monotonic() + 60
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UserError(f"another bench sweep holds {self.folder / '.lock'} (submitting this "
                                        "experiment); try again when it is done") from None
                    time.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
