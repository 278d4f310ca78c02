"""The plugin's settings: each field becomes a ``--qxub-<field>`` option of ``snakemake``.

Snakemake builds its argument parser from these dataclass fields at run time, so their types
are written with ``typing.Optional`` (which it understands) and this module must not postpone
annotations.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from snakemake_interface_executor_plugins.settings import CommonSettings, ExecutorSettingsBase

SCHEDULER_CHOICES = ("auto", "local", "pbs", "slurm")
DEFAULT_STATUS_INTERVAL_S = 0.5


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """What a user can set for ``snakemake --executor qxub``; unset values come from qxub's
    configuration (files and ``QXUB_*`` variables), as for the ``qxub`` command."""

    scheduler: Optional[str] = field(
        default=None,
        metadata={
            "help": "Scheduler to submit to: auto (the first of PBS or Slurm found, else "
            "local), local, pbs or slurm. Default: qxub's 'scheduler' setting.",
            "env_var": True,
            "choices": SCHEDULER_CHOICES,
            "metavar": "NAME",
        },
    )
    queue: Optional[str] = field(
        default=None,
        metadata={
            "help": "Queue (PBS) or partition (Slurm) for every job; a rule's 'qxub_queue' "
            "resource overrides it.",
            "env_var": True,
            "metavar": "QUEUE",
        },
    )
    project: Optional[str] = field(
        default=None,
        metadata={
            "help": "Project (PBS) or account (Slurm) charged for every job; a rule's "
            "'qxub_project' resource overrides it.",
            "env_var": True,
            "metavar": "PROJECT",
        },
    )
    fallback_interval_s: Optional[float] = field(
        default=None,
        metadata={
            "help": "Seconds between the batched scheduler queries that find jobs which ended "
            "without writing their status file (killed, lost). Status files are read far "
            "more often and cost no scheduler command. Default: qxub's "
            "'fallback_interval_s' setting (60).",
            "env_var": True,
            "metavar": "SECONDS",
        },
    )
    status_interval_s: float = field(
        default=DEFAULT_STATUS_INTERVAL_S,
        metadata={
            "help": "Seconds between two reads of the active jobs' status files (no scheduler "
            "command is run for these). Replaces --seconds-between-status-checks.",
            "env_var": True,
            "metavar": "SECONDS",
        },
    )
    log_dir: Optional[Path] = field(
        default=None,
        metadata={
            "help": "Directory for each job's log (<rule>/<wildcards>/<job id>.log) and for "
            "the efficiency summary. Default: .snakemake/qxub_logs.",
            "env_var": True,
            "metavar": "DIR",
        },
    )
    keep_successful_logs: bool = field(
        default=False,
        metadata={
            "help": "Keep the logs of jobs that succeeded (by default only failed jobs' logs "
            "are kept).",
            "env_var": True,
        },
    )
    scheduler_args: Optional[str] = field(
        default=None,
        metadata={
            "help": "Raw arguments added to every submit command, as one shell-quoted string "
            "written with '=' since it starts with '-' (e.g. --qxub-scheduler-args='-l "
            "jobfs=10GB'); a rule's 'qxub_scheduler_args' resource adds more.",
            "env_var": True,
            "metavar": "ARGS",
        },
    )
    job_root: Optional[Path] = field(
        default=None,
        metadata={
            "help": "Directory under which each job gets its private job directory. "
            "Default: qxub's 'job_root' setting.",
            "env_var": True,
            "metavar": "DIR",
        },
    )


common_settings = CommonSettings(
    non_local_exec=True,
    implies_no_shared_fs=False,
    job_deploy_sources=False,
    pass_default_storage_provider_args=True,
    pass_default_resources_args=True,
    # The job script restores the whole submitting environment, declared variables included.
    pass_envvar_declarations_to_cmd=False,
    auto_deploy_default_storage_provider=False,
    init_seconds_before_status_checks=0,
    pass_group_args=True,
)
