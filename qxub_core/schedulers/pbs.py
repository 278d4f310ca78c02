"""The PBS Pro / OpenPBS adapter: directives, ``qsub``, ``qstat -fx``, ``qdel``, accounting.

Each scheduler call is a command/parse pair run through :func:`run_scheduler_command` (timeout,
retries with backoff). ``qstat`` is asked about many jobs at once and only at the monitor's
fallback interval: the job script's status files say where a job stands long before PBS does.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from qxub_core.schedulers import pbs_qstat
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler, SchedulerError
from qxub_core.schedulers.command import CommandPolicy, looks_transient, run_scheduler_command
from qxub_core.schedulers.pbs_qstat import QstatJob
from qxub_core.schedulers.raw_args import RawSetting, refuse_conflicts, settings_in_spec
from qxub_core.spec import JobSpec, SpecError, format_walltime
from qxub_core.usage import Usage

logger = logging.getLogger(__name__)

SCHEDULER_LOG = "scheduler.log"
JOB_NAME_MAX = 236
RESOURCE_FORMS = ("select", "plain")

# What each PBS resource sets, in the words of the raw-argument rule.
RESOURCE_SETTINGS = {
    "ncpus": "cpus",
    "mem": "mem",
    "walltime": "walltime",
    "ngpus": "gpus",
    "jobfs": "disk",
    "storage": "storage",
    "select": "select",
}
# What each qsub option sets; options missing here pass through untouched.
QSUB_OPTION_SETTINGS = {
    "-q": "queue",
    "-P": "project",
    "-N": "name",
    "-o": "output",
    "-e": "error",
    "-j": "join",
    "-V": "environment",
    "-J": "array job",
}
QSUB_OPTIONS_WITH_VALUE = set("aAcCeJjklmMNopPqrRSuvW")

_JOB_ID = re.compile(r"^\d+(\[[\d\-:]*\])?(\.[\w.\-]+)?$")
_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9_.+\-]")
_STORAGE = re.compile(r"^[A-Za-z0-9_./\-]+(\+[A-Za-z0-9_./\-]+)*$")
_UNKNOWN_JOB = re.compile(r"Unknown Job Id (\S+)")
_QDEL_ANSWERS = ("Job has finished", "Unknown Job Id", "Request invalid for state of job")
_SIZE_UNITS = (("tb", 1024**4), ("gb", 1024**3), ("mb", 1024**2), ("kb", 1024))

QSTAT_POLICY = CommandPolicy(timeout_s=30.0)
QSUB_POLICY = CommandPolicy(timeout_s=60.0, retry_timeouts=False)
VERSION_POLICY = CommandPolicy(timeout_s=5.0, attempts=1)
USAGE_FIRST_POLL_S = 0.2
USAGE_LAST_POLL_S = 1.0


class UnsupportedSchedulerError(SchedulerError):
    """A ``qstat`` that is not PBS Pro's: Torque or Grid Engine."""


