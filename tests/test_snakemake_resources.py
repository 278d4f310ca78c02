"""Snakemake job resources -> the request qxub makes of the scheduler."""

from __future__ import annotations

import pytest

from qxub_core.spec import Resources
from snakemake_executor_plugin_qxub.resources import (
    MIB,
    ResourceError,
    request_from_resources,
)


def test_threads_become_cpus_without_cpus_per_task() -> None:
    assert request_from_resources({}, threads=4).resources == Resources(cpus=4)


def test_cpus_per_task_wins_over_threads() -> None:
    request = request_from_resources({"cpus_per_task": 8}, threads=2)
    assert request.resources.cpus == 8


def test_snakemake_expanded_memory_reads_mem_mb() -> None:
    # What Snakemake hands over for mem="16GB": mem_mb plus the forms it derives from it.
    resources = {"mem_mb": 16000, "mem": "16 GB", "mem_mib": 15259}
    assert request_from_resources(resources, 1).resources.mem_bytes == 16000 * MIB


@pytest.mark.parametrize(
    ("resources", "mem_bytes"),
    [
        ({"mem_mib": 2048}, 2048 * MIB),
        ({"mem_mib": 2048, "mem": "1GB"}, 2048 * MIB),
        ({"mem": "1.5GB"}, 1536 * MIB),
        ({"mem": "512MB"}, 512 * MIB),
        ({}, None),
    ],
)
def test_memory_forms_in_order_mem_mb_mem_mib_mem(
    resources: dict[str, object], mem_bytes: int | None
) -> None:
    assert request_from_resources(resources, 1).resources.mem_bytes == mem_bytes


def test_runtime_minutes_gpus_and_disk() -> None:
    resources = {"runtime": 90, "gpus": 2, "disk_mb": 10000}
    request = request_from_resources(resources, 1)
    assert request.resources == Resources(cpus=1, walltime_s=5400, gpus=2, disk_bytes=10000 * MIB)


def test_gpu_and_gpus_may_agree() -> None:
    assert request_from_resources({"gpu": 1, "gpus": 1}, 1).resources.gpus == 1
    assert request_from_resources({"gpu": 1}, 1).resources.gpus == 1
    assert request_from_resources({"gpus": 0}, 1).resources.gpus is None


def test_qxub_resources_for_what_snakemake_has_no_name_for() -> None:
    resources = {
        "qxub_queue": "gpuvolta",
        "qxub_project": "ab12",
        "qxub_storage": "scratch/ab12+gdata/ab12",
        "qxub_resources": "jobfs=10GB, ngpus=1",
        "qxub_scheduler_args": "-W umask=027 -m 'a e'",
    }
    request = request_from_resources(resources, 1)
    assert request.queue == "gpuvolta"
    assert request.project == "ab12"
    assert request.storage == "scratch/ab12+gdata/ab12"
    assert request.raw_resources == ("jobfs=10GB", "ngpus=1")
    assert request.scheduler_args == ("-W umask=027 -m 'a e'",)


def test_unrelated_resources_are_ignored() -> None:
    resources = {"_cores": 1, "_nodes": 1, "tmpdir": "/tmp", "load": 3}
    assert request_from_resources(resources, 1).resources == Resources(cpus=1)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"mem_mb": 0}, "mem_mb: 0 is not a positive whole number"),
        ({"mem_mb": "lots"}, "mem_mb: 'lots' is not a whole number"),
        ({"mem": "16"}, "mem: cannot read '16'"),
        ({"runtime": -5}, "runtime: -5 is negative"),
        ({"cpus_per_task": 0}, "cpus_per_task: 0 is not a positive whole number"),
        ({"gpus": 2, "gpu": 1}, "gpus=2 and gpu=1 disagree"),
        ({"gpus": 1.5}, "gpus: 1.5 is not a whole number"),
        ({"qxub_queue": "two words"}, "qxub_queue: 'two words' must be one word: it holds a space"),
        (
            {"qxub_project": "a\n#PBS -q x"},
            "qxub_project: 'a\\n#PBS -q x' must be one word: it holds a line break",
        ),
        ({"qxub_resources": "jobfs"}, "qxub_resources: 'jobfs' is not of the form key=value"),
        ({"qxub_scheduler_args": "-m 'a"}, "qxub_scheduler_args: cannot split"),
        ({"qxub_queu": "normal"}, "unknown resource 'qxub_queu'; qxub reads qxub_queue"),
    ],
)
def test_invalid_resources_are_refused_with_their_name(
    resources: dict[str, object], message: str
) -> None:
    with pytest.raises(ResourceError, match=None) as caught:
        request_from_resources(resources, 1)
    assert message in str(caught.value)
