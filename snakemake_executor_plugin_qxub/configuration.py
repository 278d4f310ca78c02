"""The plugin's configuration: its ``--qxub-*`` settings over qxub's own configuration.

qxub's files and ``QXUB_*`` variables are read as for the ``qxub`` command; a setting given to
Snakemake wins over them. qxub's resource defaults (cpus, mem, runtime...) are not applied:
Snakemake's own ``--default-resources`` play that part for workflow jobs.

Every value is checked here, once, before any job is submitted: a value that cannot work is
refused with :class:`SettingError`, one line naming the ``--qxub-*`` option (or the qxub
configuration key) that gave it.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakemake.exceptions import CliException

from qxub_core.config import ConfigError, Configuration, load_configuration
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
# Values that reach a directive as one word: no space, no control character.
ONE_WORD_KEYS = ("queue", "project", "storage")
_ONE_WORD = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class SettingError(CliException):
    """A ``--qxub-*`` option (or qxub configuration value) the run cannot start with.

    Snakemake prints this kind of error as its own command-line errors: one line, no traceback.
    """


@dataclass(frozen=True)
class PluginConfig:
    """Everything the executor reads from its settings, resolved once at start."""

    scheduler: str
    job_root: Path
    fallback_interval_s: float
    grace_period_s: float
    log_dir: Path
    status_interval_s: float = 0.5
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
    configuration = _configuration(settings, environ)
    for key in ONE_WORD_KEYS:
        _check_one_word(configuration, key)

    return PluginConfig(
        scheduler=configuration["scheduler"],
        job_root=Path(configuration["job_root"]).expanduser().absolute(),
        fallback_interval_s=configuration["fallback_interval_s"],
        grace_period_s=configuration["grace_period_s"],
        log_dir=_log_dir(settings.log_dir),
        status_interval_s=_status_interval_s(settings.status_interval_s),
        keep_successful_logs=settings.keep_successful_logs,
        queue=configuration["queue"],
        project=configuration["project"],
        storage=configuration["storage"],
        scheduler_args=_scheduler_args(settings.scheduler_args),
        options=configuration.as_options(),
    )


def _configuration(settings: ExecutorSettings, environ: Mapping[str, str] | None) -> Configuration:
    """qxub's configuration with the settings given to Snakemake over it (paths as text)."""
    overrides = {key: _as_text(getattr(settings, key)) for key in OVERRIDDEN_KEYS}
    try:
        return load_configuration(environ=environ).with_overrides(overrides, OVERRIDDEN_KEYS)
    except ConfigError as error:
        raise SettingError(f"qxub: {error}") from None


def _as_text(value: object) -> object:
    return str(value) if isinstance(value, Path) else value


def _check_one_word(configuration: Configuration, key: str) -> None:
    setting = configuration.settings[key]
    if setting.value is None or _ONE_WORD.match(setting.value):
        return

    where = setting.origin if setting.origin.startswith("--") else f"{key} ({setting.origin})"
    raise SettingError(
        f"qxub: {where}: {setting.value!r} must be one word, without spaces or line breaks"
    )


def _log_dir(value: Path | None) -> Path:
    """The log directory, refused now unless it is, or can become, a writable directory."""
    path = Path(value or DEFAULT_LOG_DIR).expanduser().absolute()
    if _CONTROL_CHARACTER.search(str(path)):
        raise SettingError(f"qxub: --qxub-log-dir: {str(path)!r} contains a control character")

    problem = _directory_problem(path)
    if problem is not None:
        raise SettingError(f"qxub: --qxub-log-dir {path}: {problem}")
    return path


def _directory_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as a directory to write in, or ``None``."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        place = "it" if existing == path else str(existing)
        return f"{place} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        place = "it" if existing == path else str(existing)
        return f"{place} is not writable"
    return None


def _status_interval_s(seconds: float) -> float:
    """Checked as qxub checks its fallback interval: a finite number above zero."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise SettingError(
            f"qxub: --qxub-status-interval-s: {seconds:g} must be more than 0 seconds"
        )
    return seconds


def _scheduler_args(text: str | None) -> tuple[str, ...]:
    """The raw arguments as one shell-quoted text (adapters split it), refused now if they
    cannot be split or hold a line break."""
    if not text:
        return ()
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SettingError(f"qxub: --qxub-scheduler-args {text!r}: {error}") from None
    if any(_CONTROL_CHARACTER.search(word) for word in words):
        raise SettingError(
            f"qxub: --qxub-scheduler-args {text!r}: contains a control character (a line break?)"
        )
    return (text,)
