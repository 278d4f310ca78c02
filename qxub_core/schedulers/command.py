"""Running scheduler commands: a timeout on every call, retries with backoff when transient."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qxub_core.schedulers.base import SchedulerError

logger = logging.getLogger(__name__)

TRANSIENT_MARKERS = (
    "connection refused",
    "cannot connect to server",
    "server busy",
    "temporarily unavailable",
    "try again",
    "timed out",
    "socket timed out",
    "unable to contact slurm controller",
)


@dataclass(frozen=True)
class CommandPolicy:
    """How patiently a scheduler command is run."""

    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    # A command that may have acted before it timed out (qsub) must not be run twice.
    retry_timeouts: bool = True


def looks_transient(output: str) -> bool:
    """Whether a failed command's output says that trying again may help."""
    lowered = output.lower()
    return any(marker in lowered for marker in TRANSIENT_MARKERS)


def run_scheduler_command(
    command: Sequence[str],
    *,
    policy: CommandPolicy | None = None,
    accept: Callable[[subprocess.CompletedProcess[str]], bool] = lambda done: done.returncode == 0,
    transient: Callable[[str], bool] = looks_transient,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, retrying transient failures with backoff.

    ``accept`` decides which outcomes are answers (some commands exit non-zero with a useful
    answer, such as ``qstat`` on an unknown job). A refusal raises at once; a transient failure
    raises after the last attempt, with ``transient`` set on the error.
    """
    policy = policy or CommandPolicy()
    delay_s = policy.backoff_s
    for attempt in range(1, policy.attempts + 1):
        error = _run_once(command, policy, accept, transient, input_text)
        if isinstance(error, subprocess.CompletedProcess):
            return error
        if not error.transient or attempt == policy.attempts:
            raise error

        logger.debug("%s failed (attempt %d), retrying in %.1fs", command[0], attempt, delay_s)
        time.sleep(delay_s)
        delay_s *= policy.backoff_factor
    raise AssertionError("unreachable")


def _run_once(
    command: Sequence[str],
    policy: CommandPolicy,
    accept: Callable[[subprocess.CompletedProcess[str]], bool],
    transient: Callable[[str], bool],
    input_text: str | None,
) -> subprocess.CompletedProcess[str] | SchedulerError:
    logger.debug("running %s", " ".join(command))
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=policy.timeout_s,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        message = f"{command[0]} did not answer within {policy.timeout_s:g}s"
        return SchedulerError(message, command=command, transient=policy.retry_timeouts)
    except OSError as exc:
        message = f"cannot run {command[0]}: {exc.strerror or exc}"
        return SchedulerError(message, command=command, ran=False)

    if accept(done):
        return done
    output = (done.stderr or done.stdout).strip()
    message = refusal_line(command[0], output) or f"{command[0]} exited {done.returncode}"
    return SchedulerError(
        message,
        command=command,
        returncode=done.returncode,
        output=output,
        transient=transient(output),
    )


def refusal_line(program: str, output: str) -> str:
    """The one line that says why a command refused: its last line naming the command (``qsub:
    Unknown queue``, ``sbatch: error: ...``), else its last line (not a usage text's tail)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    name = os.path.basename(program)
    own = [line for line in lines if line.startswith(f"{name}:")]
    return (own or lines or [""])[-1]