class PbsScheduler(Scheduler):
    """PBS Pro and OpenPBS, as on NCI Gadi.

    Configuration keys read here: ``pbs_resource_form`` (``select``: one ``-l select=1:...``
    chunk; ``plain``: ``-l ncpus=.. -l mem=..``) and ``grace_period_s`` (how long accounting
    waits for a job to reach the finished state).
    """

    name: ClassVar[str] = "pbs"
    job_id_variable: ClassVar[str] = "PBS_JOBID"
    directive_prefix: ClassVar[str] = "#PBS"

    _checked_flavour: ClassVar[bool] = False

    @classmethod
    def detect(cls) -> bool:
        """PBS when ``qstat --version`` prints ``pbs_version = ...``; Torque is refused."""
        if shutil.which("qstat") is None:
            return False
        return qstat_flavour() == "pbs"

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        self._refuse_raw_conflicts(spec)
        lines = [f"-N {job_name(spec.name)}"]
        if spec.project is not None:
            lines.append(f"-P {shlex.quote(spec.project)}")
        if spec.queue is not None:
            lines.append(f"-q {shlex.quote(spec.queue)}")
        lines.extend(f"-l {resource}" for resource in self._resource_requests(spec))
        lines.extend(f"-l {shlex.quote(raw)}" for raw in spec.raw_resources)
        lines.append("-j oe")
        lines.append(f"-o {shlex.quote(str(job_dir / SCHEDULER_LOG))}")
        lines.append("-W umask=077")
        return [f"{self.directive_prefix} {line}" for line in lines]

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return ["qsub", *scheduler_arg_words(spec), str(script)]

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        self._refuse_other_flavours()
        done = run_scheduler_command(self.submit_command(script, job_dir, spec), policy=QSUB_POLICY)
        job_id = job_id_from_qsub(done.stdout)
        if job_id is None:
            raise SchedulerError(
                "qsub printed no job id", command=["qsub"], output=done.stdout + done.stderr
            )
        logger.info("Job %s: submitted with qsub", job_id)
        self._watch_accounting(job_id, job_dir)
        return job_id

    def cancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        run_scheduler_command(["qdel", *job_ids], policy=QSTAT_POLICY, accept=qdel_succeeded)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        if not job_ids:
            return {}
        jobs, unknown = self.read_qstat(job_ids)
        return {job_id: _job_state(job_id, jobs, unknown) for job_id in job_ids}

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        """The accounting of a finished job, asked of PBS until the grace period runs out.

        The watcher started at submission writes ``usage.json`` as well, so the record exists
        even when qxub returns the prompt before this call can finish.
        """
        deadline = time.monotonic() + float(self.options.get("grace_period_s", 10))
        pause_s = USAGE_FIRST_POLL_S
        while True:
            usage = Usage.load(job_dir) or self._finished_usage(job_id)
            if usage is not None or time.monotonic() >= deadline:
                return usage
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, USAGE_LAST_POLL_S)  # spare a busy server

    def _finished_usage(self, job_id: str) -> Usage | None:
        jobs, _ = self.read_qstat([job_id])
        job = find_job(job_id, jobs)
        if job is None or job.get("job_state") != "F":
            return None
        return usage_from_qstat(job_id, job)

    def _watch_accounting(self, job_id: str, job_dir: Path) -> None:
        from qxub_core.schedulers.pbs_accounting import start_collector

        try:
            start_collector(job_id, job_dir)
        except OSError as exc:
            logger.warning("Job %s: no usage record will be collected: %s", job_id, exc)

    def _resource_requests(self, spec: JobSpec) -> list[str]:
        resources = spec.resources
        chunk = [
            ("ncpus", None if resources.cpus is None else str(resources.cpus)),
            ("mem", None if resources.mem_bytes is None else pbs_size(resources.mem_bytes)),
            ("ngpus", None if resources.gpus is None else str(resources.gpus)),
        ]
        given = [(name, value) for name, value in chunk if value is not None]
        requests = self._chunk_requests(given)
        if resources.walltime_s is not None:
            requests.append(f"walltime={format_walltime(resources.walltime_s)}")
        if resources.disk_bytes is not None:
            requests.append(f"jobfs={pbs_size(resources.disk_bytes)}")
        if spec.storage is not None:
            requests.append(f"storage={storage_value(spec.storage)}")
        return requests

    def _chunk_requests(self, given: list[tuple[str, str]]) -> list[str]:
        if not given:
            return []
        if self._resource_form() == "plain":
            return [f"{name}={value}" for name, value in given]
        return ["select=1:" + ":".join(f"{name}={value}" for name, value in given)]

    def _resource_form(self) -> str:
        form = str(self.options.get("pbs_resource_form", "select"))
        if form not in RESOURCE_FORMS:
            raise SpecError(
                f"pbs_resource_form: {form!r} is not one of {', '.join(RESOURCE_FORMS)}"
            )
        return form

    def _refuse_raw_conflicts(self, spec: JobSpec) -> None:
        qxub_settings = settings_in_spec(spec)
        resources = spec.resources
        chunk_given = [resources.cpus, resources.mem_bytes, resources.gpus]
        if self._resource_form() == "select" and any(v is not None for v in chunk_given):
            qxub_settings["select"] = "--cpus/--mem/--gpus"
        refuse_conflicts(qxub_settings, raw_settings(spec))

    def _refuse_other_flavours(self) -> None:
        if PbsScheduler._checked_flavour or shutil.which("qstat") is None:
            return
        flavour = qstat_flavour()
        PbsScheduler._checked_flavour = True
        if flavour == "torque":
            raise UnsupportedSchedulerError(TORQUE_MESSAGE, ran=False)

    def read_qstat(self, job_ids: Sequence[str]) -> tuple[dict[str, QstatJob], set[str]]:
        """The records of ``job_ids`` (JSON, else text) and the ids PBS does not know."""
        done = run_scheduler_command(
            ["qstat", "-fx", "-F", "json", *job_ids],
            policy=QSTAT_POLICY,
            accept=qstat_answered,
            transient=_qstat_transient,
        )
        unknown = set(_UNKNOWN_JOB.findall(done.stderr))
        try:
            return pbs_qstat.parse_json(done.stdout), unknown
        except pbs_qstat.InvalidQstatJson as exc:
            logger.info("%s; reading qstat's text format instead", exc)
        text = run_scheduler_command(
            ["qstat", "-fx", *job_ids],
            policy=QSTAT_POLICY,
            accept=qstat_answered,
            transient=_qstat_transient,
        )
        return pbs_qstat.parse_text(text.stdout), unknown


