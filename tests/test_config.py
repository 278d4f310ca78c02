"""Layered configuration: precedence and sources, refusals, and the ``qxub config`` commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from qxub_process import isolated_environ, run_plain_qxub

from qxub_core.config import (
    ConfigError,
    Configuration,
    load_configuration,
    write_config_value,
)


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Paths of the system, user and project files, with the project two levels up."""
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "system"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "project" / "src" / "deep"
    work.mkdir(parents=True)
    return {
        "system": tmp_path / "system" / "qxub" / "config.yaml",
        "user": tmp_path / "user" / "qxub" / "config.yaml",
        "project": tmp_path / "project" / ".qxub.yaml",
        "cwd": work,
    }


def _write(path: Path, values: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))


def _load(layers: dict[str, Path], **environ: str) -> Configuration:
    return load_configuration(cwd=layers["cwd"], environ=environ)


def test_defaults_and_their_source(layers: dict[str, Path], tmp_path: Path) -> None:
    configuration = _load(layers)

    assert configuration["scheduler"] == "auto"
    assert configuration["poll_interval_s"] == 0.1
    assert configuration["fallback_interval_s"] == 60.0
    assert configuration["grace_period_s"] == 10.0
    assert configuration["pbs_resource_form"] == "select"
    assert configuration["job_root"] == tmp_path / "data" / "qxub" / "jobs"
    assert {setting.source for setting in configuration.settings.values()} == {"default"}


def test_each_layer_overrides_the_one_before(layers: dict[str, Path]) -> None:
    _write(layers["system"], {"queue": "q-system", "project": "p-system", "cpus": 1, "mem": "1GB"})
    _write(layers["user"], {"queue": "q-user", "project": "p-user", "cpus": 2})
    _write(layers["project"], {"queue": "q-project", "project": "p-project"})

    configuration = _load(layers, QXUB_QUEUE="q-env").with_overrides(
        {"queue": None, "project": None, "cpus": None}, {"queue": "--queue"}
    )
    overridden = configuration.with_overrides({"queue": "q-option"}, {"queue": "--queue"})

    assert configuration.settings["mem"].describe_source() == f"system file {layers['system']}"
    assert configuration.settings["cpus"].describe_source() == f"user file {layers['user']}"
    assert configuration["cpus"] == 2
    assert configuration.settings["project"].describe_source() == (
        f"project file {layers['project']}"
    )
    assert configuration["queue"] == "q-env"
    assert configuration.settings["queue"].describe_source() == "environment QXUB_QUEUE"
    assert overridden["queue"] == "q-option"
    assert overridden.settings["queue"].describe_source() == "command line --queue"


def test_nearest_project_file_wins(layers: dict[str, Path]) -> None:
    _write(layers["project"], {"queue": "outer"})
    _write(layers["cwd"].parent / ".qxub.yaml", {"queue": "inner"})

    assert _load(layers)["queue"] == "inner"


def test_unknown_key_in_a_file_is_refused_with_the_valid_keys(layers: dict[str, Path]) -> None:
    _write(layers["user"], {"queue": "x", "walltime": "1h"})

    with pytest.raises(ConfigError) as refused:
        _load(layers)

    message = str(refused.value)
    assert message.startswith(f"config file {layers['user']}: unknown key 'walltime'")
    assert "valid keys: scheduler, job_root, poll_interval_s" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("queue: [unclosed\n", "not valid YAML (line 2)"),
        ("- a\n- b\n", "expected 'key: value' lines"),
    ],
)
def test_unreadable_file_is_one_clear_error(layers: dict[str, Path], text: str, words: str) -> None:
    layers["project"].write_text(text)

    with pytest.raises(ConfigError, match=re.escape(words)) as refused:
        _load(layers)

    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("poll_interval_s", 0, "must be more than 0 seconds"),
        ("grace_period_s", -1, "must be at least 0 seconds"),
        ("fallback_interval_s", "soon", "is not a number of seconds"),
        ("cpus", 0, "is not a whole number of at least 1"),
        ("cpus", 2.5, "is not a whole number"),
        ("mem", "16", "cannot read '16'"),
        ("runtime", "90", "a bare number is ambiguous"),
        ("pbs_resource_form", "chunky", "is not one of select, plain"),
        ("scheduler", "p b s", "is not a scheduler name"),
        ("queue", "", "the value is empty"),
        ("queue", ["a"], "expected text"),
    ],
)
def test_bad_values_in_files_name_file_and_key(
    layers: dict[str, Path], key: str, value: object, words: str
) -> None:
    _write(layers["user"], {key: value})

    with pytest.raises(ConfigError, match=words) as refused:
        _load(layers)

    assert str(refused.value).startswith(f"{layers['user']}: {key}")


