"""The plugin's configuration: its ``--qxub-*`` settings over qxub's own configuration."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from snakemake_interface_common.exceptions import WorkflowError

from snakemake_executor_plugin_qxub.logs import DEFAULT_LOG_DIR
from snakemake_executor_plugin_qxub.settings import ExecutorSettings

DEFAULT_FALLBACK_INTERVAL_S = 60.0
DEFAULT_GRACE_PERIOD_S = 10.0


@dataclass(frozen=True)
class PluginConfig:
    """Everything the executor reads from its settings, resolved once at start."""

    scheduler: str
    job_root: Path
    fallback_interval_s: float
    grace_period_s: float
    log_dir: Path
    keep_successful_logs: bool = False
    queue: str | None = None
    project: str | None = None
    scheduler_args: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def resolve_config(
    settings: ExecutorSettings, environ: Mapping[str, str] | None = None
) -> PluginConfig:
    """Settings given to Snakemake win; qxub's ``QXUB_*`` variables and defaults fill the rest."""
    env = os.environ if environ is None else environ
    scheduler = settings.scheduler or env.get("QXUB_SCHEDULER") or "auto"
    job_root = settings.job_root or _default_job_root(env)
    fallback_s = settings.fallback_interval_s
    if fallback_s is None:
        fallback_s = _seconds(env, "QXUB_FALLBACK_INTERVAL_S", DEFAULT_FALLBACK_INTERVAL_S)
    grace_s = _seconds(env, "QXUB_GRACE_PERIOD_S", DEFAULT_GRACE_PERIOD_S)

    options = {
        "scheduler": scheduler,
        "job_root": str(job_root),
        "fallback_interval_s": fallback_s,
        "grace_period_s": grace_s,
    }
    return PluginConfig(
        scheduler=scheduler,
        job_root=Path(job_root).expanduser().absolute(),
        fallback_interval_s=_positive("--qxub-fallback-interval-s", fallback_s),
        grace_period_s=grace_s,
        log_dir=Path(settings.log_dir or DEFAULT_LOG_DIR).absolute(),
        keep_successful_logs=settings.keep_successful_logs,
        queue=settings.queue or env.get("QXUB_QUEUE") or None,
        project=settings.project or env.get("QXUB_PROJECT") or None,
        scheduler_args=_split_args(settings.scheduler_args),
        options=options,
    )


def _default_job_root(env: Mapping[str, str]) -> Path:
    if env.get("QXUB_JOB_ROOT"):
        return Path(env["QXUB_JOB_ROOT"])
    return Path(platformdirs.user_data_dir("qxub")) / "jobs"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise WorkflowError(f"qxub: {name}={text!r} is not a number of seconds") from None


def _positive(option: str, seconds: float) -> float:
    if seconds <= 0:
        raise WorkflowError(f"qxub: {option} must be a positive number of seconds")
    return seconds


def _split_args(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise WorkflowError(f"qxub: --qxub-scheduler-args {text!r}: {error}") from None
