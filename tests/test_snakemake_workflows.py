"""Snakemake's own workflow tests for executor plugins, run through ``--executor qxub``.

They run in this process through Snakemake's API, on every backend of the ``backend`` fixture:
its environment (job root, short intervals, the scheduler's commands) becomes this process's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Backend
from snakemake.common.tests import TestWorkflowsLocalStorageBase

from snakemake_executor_plugin_qxub import ExecutorSettings


@pytest.mark.timeout(300)
class TestWorkflowsOnEachBackend(TestWorkflowsLocalStorageBase):
    __test__ = True
    backend_name = "local"

    @pytest.fixture(autouse=True)
    def _on_backend(
        self, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, value in backend.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        self.backend_name = backend.name

    def get_executor(self) -> str:
        return "qxub"

    def get_executor_settings(self) -> ExecutorSettings:
        return ExecutorSettings(
            scheduler=self.backend_name, fallback_interval_s=1.0, status_interval_s=0.2
        )
