"""The emulated ``qstat``, ``qdel`` and ``qselect``: their options, messages and exit codes."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from pbsemu_format import full_text, json_document, listing
from pbsemu_mom import signal_session
from pbsemu_state import (
    VERSION,
    EmulatorError,
    all_jobs,
    home,
    job_path,
    load_job,
    locked,
    save_job,
    sequence_of,
    setting,
    setting_float,
    take_counter,
    user_name,
)

UNKNOWN_JOB = 153  # PBSE_UNKJOBID & 0xff
FINISHED_JOB = 35  # PBSE_HISTJOBID & 0xff
BAD_STATE = 168  # PBSE_BADSTATE & 0xff
CANNOT_CONNECT = 255
QSTAT_USAGE = (
    "usage: qstat [-f [-F json|dsv]] [-x] [-w] [job_identifier...]\n       qstat --version"
)


def qstat_main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(f"pbs_version = {VERSION}")
        return 0
    try:
        full, history, as_json, ids = _qstat_options(argv)
        state = home("qstat")
        with locked(state):
            _qstat_faults(state, as_json and full)
            records, errors, code = _find(state, ids, history)
    except EmulatorError as refused:
        sys.stdout.write(refused.stdout)
        if refused.message:
            print(refused.message, file=sys.stderr)
        return refused.code
    _print_jobs(records, full, as_json)
    for error in errors:
        print(error, file=sys.stderr)
    return code


def _qstat_options(argv: list[str]) -> tuple[bool, bool, bool, list[str]]:
    full = history = as_json = False
    ids: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "-F":
            as_json = next(words, "") == "json"
        elif word.startswith("-") and len(word) > 1:
            flags = set(word[1:])
            if not flags <= set("fxwHF"):
                raise EmulatorError(QSTAT_USAGE, 2)
            full, history = full or "f" in flags, history or "x" in flags or "H" in flags
        else:
            ids.append(word)
    return full, history, as_json, ids


def _qstat_faults(state: Path, as_json: bool) -> None:
    if take_counter(state, "qstat_failures"):
        header = json_document([]) if as_json else ""
        message = f"qstat: cannot connect to server {setting('SERVER')} (errno=15010)"
        raise EmulatorError(message, CANNOT_CONNECT, stdout=header)
    if take_counter(state, "qstat_empty"):
        raise EmulatorError("", 0)


def _find(
    state: Path, ids: list[str], history: bool
) -> tuple[list[dict[str, Any]], list[str], int]:
    if not ids:
        jobs = [job for job in _visible_jobs(state) if history or job["attrs"]["job_state"] != "F"]
        return jobs, [], 0
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    code = 0
    for job_id in ids:
        record = _visible_job(state, job_id)
        if record is None:
            errors.append(f"qstat: Unknown Job Id {job_id}")
            code = UNKNOWN_JOB
        elif record["attrs"]["job_state"] == "F" and not history:
            errors.append(
                f"qstat: {record['id']} Job has finished, use -x or -H to obtain historical "
                "job information"
            )
            code = FINISHED_JOB
        else:
            records.append(record)
    return records, errors, code


def _print_jobs(records: list[dict[str, Any]], full: bool, as_json: bool) -> None:
    if full and as_json:
        sys.stdout.write(json_document(records))
    elif full:
        sys.stdout.write("".join(full_text(record) for record in records))
    else:
        sys.stdout.write(listing(records))


def _visible_jobs(state: Path) -> list[dict[str, Any]]:
    return [job for job in all_jobs(state) if not _expired(state, job)]


def _visible_job(state: Path, job_id: str) -> dict[str, Any] | None:
    sequence = sequence_of(job_id)
    record = None if sequence is None else load_job(state, sequence)
    if record is None or _expired(state, record) or not _same_server(job_id, record["id"]):
        return None
    return record


def _same_server(asked: str, actual: str) -> bool:
    server = asked.partition(".")[2]
    return not server or actual.partition(".")[2].startswith(server.split(".")[0])


def _expired(state: Path, record: dict[str, Any]) -> bool:
    """History past its keeping time is purged, as the server does."""
    finished_at = record["attrs"].get("history_timestamp")
    if finished_at is None or time.time() - int(finished_at) < setting_float("HISTORY_S"):
        return False
    job_path(state, record["seq"]).unlink(missing_ok=True)
    return True


def qdel_main(argv: list[str]) -> int:
    purge = "-x" in argv
    ids = [word for word in argv if not word.startswith("-")]
    try:
        state = home("qdel")
    except EmulatorError as refused:
        print(refused.message, file=sys.stderr)
        return refused.code
    code = 0
    for job_id in ids:
        with locked(state):
            error = _delete(state, job_id, purge)
        if error is not None:
            print(error.message, file=sys.stderr)
            code = error.code
    return code


def _delete(state: Path, job_id: str, purge: bool) -> EmulatorError | None:
    record = _visible_job(state, job_id)
    if record is None:
        return EmulatorError(f"qdel: Unknown Job Id {job_id}", UNKNOWN_JOB)
    job_state = record["attrs"]["job_state"]
    if job_state == "F":
        if purge:
            job_path(state, record["seq"]).unlink(missing_ok=True)
            return None
        return EmulatorError(f"qdel: Job has finished {record['id']}", FINISHED_JOB)
    if job_state == "E":
        return EmulatorError(f"qdel: Request invalid for state of job {record['id']}", BAD_STATE)
    if job_state == "R":
        _delete_running(state, record)
    else:
        _delete_queued(record)
    save_job(state, record)
    return None


def _delete_running(state: Path, record: dict[str, Any]) -> None:
    record["run"]["deleted_by"] = f"{user_name()}@{setting('SUBMIT_HOST')}"
    record["run"]["deleted_at"] = time.time()
    signal_session(int(record["run"]["session_id"]), 15)


def _delete_queued(record: dict[str, Any]) -> None:
    now = time.time()
    record["attrs"].update(
        job_state="F",
        substate="91",
        mtime=time.ctime(now),
        history_timestamp=str(int(now)),
    )


def qselect_main(argv: list[str]) -> int:
    history = "-x" in argv
    name = argv[argv.index("-N") + 1] if "-N" in argv[:-1] else None
    try:
        state = home("qselect")
    except EmulatorError as refused:
        print(refused.message, file=sys.stderr)
        return refused.code
    for record in _visible_jobs(state):
        attributes = record["attrs"]
        if (name is None or attributes["Job_Name"] == name) and (
            history or attributes["job_state"] != "F"
        ):
            print(record["id"])
    return 0
