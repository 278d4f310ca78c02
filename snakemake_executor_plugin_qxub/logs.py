"""Where each job's log goes, and how it is assembled from the job directory.

A job's log is ``<log dir>/<rule>/<wildcards>/<scheduler job id>.log``. Every part is made a
single safe path component: characters other than letters, digits, ``.``, ``_`` and ``-`` are
percent-encoded (so a wildcard value holding ``/`` stays one directory), and a component longer
than the file system allows is cut (between whole characters, never inside an escape) and given
a digest of its whole text, so that two long values stay apart.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from qxub_core.status import ERR_FILE, OUT_FILE

DEFAULT_LOG_DIR = Path(".snakemake") / "qxub_logs"
NO_WILDCARDS = "no-wildcards"
MAX_COMPONENT_BYTES = 200
_KEPT_BYTES = 160
_SAFE_PUNCTUATION = "._-"
_ENCODED_TOKEN = re.compile(r"%[0-9A-Fa-f]{2}|.", re.DOTALL)
_FIRST_CONTINUATION_BYTE = 0x80  # UTF-8: 10xxxxxx continues a character
_FIRST_LEAD_BYTE = 0xC0  # 11xxxxxx starts one of two to four bytes


def path_component(text: str) -> str:
    """``text`` as one file name that cannot climb, split or overflow a path."""
    encoded = _encoded(text)
    if encoded in ("", ".", ".."):
        encoded = encoded.replace(".", "%2E") or "%00"
    return _bounded(encoded, text)


def wildcards_component(wildcards: Mapping[str, str]) -> str:
    """The wildcards as ``name=value,name=value`` (each part encoded), or ``no-wildcards``."""
    if not wildcards:
        return NO_WILDCARDS
    text = ",".join(f"{name}={value}" for name, value in wildcards.items())
    encoded = ",".join(
        f"{_encoded(str(name))}={_encoded(str(value))}" for name, value in wildcards.items()
    )
    return _bounded(encoded, text)


def job_log_path(log_dir: Path, rule: str, wildcards: Mapping[str, str], job_id: str) -> Path:
    """The log file of one scheduler job of ``rule`` with ``wildcards``."""
    job_file = path_component(job_id) + ".log"
    return log_dir / path_component(rule) / wildcards_component(wildcards) / job_file


def write_job_log(job_dir: Path, log_path: Path, job_id: str) -> Path:
    """Copy the job's stdout, then its stderr, from its job directory into ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        for title, name in (("stdout", OUT_FILE), ("stderr", ERR_FILE)):
            log.write(f"==> {title} of job {job_id} <==\n".encode())
            _append_file(job_dir / name, log)
    return log_path


def remove_job_log(log_path: Path, log_dir: Path) -> None:
    """Remove a log and the directories it leaves empty, up to ``log_dir``."""
    log_path.unlink(missing_ok=True)
    for parent in log_path.parents:
        if parent == log_dir or log_dir not in parent.parents:
            break
        try:
            parent.rmdir()
        except OSError:
            break


def _encoded(text: str) -> str:
    return quote(text, safe=_SAFE_PUNCTUATION, errors="surrogateescape")


def _bounded(encoded: str, text: str) -> str:
    """``encoded`` itself when short enough, else its start and a digest of the whole text."""
    if len(encoded) <= MAX_COMPONENT_BYTES:
        return encoded
    digest = hashlib.sha256(text.encode(errors="surrogateescape")).hexdigest()[:16]
    return f"{_start(encoded, _KEPT_BYTES)}~{digest}"


def _start(encoded: str, limit: int) -> str:
    """At most ``limit`` characters of ``encoded``, cut between whole escapes and whole
    characters (never between the bytes of one UTF-8 character)."""
    tokens = _ENCODED_TOKEN.findall(encoded)
    kept: list[str] = []
    size = 0
    for token in tokens:
        if size + len(token) > limit:
            break
        kept.append(token)
        size += len(token)

    cut_inside_character = len(kept) < len(tokens) and _is_continuation(tokens[len(kept)])
    if cut_inside_character:
        while kept and _is_continuation(kept[-1]):
            kept.pop()
        if kept and _escaped_byte(kept[-1]) >= _FIRST_LEAD_BYTE:
            kept.pop()
    return "".join(kept)


def _escaped_byte(token: str) -> int:
    """The byte a ``%XX`` escape stands for; -1 for a plain character."""
    return int(token[1:], 16) if token.startswith("%") else -1


def _is_continuation(token: str) -> bool:
    return _FIRST_CONTINUATION_BYTE <= _escaped_byte(token) < _FIRST_LEAD_BYTE


def _append_file(source: Path, log: BinaryIO) -> None:
    try:
        with open(source, "rb") as handle:
            shutil.copyfileobj(handle, log)
            ends_with_newline = _last_byte(handle) in (b"", b"\n")
    except FileNotFoundError:
        return
    if not ends_with_newline:
        log.write(b"\n")


def _last_byte(handle: BinaryIO) -> bytes:
    size = handle.seek(0, 2)
    if size == 0:
        return b""
    handle.seek(size - 1)
    return handle.read(1)
