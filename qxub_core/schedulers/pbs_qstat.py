"""Reading PBS Pro's ``qstat -f`` output (text and ``-F json``) and what its values mean.

The text format prints ``Job Id: <id>`` and then one ``    name = value`` line per attribute.
Values longer than a line are folded at 78 columns: the continuation starts with one TAB and the
break may fall mid-token, so a value is rebuilt by dropping exactly that TAB and joining with no
separator. Copies that went through a web page carry 4 or 8 spaces instead of the TAB. Values
may also hold raw newlines (shell functions exported with ``qsub -V``): such a line starts with
neither a TAB nor an attribute, and is joined back with its newline.

The JSON format is the same data, but ``qstat`` writes every value that looks like a number
unquoted and verbatim, so a value such as ``005`` makes the document invalid. Callers then ask
for the text format instead (:class:`InvalidQstatJson`).
"""

from __future__ import annotations

import json
import logging
import re
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from qxub_core import exitcodes
from qxub_core.schedulers.base import JobPhase

logger = logging.getLogger(__name__)

# Every job state letter PBS Pro prints, and what it means for a job qxub follows.
JOB_STATES: dict[str, tuple[JobPhase, str]] = {
    "Q": (JobPhase.QUEUED, "queued, eligible to run or be routed"),
    "H": (JobPhase.QUEUED, "held by a user, operator or the system"),
    "W": (JobPhase.QUEUED, "waiting for its requested start time or for stage-in"),
    "T": (JobPhase.QUEUED, "in transit to a new queue or server"),
    "M": (JobPhase.QUEUED, "moved to another server; it runs on there under the same id"),
    "R": (JobPhase.RUNNING, "running"),
    "E": (JobPhase.RUNNING, "exiting: the job ended, files are being staged out"),
    "S": (JobPhase.RUNNING, "suspended by the server; its processes are still alive"),
    "U": (JobPhase.RUNNING, "suspended because the workstation became busy"),
    "B": (JobPhase.RUNNING, "array job with at least one subjob started"),
    "F": (JobPhase.ENDED, "finished: completed, failed or deleted (history, qstat -x)"),
    "X": (JobPhase.ENDED, "subjob finished or deleted"),
}

# Substates that say how a finished job ended.
SUBSTATE_TERMINATED = 91  # deleted with qdel (running or not)
SUBSTATE_FINISHED = 92
SUBSTATE_FAILED = 93

# Negative Exit_status values: the execution host failed the job (JOB_EXEC_* in PBS).
NEGATIVE_EXIT_MEANINGS: dict[int, str] = {
    -1: "the job failed to start before its files were set up",
    -2: "the job failed to start after its files were set up",
    -3: "the job could not be started and was to be retried",
    -4: "the job was aborted while being started",
    -5: "the job was aborted on a restart of the execution host",
    -6: "the job was aborted because the execution host's resources were unavailable",
    -7: "the job could not be restarted from its checkpoint",
    -10: "the job's user or group is not valid on the execution host",
    -11: "the job was requeued to run again",
    -12: "the job was checkpointed and stopped",
    -13: "the job's password could not be verified",
    -14: "the job was requeued after a sister host failed",
    -15: "the job was requeued at the request of the execution host",
    -16: "a hook failed and the job was requeued",
    -17: "a hook failed and the job was deleted",
    -18: "a hook requeued the job",
    -19: "a hook deleted the job",
    -20: "the job was requeued after its mother superior failed",
    -21: "a security check failed on the execution host",
    -22: "a hook raised an error",
    -23: "the job's Kerberos credentials failed",
    -24: "job killed: ncpus burst limit exceeded",
    -25: "job killed: ncpus sum limit exceeded",
    -26: "job killed: vmem limit exceeded",
    -27: "job killed: mem limit exceeded",
    -28: "job killed: cput limit exceeded",
    -29: "job killed: walltime limit exceeded",
    -30: "a sister host failed to join the job",
}
EXIT_KILLED_WALLTIME = -29
SIGNAL_EXIT_BASE = 256  # the job shell killed by signal N gives 256 + N

