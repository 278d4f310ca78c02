"""Snakemake executor plugin for qxub: ``snakemake --executor qxub``.

Snakemake finds this package by its name and reads three things from it: the executor class,
the common settings that tell Snakemake how jobs are run, and the ``--qxub-*`` settings.
"""

from snakemake_executor_plugin_qxub.executor import Executor
from snakemake_executor_plugin_qxub.settings import ExecutorSettings, common_settings

__all__ = ["Executor", "ExecutorSettings", "common_settings"]
