"""The plugin's configuration: its ``--qxub-*`` settings over qxub's own configuration.

qxub's files and ``QXUB_*`` variables are read as for the ``qxub`` command; a setting given to
Snakemake wins over them. qxub's resource defaults (cpus, mem, runtime...) are not applied:
Snakemake's own ``--default-resources`` play that part for workflow jobs.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakemake_interface_common.exceptions import WorkflowError

from qxub_core.config import ConfigError, load_configuration
from snakemake_executor_plugin_qxub.logs import DEFAULT_LOG_DIR
from snakemake_executor_plugin_qxub.settings import ExecutorSettings

# Settings that override configuration keys: key -> the option's name in messages.
OVERRIDDEN_KEYS = {
    "scheduler": "--qxub-scheduler",
    "queue": "--qxub-queue",
    "project": "--qxub-project",
    "fallback_interval_s": "--qxub-fallback-interval-s",
    "job_root": "--qxub-job-root",
}


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
    storage: str | None = None
    scheduler_args: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def resolve_config(
    settings: ExecutorSettings, environ: Mapping[str, str] | None = None
) -> PluginConfig:
    """Settings given to Snakemake win over qxub's configuration files and variables."""
    overrides = {key: getattr(settings, key) for key in OVERRIDDEN_KEYS}
    try:
        configuration = load_configuration(environ=environ).with_overrides(
            overrides, OVERRIDDEN_KEYS
        )
    except ConfigError as error:
        raise WorkflowError(f"qxub: {error}") from None

    return PluginConfig(
        scheduler=configuration["scheduler"],
        job_root=Path(configuration["job_root"]).expanduser().absolute(),
        fallback_interval_s=configuration["fallback_interval_s"],
        grace_period_s=configuration["grace_period_s"],
        log_dir=Path(settings.log_dir or DEFAULT_LOG_DIR).expanduser().absolute(),
        keep_successful_logs=settings.keep_successful_logs,
        queue=configuration["queue"],
        project=configuration["project"],
        storage=configuration["storage"],
        scheduler_args=_split_args(settings.scheduler_args),
        options=configuration.as_options(),
    )


def _split_args(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise WorkflowError(f"qxub: --qxub-scheduler-args {text!r}: {error}") from None