TORQUE_MESSAGE = (
    "this qstat is Torque's, not PBS Pro's: qxub supports PBS Pro/OpenPBS and Slurm, not Torque"
)


def qstat_flavour() -> str:
    """``pbs``, ``torque``, ``other`` (Grid Engine and the rest) from ``qstat --version``."""
    try:
        done = run_scheduler_command(
            ["qstat", "--version"], policy=VERSION_POLICY, accept=lambda done: True
        )
    except SchedulerError:
        return "other"
    return flavour_from_version(done.stdout + done.stderr)


def flavour_from_version(text: str) -> str:
    if re.search(r"^pbs_version\s*=", text, re.MULTILINE):
        return "pbs"
    if re.search(r"torque|^Version:\s*\d", text, re.IGNORECASE | re.MULTILINE):
        return "torque"
    return "other"


def job_name(name: str) -> str:
    """A job name PBS accepts: letters, digits, ``_.+-``, starting with a letter or digit."""
    cleaned = _NAME_FORBIDDEN.sub("_", name)
    if not cleaned[:1].isalnum():
        cleaned = "q" + cleaned
    return cleaned[:JOB_NAME_MAX]


def pbs_size(size_bytes: int) -> str:
    """Bytes as PBS writes sizes: the largest whole unit, lower case (``16gb``, ``1536mb``)."""
    for unit, scale in _SIZE_UNITS:
        if size_bytes % scale == 0:
            return f"{size_bytes // scale}{unit}"
    return f"{size_bytes}b"


def storage_value(storage: str) -> str:
    """Gadi's ``storage`` list (``gdata/ab12+scratch/ab12``), checked before it reaches qsub."""
    if not _STORAGE.match(storage):
        raise SpecError(
            f"--storage: cannot read {storage!r}; use filesystem/project joined by '+', "
            "such as gdata/ab12+scratch/ab12"
        )
    return storage


def scheduler_arg_words(spec: JobSpec) -> list[str]:
    words: list[str] = []
    for text in spec.scheduler_args:
        try:
            words.extend(shlex.split(text))
        except ValueError as exc:
            raise SpecError(f"--scheduler-args: cannot split {text!r}: {exc}") from None
    return words


def raw_settings(spec: JobSpec) -> Iterator[RawSetting]:
    """What the raw ``-l`` values and raw qsub options of a spec set."""
    for raw in spec.raw_resources:
        yield from _resource_settings(raw, f"--resources {raw!r}")
    words = scheduler_arg_words(spec)
    for index, word in enumerate(words):
        _refuse_long_option(word)
        option, value = _qsub_option(word, words[index + 1 : index + 2])
        source = f"--scheduler-args {' '.join(w for w in (option, value) if w)!r}"
        if option == "-l" and value:
            yield from _resource_settings(value, source)
        elif option == "-W" and value.startswith("umask="):
            yield RawSetting(source, "umask")
        elif option in QSUB_OPTION_SETTINGS:
            yield RawSetting(source, QSUB_OPTION_SETTINGS[option])


def _refuse_long_option(word: str) -> None:
    """qsub's options are single letters: ``--job-name=x`` would only print qsub's usage."""
    if word.startswith("--") and word != "--":
        raise SpecError(
            f"--scheduler-args {word!r}: qsub takes no such option; its options are single "
            "letters (-N, -q, -l ...)"
        )


def _qsub_option(word: str, following: list[str]) -> tuple[str, str]:
    if not word.startswith("-") or len(word) < 2 or word == "--":
        return "", ""
    option = word[:2]
    if option[1] not in QSUB_OPTIONS_WITH_VALUE:
        return option, ""
    value = word[2:] or (following[0] if following else "")
    return option, value


def _resource_settings(value: str, source: str) -> Iterator[RawSetting]:
    for item in value.split(","):
        name, _, content = item.partition("=")
        setting = RESOURCE_SETTINGS.get(name.strip())
        if setting is not None:
            yield RawSetting(source, setting)
        if name.strip() == "select":
            yield from _chunk_settings(content, source)


