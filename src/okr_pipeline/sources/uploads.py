"""A bundle sent over the network, as one zip or as its files, written into a folder of its own
as a bundle on disk, with nothing of it trusted.

- Only contract files are written (ENTITY.csv, ENTITY.jsonl, plan_tasks.json), each by its bare
  name; every other name is reported, never written. A zip may hold its files at its top or in
  one folder (a zipped bundle directory); files deeper down are reported too.
- A name that could write outside the folder is refused with the whole upload: an absolute path,
  a drive, `..`, a backslash; so is a zip entry that is a symbolic link, an encrypted one, the
  same name twice, or a damaged zip.
- A zip bomb is refused before a byte is written: the files' count and their total unpacked
  size (as the zip declares them) are capped; the bytes actually unpacked are counted against
  the same caps as they are written, in case the declared sizes lie.
"""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from okr_pipeline.errors import InputError, TooLargeError
from okr_pipeline.sources.files import is_contract_file

__all__ = ["Unpacked", "write_upload"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header, or an empty zip
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class Unpacked:
    """What an upload held: the contract files written, and the names not written."""

    files: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass
class _Budget:
    """What may still be written: files and bytes."""

    files: int
    size: int

    def spend(self, size: int) -> None:
        self.size -= size
        if self.size < 0:
            raise TooLargeError("the upload unpacks to more than api.upload_max_bytes")


def _unsafe(name: str) -> bool:
    """Whether a name could reach outside the folder it is written in."""
    path = PurePosixPath(name)
    return (
        name.startswith(("/", "\\"))
        or _DRIVE.match(name) is not None
        or "\\" in name
        or "\x00" in name
        or ".." in path.parts
    )


def _is_zip(name: str, stream: IO[bytes]) -> bool:
    head = stream.read(4)
    stream.seek(0)
    return name.lower().endswith(".zip") or head in ZIP_MAGIC


def write_upload(
    parts: Sequence[tuple[str | None, IO[bytes]]],
    folder: Path,
    *,
    max_files: int,
    max_bytes: int,
) -> Unpacked:
    """Write the upload's contract files into `folder` (made here; it must not exist): the
    `parts` are (file name, content) pairs, either one zip or the files themselves. InputError
    for an unsafe or damaged upload, TooLargeError beyond `max_files` or `max_bytes`."""
    if len(parts) > max_files:
        raise TooLargeError(f"{len(parts)} files: at most {max_files} (api.upload_max_files)")
    names = [name or "" for name, _ in parts]
    for name in names:
        if not name.strip():
            raise InputError("a file of the upload has no name")
        if _unsafe(name) or "/" in name:
            raise InputError(f"unsafe file name {name!r}: give bare file names")
    if len(set(names)) < len(names):
        raise InputError("two files of the upload have the same name")
    folder.mkdir(parents=True)
    budget = _Budget(max_files, max_bytes)
    if any(_is_zip(name, stream) for name, (_, stream) in zip(names, parts)):
        if len(parts) > 1:
            raise InputError("a zip is uploaded alone: send the bundle as one zip or as its files")
        return _unzip(parts[0][1], folder, budget)
    unpacked = Unpacked()
    for name, (_, stream) in zip(names, parts):
        if not is_contract_file(name):
            unpacked.ignored.append(name)
            continue
        with open(folder / name, "xb") as out:
            _copy(stream, out, budget)
        unpacked.files.append(name)
    return unpacked


def _copy(source: IO[bytes], out: IO[bytes], budget: _Budget) -> None:
    while chunk := source.read(_CHUNK):
        budget.spend(len(chunk))
        out.write(chunk)


def _unzip(stream: IO[bytes], folder: Path, budget: _Budget) -> Unpacked:
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"not a readable zip: {exc}") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        _check_entries(entries, budget)
        top = _common_folder([info.filename for info in entries])
        unpacked = Unpacked()
        written: set[str] = set()
        for info in entries:
            name = info.filename[len(top) :]
            if "/" in name or not is_contract_file(name):
                unpacked.ignored.append(info.filename)
                continue
            if name.lower() in written:  # one file system may fold case: never overwrite
                raise InputError(f"the zip holds {name!r} twice")
            written.add(name.lower())
            try:
                with archive.open(info) as source, open(folder / name, "xb") as out:
                    _copy(source, out, budget)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise InputError(f"the zip entry {info.filename!r} cannot be read: {exc}") from None
            unpacked.files.append(name)
    return unpacked


def _check_entries(entries: list[zipfile.ZipInfo], budget: _Budget) -> None:
    """Refuse the zip for any entry that is unsafe, and when its declared contents are over
    the budget: before anything is written."""
    if len(entries) > budget.files:
        raise TooLargeError(
            f"the zip holds {len(entries)} files: at most {budget.files} (api.upload_max_files)"
        )
    declared = sum(info.file_size for info in entries)
    if declared > budget.size:
        raise TooLargeError(
            f"the zip unpacks to {declared} bytes: at most {budget.size} (api.upload_max_bytes)"
        )
    seen: set[str] = set()
    for info in entries:
        name = info.filename
        if _unsafe(name):
            raise InputError(f"unsafe name in the zip: {name!r}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"the zip entry {name!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise InputError(f"the zip entry {name!r} is encrypted")
        if name in seen:
            raise InputError(f"the zip holds {name!r} twice")
        seen.add(name)


def _common_folder(names: list[str]) -> str:
    """The one folder every name is in ("bundle/"), or "" if they are not all in one."""
    tops = {name.split("/", 1)[0] + "/" for name in names if "/" in name}
    if len(tops) == 1 and all("/" in name for name in names):
        return tops.pop()
    return ""
