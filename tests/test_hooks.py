"""Provider hooks: which plugin answers, in which order, and how mistakes are reported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from qxub_core.hooks import hookimpl
from qxub_core.plugins import SOURCE_BUILTIN, SOURCE_RUN_TIME, Plugins, UnknownContextError
from qxub_core.schedulers import UnknownSchedulerError, make_scheduler
from qxub_core.schedulers.base import JobState, Scheduler
from qxub_core.spec import ContextSpec, JobSpec
from qxub_core.usage import Usage


def make_adapter(adapter_name: str) -> type[Scheduler]:
    class NamedScheduler(Scheduler):
        name = adapter_name
        job_id_variable = "NAMED_JOB_ID"

        def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
            return []

        def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
            return [adapter_name, str(script)]

        def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
            return "1"

        def cancel(self, job_ids: Sequence[str]) -> None:
            return None

        def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
            return {}

        def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
            return None

    return NamedScheduler


class SchedulerPlugin:
    def __init__(self, name: str) -> None:
        self.name = name
        self.adapter = make_adapter(name)

    @hookimpl
    def qxub_scheduler(self, name: str) -> type[Scheduler] | None:
        return self.adapter if name == self.name else None

    @hookimpl
    def qxub_scheduler_names(self) -> list[str]:
        return [self.name]


class EchoContext:
    def __init__(self, word: str) -> None:
        self.word = word

    def activation_lines(self, context: ContextSpec) -> list[str]:
        return [f"echo {self.word} {context.image}"]

    def command_prefix(self, context: ContextSpec) -> list[str]:
        return [self.word]


class ContextPlugin:
    def __init__(self, kind: str, word: str) -> None:
        self.kind = kind
        self.context = EchoContext(word)

    @hookimpl
    def qxub_context(self, name: str) -> EchoContext | None:
        return self.context if name == self.kind else None

    @hookimpl
    def qxub_context_names(self) -> list[str]:
        return [self.kind]


class LinesPlugin:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    @hookimpl
    def qxub_prologue(self, spec: JobSpec, scheduler: str) -> list[str]:
        return [f"echo {self.tag} before {spec.name} on {scheduler}"]

    @hookimpl
    def qxub_epilogue(self, scheduler: str) -> list[str]:
        return [f"echo {self.tag} after"]

    @hookimpl
    def qxub_submit_args(self, scheduler: str) -> list[str] | None:
        return ["--comment", self.tag] if scheduler == "slurm" else None


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(entry_points=False)


@pytest.fixture
def spec(tmp_path: Path) -> JobSpec:
    return JobSpec(command=("true",), name="step", workdir=tmp_path)


def test_builtin_scheduler_names_are_listed_first(plugins: Plugins) -> None:
    plugins.register(SchedulerPlugin("site"))

    assert plugins.scheduler_names() == ["local", "pbs", "slurm", "site"]


def test_a_plugin_provides_a_scheduler_by_its_own_name(plugins: Plugins) -> None:
    site = SchedulerPlugin("site")
    plugins.register(site)

    assert plugins.scheduler_class("site") is site.adapter


def test_a_later_plugin_overrides_a_builtin_and_an_earlier_plugin(plugins: Plugins) -> None:
    first, second = SchedulerPlugin("local"), SchedulerPlugin("local")
    plugins.register(first, name="first")
    assert plugins.scheduler_class("local") is first.adapter

    plugins.register(second, name="second")
    assert plugins.scheduler_class("local") is second.adapter

    plugins.unregister("second")
    assert plugins.scheduler_class("local") is first.adapter


def test_an_unknown_scheduler_lists_every_valid_name(plugins: Plugins) -> None:
    plugins.register(SchedulerPlugin("site"))

    with pytest.raises(UnknownSchedulerError) as raised:
        plugins.scheduler_class("sge")

    valid = "auto, local, pbs, slurm, site"
    assert str(raised.value) == f"unknown scheduler 'sge'; choose one of {valid}"


def test_make_scheduler_builds_the_plugin_adapter_with_the_options(plugins: Plugins) -> None:
    site = SchedulerPlugin("site")
    plugins.register(site)

    adapter = make_scheduler("site", {"queue": "express"}, plugins=plugins)

    assert isinstance(adapter, site.adapter)
    assert adapter.options == {"queue": "express"}


def test_a_plugin_provides_a_context_and_a_later_one_overrides_it(plugins: Plugins) -> None:
    plugins.register(ContextPlugin("podman", "first"), name="first")
    assert plugins.context("podman").command_prefix(ContextSpec(kind="podman")) == ["first"]

    plugins.register(ContextPlugin("podman", "second"), name="second")
    context = plugins.context("podman")

    assert context.activation_lines(ContextSpec(kind="podman", image="x.sif")) == [
        "echo second x.sif"
    ]


def test_an_unknown_context_lists_every_valid_kind(plugins: Plugins) -> None:
    plugins.register(ContextPlugin("podman", "p"))

    with pytest.raises(UnknownContextError, match="unknown execution context 'docker'") as raised:
        plugins.context("docker")

    assert str(raised.value).endswith("podman")


def test_script_lines_and_submit_args_come_in_registration_order(
    plugins: Plugins, spec: JobSpec
) -> None:
    plugins.register(LinesPlugin("site"))
    plugins.register(LinesPlugin("lab"))

    assert plugins.prologue_lines(spec, "pbs") == [
        "echo site before step on pbs",
        "echo lab before step on pbs",
    ]
    assert plugins.epilogue_lines(spec, "pbs") == ["echo site after", "echo lab after"]
    assert plugins.submit_args(spec, "slurm") == ["--comment", "site", "--comment", "lab"]
    assert plugins.submit_args(spec, "pbs") == []


def test_a_plugin_not_matching_the_specification_is_refused(plugins: Plugins) -> None:
    class Misspelled:
        @hookimpl
        def qxub_job_finished(self, job_id: str, exitcode: int) -> None:
            return None

    with pytest.raises(pluggy.PluginValidationError, match="exitcode"):
        plugins.register(Misspelled(), name="misspelled")

    assert "misspelled" not in [info.name for info in plugins.describe()]


def test_an_unknown_hook_name_is_refused(plugins: Plugins) -> None:
    class Typo:
        @hookimpl
        def qxub_job_finshed(self, job_id: str) -> None:
            return None

    with pytest.raises(pluggy.PluginValidationError, match="qxub_job_finshed"):
        plugins.register(Typo(), name="typo")


def test_describe_says_where_each_plugin_comes_from(plugins: Plugins) -> None:
    plugins.register(LinesPlugin("lab"), name="lab")

    described = {info.name: info for info in plugins.describe()}

    assert list(described) == ["qxub-builtin", "lab"]
    assert described["qxub-builtin"].source == SOURCE_BUILTIN
    assert "qxub_scheduler" in described["qxub-builtin"].hooks
    assert described["lab"].source == SOURCE_RUN_TIME
    assert described["lab"].origin == __file__
    assert described["lab"].hooks == ("qxub_epilogue", "qxub_prologue", "qxub_submit_args")


def test_provider_hooks_pass_only_the_arguments_a_plugin_declares(
    plugins: Plugins, spec: JobSpec
) -> None:
    seen: list[Mapping[str, Any]] = []

    class Partial:
        @hookimpl
        def qxub_prologue(self, scheduler: str) -> list[str]:
            seen.append({"scheduler": scheduler})
            return []

    plugins.register(Partial())
    plugins.prologue_lines(spec, "local")

    assert seen == [{"scheduler": "local"}]
