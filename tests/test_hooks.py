"""Provider hooks: which plugin answers, in which order, and how mistakes are reported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from qxub_core.hooks import hookimpl
from qxub_core.plugins import (
    SOURCE_BUILTIN,
    SOURCE_RUN_TIME,
    PluginError,
    Plugins,
    UnknownContextError,
)
from qxub_core.schedulers import UnknownSchedulerError, make_scheduler
from qxub_core.schedulers.base import JobState, Scheduler
from qxub_core.spec import ContextSpec, JobSpec, SpecError
from qxub_core.usage import Usage


def make_adapter(adapter_name: str, detected: bool = False) -> type[Scheduler]:
    class NamedScheduler(Scheduler):
        name = adapter_name
        job_id_variable = "NAMED_JOB_ID"

        @classmethod
        def detect(cls) -> bool:
            return detected

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
    def __init__(self, name: str, detected: bool = False) -> None:
        self.name = name
        self.adapter = make_adapter(name, detected)

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


def test_a_provider_hook_that_raises_names_the_plugin(plugins: Plugins, spec: JobSpec) -> None:
    class Broken:
        @hookimpl
        def qxub_prologue(self) -> list[str]:
            raise KeyError("site_config")

    plugins.register(Broken(), name="broken")

    with pytest.raises(PluginError) as raised:
        plugins.prologue_lines(spec, "local")

    message = str(raised.value)
    assert message.startswith("plugin broken: qxub_prologue raised KeyError: 'site_config' ")
    assert f"(defined at {__file__}:" in message


def test_an_answer_of_the_wrong_kind_is_refused(plugins: Plugins, spec: JobSpec) -> None:
    class OneString:
        @hookimpl
        def qxub_submit_args(self) -> str:
            return "--exclusive"

    plugins.register(OneString(), name="one-string")

    with pytest.raises(PluginError, match="qxub_submit_args returned '--exclusive', expected a"):
        plugins.submit_args(spec, "slurm")


def test_a_plugin_refusing_a_value_is_a_spec_error(plugins: Plugins) -> None:
    class Strict:
        @hookimpl
        def qxub_context(self, name: str) -> None:
            raise SpecError(f"--sif: images must live under /apps, not {name}")

    plugins.register(Strict())

    with pytest.raises(SpecError, match="images must live under /apps"):
        plugins.context("singularity")


def test_a_failing_prologue_plugin_stops_qxub_before_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from qxub_core import cli, plugins

    class Broken:
        @hookimpl
        def qxub_prologue(self) -> list[str]:
            raise RuntimeError("no site config")

    monkeypatch.setenv("QXUB_JOB_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setattr(plugins, "_default", Plugins(entry_points=False))
    plugins.register(Broken(), name="broken")

    code = cli._invoke(["--scheduler", "local", "--", "true"])

    assert code == 125
    assert capsys.readouterr().err.startswith(
        "qxub: plugin broken: qxub_prologue raised RuntimeError: no site config"
    )
    assert not (tmp_path / "jobs").exists()


def test_auto_detection_tries_the_schedulers_plugins_add_first(plugins: Plugins) -> None:
    from qxub_core.schedulers import resolve_scheduler_name

    absent, present = SchedulerPlugin("absent"), SchedulerPlugin("lab", detected=True)
    plugins.register(present, name="present")
    plugins.register(absent, name="absent")

    assert resolve_scheduler_name("auto", plugins) == "lab"


def test_a_plugin_registered_without_a_name_is_named_after_its_class(plugins: Plugins) -> None:
    first = plugins.register(LinesPlugin("a"))
    second = plugins.register(LinesPlugin("b"))

    assert (first, second) == ("LinesPlugin", "LinesPlugin-2")
    assert [info.name for info in plugins.describe()][-2:] == ["LinesPlugin", "LinesPlugin-2"]