_ATTRIBUTE_LINE = re.compile(r"^    ([A-Za-z_][\w.%-]*) = (.*)$")
_JOB_ID_LINE = re.compile(r"^Job Id: (\S+)\s*$")
_SPACE_FOLD = re.compile(r"^ {4,}")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgtp]?)([bw]?)\s*$", re.IGNORECASE)
_SIZE_SCALE = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
WORD_BYTES = 8
_NESTED = ("resources_used", "Resource_List", "Variable_List")
_VARIABLE_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_%()]*=")


class InvalidQstatJson(ValueError):
    """``qstat -F json`` printed a document that is not JSON; ask for the text format."""


@dataclass
class QstatJob:
    """One job from ``qstat -f``: its id and its attributes, with nested groups as dicts.

    ``attributes`` keeps PBS's names; ``resources_used``, ``Resource_List`` and
    ``Variable_List`` are dicts of strings in both formats.
    """

    job_id: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """An attribute as text, ``resources_used.mem`` style names allowed."""
        group, _, key = name.partition(".")
        if key and isinstance(self.attributes.get(group), dict):
            value = self.attributes[group].get(key)
        else:
            value = self.attributes.get(name)
        return None if value is None or isinstance(value, dict) else str(value)

    def get_int(self, name: str) -> int | None:
        text = self.get(name)
        try:
            return None if text is None else int(text.strip())
        except ValueError:
            return None


def parse_text(text: str) -> dict[str, QstatJob]:
    """Every job in ``qstat -f`` text output, by id. A block that cannot be read is skipped."""
    tab_folded = any(line.startswith("\t") for line in text.splitlines())
    jobs: dict[str, QstatJob] = {}
    for job_id, lines in _job_blocks(text):
        try:
            jobs[job_id] = QstatJob(job_id, _attributes(lines, tab_folded))
        except ValueError as exc:
            logger.warning("Job %s: unreadable qstat record skipped: %s", job_id, exc)
    return jobs