def _chunk_settings(chunks: str, source: str) -> Iterator[RawSetting]:
    for part in re.split(r"[:+]", chunks):
        setting = RESOURCE_SETTINGS.get(part.partition("=")[0])
        if setting is not None and setting != "select":
            yield RawSetting(source, setting)


def job_id_from_qsub(output: str) -> str | None:
    """The job id: the last non-empty line shaped like one (site wrappers print notices first)."""
    for line in reversed(output.splitlines()):
        if _JOB_ID.match(line.strip()):
            return line.strip()
    return None


def qstat_answered(done: subprocess.CompletedProcess[str]) -> bool:
    """Whether ``qstat`` gave an answer: success, or only finished (35) and unknown (153) jobs."""
    if done.returncode == 0:
        return bool(done.stdout.strip())
    return done.returncode in (35, 153) and not _unexplained_errors(done.stderr)


def qdel_succeeded(done: subprocess.CompletedProcess[str]) -> bool:
    """``qdel`` succeeded, or every job it could not delete has already ended or is ending."""
    if done.returncode == 0:
        return True
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return bool(lines) and all(any(a in line for a in _QDEL_ANSWERS) for line in lines)


def _unexplained_errors(stderr: str) -> bool:
    for line in stderr.splitlines():
        if line.strip() and "Job has finished" not in line and "Unknown Job Id" not in line:
            return True
    return False


def _qstat_transient(output: str) -> bool:
    """A qstat that printed nothing at all, or could not reach the server, may answer later."""
    return not output.strip() or looks_transient(output)


def find_job(job_id: str, jobs: dict[str, QstatJob]) -> QstatJob | None:
    """The record for ``job_id``, also when PBS prints a longer or shorter server name."""
    if job_id in jobs:
        return jobs[job_id]
    sequence, _, server = job_id.partition(".")
    for printed, job in jobs.items():
        other_sequence, _, other_server = printed.partition(".")
        if other_sequence == sequence and (
            other_server.startswith(server) or server.startswith(other_server)
        ):
            return job
    return None


def _job_state(job_id: str, jobs: dict[str, QstatJob], unknown: set[str]) -> JobState:
    job = find_job(job_id, jobs)
    if job is None:
        raw_state = "unknown" if job_id in unknown else "missing"
        return JobState(job_id, JobPhase.UNKNOWN, raw_state=raw_state)
    letter = job.get("job_state") or ""
    phase = pbs_qstat.job_phase(letter)
    if phase is not JobPhase.ENDED:
        return JobState(job_id, phase, raw_state=letter)
    end = pbs_qstat.job_end(job)
    return JobState(job_id, phase, raw_state=letter, exit_code=end.exit_code, reason=end.reason)


def usage_from_qstat(job_id: str, job: QstatJob) -> Usage:
    """The usage record of a finished job from its ``qstat -fx`` accounting."""
    cpus = job.get_int("resources_used.ncpus") or job.get_int("Resource_List.ncpus")
    return Usage(
        job_id=job_id,
        source="pbs-qstat",
        walltime_used_s=_float(pbs_qstat.walltime_seconds(job.get("resources_used.walltime"))),
        cpu_time_s=_float(pbs_qstat.walltime_seconds(job.get("resources_used.cput"))),
        peak_mem_bytes=pbs_qstat.size_bytes(job.get("resources_used.mem")),
        cpus=cpus,
        walltime_requested_s=pbs_qstat.walltime_seconds(job.get("Resource_List.walltime")),
        mem_requested_bytes=pbs_qstat.size_bytes(job.get("Resource_List.mem")),
        extra=_usage_extra(job),
        notes=[
            "peak memory is PBS's resources_used.mem: the largest resident memory of the "
            "job's processes that the execution host sampled"
        ],
    )


def _usage_extra(job: QstatJob) -> dict[str, object]:
    extra: dict[str, object] = {
        "vmem_bytes": pbs_qstat.size_bytes(job.get("resources_used.vmem")),
        "cpupercent": job.get_int("resources_used.cpupercent"),
        "exit_status": job.get_int("Exit_status"),
    }
    for name in ("queue", "exec_host", "exec_vnode", "qtime", "stime", "obittime", "project"):
        extra[name] = job.get(name)
    requested = job.attributes.get("Resource_List")
    if isinstance(requested, dict):
        extra["resource_list"] = dict(requested)
    return {key: value for key, value in extra.items() if value is not None}


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)