def test_typed_values_are_read_from_files_and_variables(layers: dict[str, Path]) -> None:
    _write(layers["user"], {"grace_period_s": 0, "cpus": "8", "job_root": "~/scratch/jobs"})

    configuration = _load(layers, QXUB_POLL_INTERVAL_S="0.05", QXUB_GPUS="0")

    assert configuration["poll_interval_s"] == 0.05
    assert configuration["grace_period_s"] == 0.0
    assert configuration["cpus"] == 8
    assert configuration["gpus"] == 0
    assert configuration["job_root"] == Path("~/scratch/jobs").expanduser()


def test_bad_variable_is_refused_naming_it(layers: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="QXUB_FALLBACK_INTERVAL_S: 'never'"):
        _load(layers, QXUB_FALLBACK_INTERVAL_S="never")


def test_variables_that_are_not_keys_are_left_alone(layers: dict[str, Path]) -> None:
    configuration = _load(
        layers,
        QXUB_LOG_LEVEL="DEBUG",
        QXUB_REQUIRE_CLUSTER="1",
        QXUB_LOCAL_JOB_ID="host.1.abc",
        QXUB_SOMETHING_ELSE="x",
        QXUB_QUEUE="",
    )

    assert {setting.source for setting in configuration.settings.values()} == {"default"}


def test_written_value_keeps_the_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "config.yaml"
    write_config_value(path, "queue", "normal")

    stored = write_config_value(path, "poll_interval_s", "0.2")

    assert stored == 0.2
    assert yaml.safe_load(path.read_text()) == {"queue": "normal", "poll_interval_s": 0.2}


def test_writing_an_unknown_key_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"

    with pytest.raises(ConfigError, match="unknown key 'colour'; valid keys: scheduler"):
        write_config_value(path, "colour", "blue")

    assert not path.exists()


# The `qxub config` commands, run for real --------------------------------------------------


