"""The metadata CSV of AliaksandrSiarohin/video-preprocessing (``load_videos.py``): rows, chunks, names.

Columns ``video_id,start,end,bbox,fps,width,height,partition[,person_id]``; the rows of one
``video_id`` are cut from ``<videos>/<video_id before the first '#'>.mp4`` and, as
``load_videos.py`` does, that video's ``fps``, ``width``, ``height``, ``partition`` and
``person_id`` come from its *first* row. Every name that becomes part of a path (the source stem,
the chunk name) is checked to be one plain name (:func:`bench.files.safe_name`).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bench.datasets.video_io import SPLITS
from bench.errors import DataError
from bench.files import atomic_write, inside, safe_name

METADATA_COLUMNS = ("video_id", "start", "end", "bbox", "fps", "width", "height", "partition")
PERSON_COLUMN = "person_id"
PARTITIONS = SPLITS  # load_videos.py's partitions are the dataset layout's splits

_INT = re.compile(r"^\s*[+-]?\d+\s*$")
Number = int | float
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Chunk:
    """One row of the metadata: a time window and a crop of one source video."""

    video_id: str
    start: Number
    end: Number
    bbox: Box
    line: int
    name: str
    partition: str

    @property
    def relpath(self) -> str:
        return f"{self.partition}/{self.name}"

    def path(self, out: Path) -> Path:
        """``out/<partition>/<name>``, checked to lie inside ``out``."""
        return inside(out, out / self.partition / self.name, f"chunk of line {self.line}")


@dataclass(frozen=True)
class VideoJob:
    """All chunks of one ``video_id``, with the reference values of its first row (as ``load_videos.run``)."""

    video_id: str
    ref_fps: Number
    ref_width: Number
    ref_height: Number
    partition: str
    chunks: tuple[Chunk, ...]

    @property
    def source_stem(self) -> str:
        """``load_videos.run``: the file is ``video_id.split('#')[0] + '.mp4'``."""
        return self.video_id.split("#")[0]


def chunk_name(video_id: str, start_text: str, end_text: str, person_id: str | None) -> str:
    """The output name of ``load_videos.run``: ``person_id + '#'`` (when the CSV has that column),
    then ``'#'.join(video_id.split('#')[::-1])``, then ``'#' + str(start).zfill(6) + '#' +
    str(end).zfill(6) + '.mp4'`` (also the folder name with ``--format png``)."""
    first = (f"{person_id}#" if person_id is not None else "") + "#".join(video_id.split("#")[::-1])
    return f"{first}#{start_text.zfill(6)}#{end_text.zfill(6)}.mp4"


def _column_numbers(path: Path, rows: list[dict[str, str]], column: str, lines: list[int]) -> list[Number]:
    """The values of ``column`` typed as pandas.read_csv types them: all integers -> int, else float,
    so that ``str(value)`` in the names matches the official (``80`` vs ``80.0``)."""
    texts = [(row.get(column) or "").strip() for row in rows]
    for text, line in zip(texts, lines):
        if not text:
            raise DataError(f"{path}:{line}: empty '{column}'")
    if all(_INT.match(text) for text in texts):
        return [int(text) for text in texts]
    values = []
    for text, line in zip(texts, lines):
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{path}:{line}: '{column}' is {text!r}, not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{path}:{line}: '{column}' is {text!r}, not a finite number")
        values.append(value)
    return values


def _parse_bbox(path: Path, line: int, text: str) -> Box:
    """``list(map(int, bbox.split('-')))`` as ``load_videos.run``: four integers left-top-right-bot."""
    parts = text.strip().split("-")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise DataError(f"{path}:{line}: bbox {text!r} is not left-top-right-bot (four non-negative integers)")
    return values  # type: ignore[return-value]


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a metadata CSV (one-line errors for a missing or unreadable file, a
    missing column, no rows)."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
    except FileNotFoundError:
        raise DataError(f"metadata CSV not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read metadata CSV {path}: {exc}") from None
    missing = [c for c in METADATA_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                        f"{','.join(METADATA_COLUMNS)}[,{PERSON_COLUMN}] (video-preprocessing's metadata format)")
    if not rows:
        raise DataError(f"{path}: no rows")
    return header, rows


def _check_row(path: Path, line: int, row: dict[str, str], has_person: bool) -> None:
    """The text columns of one row: a video_id and person_id that can be names on disk, a known partition."""
    video_id = (row.get("video_id") or "").strip()
    if not video_id:
        raise DataError(f"{path}:{line}: empty video_id")
    safe_name(video_id, f"{path}:{line}: video_id")
    if (row.get("partition") or "").strip() not in PARTITIONS:
        raise DataError(f"{path}:{line}: partition {row.get('partition')!r} is not train or test")
    if has_person:
        person = (row.get(PERSON_COLUMN) or "").strip()
        if not person:
            raise DataError(f"{path}:{line}: empty {PERSON_COLUMN}")
        safe_name(person, f"{path}:{line}: {PERSON_COLUMN}")


def _video_job(path: Path, vid: str, indices: Sequence[int], rows: list[dict[str, str]], lines: list[int],
               numbers: dict[str, list[Number]], person: str | None, seen: set[str]) -> VideoJob:
    """The chunks of ``vid`` (rows ``indices``) with its first row's reference values; a chunk whose
    output file an earlier row already writes is left out (``seen``)."""
    head = indices[0]
    partition = rows[head]["partition"].strip()
    chunks = []
    for i in indices:
        start, end = numbers["start"][i], numbers["end"][i]
        name = chunk_name(vid, str(start), str(end), person)
        chunk = Chunk(vid, start, end, _parse_bbox(path, lines[i], rows[i]["bbox"]), lines[i], name, partition)
        if chunk.relpath in seen:
            continue  # the official would write the same file twice
        seen.add(chunk.relpath)
        chunks.append(chunk)
    return VideoJob(vid, numbers["fps"][head], numbers["width"][head], numbers["height"][head], partition,
                    tuple(chunks))


def read_metadata(path: str | Path) -> list[VideoJob]:
    """The videos of a FOMM metadata CSV, in order of first appearance, each with its chunks.

    A missing file, a missing column, an empty or non-numeric value, a malformed bbox or a video_id /
    person_id that is not a plain name raises ``DataError`` naming the line. Rows that would write
    the same output file are kept once.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    lines = [reader_line + 2 for reader_line in range(len(rows))]  # header is line 1
    numbers = {c: _column_numbers(path, rows, c, lines) for c in ("start", "end", "fps", "width", "height")}
    has_person = PERSON_COLUMN in header
    for i, row in enumerate(rows):
        _check_row(path, lines[i], row, has_person)
        for column in ("fps", "width", "height"):
            if numbers[column][i] <= 0:
                raise DataError(f"{path}:{lines[i]}: {column} must be positive, got {numbers[column][i]}")
    members: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        members.setdefault(row["video_id"].strip(), []).append(i)
    seen: set[str] = set()
    return [_video_job(path, vid, indices, rows, lines, numbers,
                       rows[indices[0]][PERSON_COLUMN].strip() if has_person else None, seen)
            for vid, indices in members.items()]


def write_metadata(path: str | Path, rows: Sequence[dict[str, str]]) -> None:
    """Write metadata ``rows`` (:data:`METADATA_COLUMNS`) atomically (temporary name, then rename)."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(METADATA_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_metadata_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a metadata CSV that :func:`write_metadata` wrote (a detection cache file)."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