def parse_json(text: str) -> dict[str, QstatJob]:
    """Every job in ``qstat -f -F json`` output, by id (none for a header-only document)."""
    try:
        document = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise InvalidQstatJson(f"qstat printed invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidQstatJson("qstat printed JSON that is not an object")

    jobs: dict[str, QstatJob] = {}
    for job_id, attributes in (document.get("Jobs") or {}).items():
        if isinstance(attributes, dict):
            jobs[job_id] = QstatJob(job_id, _json_attributes(attributes))
        else:
            logger.warning("Job %s: unreadable qstat JSON record skipped", job_id)
    return jobs


def _json_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        if isinstance(value, dict):
            converted[name] = {key: _json_text(item) for key, item in value.items()}
        else:
            converted[name] = _json_text(value)
    return converted


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _job_blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    job_id: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        match = _JOB_ID_LINE.match(line)
        if match:
            if job_id is not None:
                yield job_id, lines
            job_id, lines = match.group(1), []
        elif job_id is not None:
            lines.append(line)
    if job_id is not None:
        yield job_id, lines


def _attributes(lines: list[str], tab_folded: bool) -> dict[str, Any]:
    pairs: list[list[str]] = []
    for line in _without_trailing_blanks(lines):
        match = _ATTRIBUTE_LINE.match(line)
        if match:
            pairs.append([match.group(1), match.group(2)])
        elif not pairs:
            raise ValueError(f"value before any attribute: {line[:40]!r}")
        else:
            pairs[-1][1] += _continuation(line, tab_folded)

    attributes: dict[str, Any] = {}
    for name, value in pairs:
        _store(attributes, name, value)
    return attributes


def _without_trailing_blanks(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _continuation(line: str, tab_folded: bool) -> str:
    """The text a continuation line adds to the value before it."""
    if line.startswith("\t"):
        return line[1:]
    if not tab_folded and _SPACE_FOLD.match(line):
        return _SPACE_FOLD.sub("", line)
    return "\n" + line


def _store(attributes: dict[str, Any], name: str, value: str) -> None:
    group, _, key = name.partition(".")
    if name == "Variable_List":
        attributes[name] = split_variable_list(value)
    elif key and group in _NESTED:
        attributes.setdefault(group, {})[key] = value
    else:
        attributes[name] = value


def split_variable_list(value: str) -> dict[str, str]:
    """``A=1,B=x,y`` into a dict: a comma starts a new variable only before ``NAME=``."""
    variables: dict[str, str] = {}
    name: str | None = None
    for piece in value.split(","):
        if _VARIABLE_START.match(piece) or name is None:
            name, _, content = piece.partition("=")
            variables[name] = content
        else:
            variables[name] += "," + piece
    return variables


def job_phase(state_letter: str) -> JobPhase:
    """The phase of a PBS state letter; a letter PBS does not print is unknown."""
    known = JOB_STATES.get(state_letter.strip())
    return known[0] if known else JobPhase.UNKNOWN


@dataclass(frozen=True)
class JobEnd:
    """How a finished job ended, in qxub's exit-code table, and why when qxub chose the code."""

    exit_code: int
    reason: str | None = None


def job_end(job: QstatJob) -> JobEnd:
    """Map a finished job's ``Exit_status`` into qxub's exit-code table."""
    status = job.get_int("Exit_status")
    if status is None:
        return _end_without_status(job)
    if 0 <= status < SIGNAL_EXIT_BASE:
        return JobEnd(status)
    if SIGNAL_EXIT_BASE < status < SIGNAL_EXIT_BASE + 128:
        return _signal_end(job, status - SIGNAL_EXIT_BASE)
    if status == EXIT_KILLED_WALLTIME:
        return JobEnd(exitcodes.WALLTIME_EXCEEDED, walltime_reason(job))
    meaning = NEGATIVE_EXIT_MEANINGS.get(status, "PBS gave no meaning for it")
    return JobEnd(exitcodes.NEVER_RAN, f"{meaning} (PBS exit status {status})")


def _end_without_status(job: QstatJob) -> JobEnd:
    if job.get_int("substate") == SUBSTATE_TERMINATED:
        return JobEnd(exitcodes.NEVER_RAN, "job deleted before it ran")
    return JobEnd(exitcodes.NEVER_RAN, "PBS recorded no exit status for the job")


def _signal_end(job: QstatJob, signal_number: int) -> JobEnd:
    if signal_number == signal.SIGTERM and _walltime_exceeded(job):
        return JobEnd(exitcodes.WALLTIME_EXCEEDED, walltime_reason(job))
    return JobEnd(
        exitcodes.from_signal(signal_number), f"job killed by {_signal_name(signal_number)}"
    )


def _walltime_exceeded(job: QstatJob) -> bool:
    """Older PBS Pro reports a walltime kill as a plain SIGTERM (271): look at the clock."""
    comment = job.get("comment") or ""
    if "exceeded resource walltime" in comment:
        return True
    used_s = walltime_seconds(job.get("resources_used.walltime"))
    limit_s = walltime_seconds(job.get("Resource_List.walltime"))
    return used_s is not None and limit_s is not None and used_s >= limit_s


def walltime_reason(job: QstatJob) -> str:
    limit = job.get("Resource_List.walltime")
    if limit:
        return f"job killed: walltime limit {limit} exceeded"
    return "job killed: walltime limit exceeded"


def _signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"


def size_bytes(text: str | None) -> int | None:
    """A PBS size (``7036kb``, ``3221225472b``, ``8gb``, ``4mw``) in bytes; a word is 8 bytes."""
    if text is None:
        return None
    match = _SIZE.match(text)
    if match is None:
        return None
    number, scale, unit = match.group(1), match.group(2).lower(), match.group(3).lower()
    per_unit = WORD_BYTES if unit == "w" else 1
    return int(number) * _SIZE_SCALE[scale] * per_unit


def walltime_seconds(text: str | None) -> int | None:
    """A PBS duration (``HH:MM:SS``, ``MM:SS`` or plain seconds) in seconds."""
    if text is None:
        return None
    try:
        parts = [int(float(part)) for part in text.strip().split(":")]
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