@pytest.mark.timeout(120)
def test_config_commands_set_get_list_and_path(tmp_path: Path) -> None:
    environ = isolated_environ(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    user_file = tmp_path / "xdg-config" / "qxub" / "config.yaml"

    set_user = run_plain_qxub(["config", "set", "mem", "16GB"], environ, work)
    set_project = run_plain_qxub(["config", "set", "--project", "queue", "express"], environ, work)
    got = run_plain_qxub(["config", "get", "queue"], environ, work)
    got_source = run_plain_qxub(["config", "get", "--source", "mem"], environ, work)
    listed = run_plain_qxub(["config", "list"], environ, work)
    paths = run_plain_qxub(["config", "path"], environ, work)

    assert (set_user.returncode, set_project.returncode) == (0, 0)
    assert set_user.stdout == b""
    assert set_user.stderr == f"qxub: mem = 16GB in {user_file}\n".encode()
    assert yaml.safe_load(user_file.read_text()) == {"mem": "16GB"}
    assert yaml.safe_load((work / ".qxub.yaml").read_text()) == {"queue": "express"}
    assert got.stdout == b"express\n"
    assert got_source.stdout == f"16GB\t(user file {user_file})\n".encode()
    lines = listed.stdout.decode().splitlines()
    assert f"queue               = express  (project file {work / '.qxub.yaml'})" in lines
    assert "poll_interval_s     = 0.05  (environment QXUB_POLL_INTERVAL_S)" in lines
    assert "project             = (unset)  (default)" in lines
    assert paths.stdout.decode().splitlines() == [
        f"system file  {tmp_path / 'xdg-system' / 'qxub' / 'config.yaml'}  (absent)",
        f"user file    {user_file}",
        f"project file {work / '.qxub.yaml'}",
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["config", "set", "walltime", "1h"], "unknown key 'walltime'; valid keys: scheduler"),
        (["config", "set", "poll_interval_s", "-1"], "must be more than 0 seconds"),
        (["config", "get", "colour"], "unknown key 'colour'; valid keys: scheduler"),
    ],
)
def test_config_commands_refuse_bad_keys_and_values(
    tmp_path: Path, args: list[str], words: str
) -> None:
    done = run_plain_qxub(args, isolated_environ(tmp_path), tmp_path)

    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.count(b"\n") == 1
    assert words in done.stderr.decode()
    assert not (tmp_path / "xdg-config").exists()


def test_a_key_given_twice_in_a_file_is_refused_naming_file_and_key(
    layers: dict[str, Path],
) -> None:
    layers["user"].parent.mkdir(parents=True)
    layers["user"].write_text("queue: normal\nmem: 1GB\nqueue: express\n")

    with pytest.raises(ConfigError) as refused:
        _load(layers)

    assert str(refused.value) == (
        f"config file {layers['user']}: key 'queue' is given twice (line 3)"
    )


def test_job_root_expands_variables_and_refuses_an_unset_one(
    layers: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QXUB_TEST_SCRATCH", str(tmp_path / "scratch"))
    monkeypatch.delenv("QXUB_TEST_UNSET", raising=False)
    _write(layers["user"], {"job_root": "${QXUB_TEST_SCRATCH}/jobs"})

    assert _load(layers)["job_root"] == tmp_path / "scratch" / "jobs"

    _write(layers["user"], {"job_root": "$QXUB_TEST_UNSET/jobs"})
    with pytest.raises(ConfigError) as refused:
        _load(layers)
    assert str(refused.value) == (
        f"{layers['user']}: job_root: '$QXUB_TEST_UNSET/jobs' uses $QXUB_TEST_UNSET, "
        "which is not set"
    )


@pytest.mark.timeout(60)
def test_an_unknown_scheduler_in_a_file_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / ".qxub.yaml").write_text("scheduler: nosuch\n")

    done = run_plain_qxub(["--", "true"], isolated_environ(tmp_path), tmp_path)

    assert done.returncode == 2
    assert done.stderr.decode() == (
        f"qxub: {tmp_path / '.qxub.yaml'}: scheduler: unknown scheduler 'nosuch'; "
        "choose one of auto, local, pbs, slurm\n"
    )
    assert not (tmp_path / "jobs").exists()


@pytest.mark.timeout(60)
def test_config_alone_shows_its_help_and_exits_2(tmp_path: Path) -> None:
    done = run_plain_qxub(["config"], isolated_environ(tmp_path), tmp_path)

    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2
    assert done.stdout == b""
    assert lines[0] == "Usage: qxub config [OPTIONS] COMMAND [ARGS]..."
    assert any(line.split()[:1] == ["list"] for line in lines)
    assert any(line.split()[:1] == ["set"] for line in lines)


def test_a_job_root_with_a_line_break_is_refused(layers: dict[str, Path]) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(layers, QXUB_JOB_ROOT="/tmp/a\nb")

    assert str(refused.value) == (
        "QXUB_JOB_ROOT: '/tmp/a\\nb' contains a control character (a line break?)"
    )
