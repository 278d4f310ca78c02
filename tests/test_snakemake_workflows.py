"""Snakemake's own workflow tests for executor plugins, run through ``--executor qxub``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from snakemake.common.tests import TestWorkflowsLocalStorageBase

from snakemake_executor_plugin_qxub import ExecutorSettings


@pytest.fixture(autouse=True)
def _short_intervals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("QXUB_JOB_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setenv("QXUB_GRACE_PERIOD_S", "1")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.mark.timeout(300)
class TestWorkflowsOnLocalBackend(TestWorkflowsLocalStorageBase):
    __test__ = True

    def get_executor(self) -> str:
        return "qxub"

    def get_executor_settings(self) -> ExecutorSettings:
        return ExecutorSettings(scheduler="local", fallback_interval_s=1.0, status_interval_s=0.2)
