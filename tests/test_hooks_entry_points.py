"""Entry-point discovery, proven with a real distribution installed by pip.

The distribution in ``tests/plugin_dist`` declares two entry points in the ``qxub`` group: a
working site plugin and one naming an attribute that does not exist. It is installed into a
directory of its own (never into the test environment), which a test then puts on the path; it
is built from a copy, so that the build leaves nothing behind in ``tests/``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qxub_core.plugins import SOURCE_ENTRY_POINT, Plugins

PLUGIN_DIST = Path(__file__).parent / "plugin_dist"
QXUB = Path(sys.executable).with_name("qxub")
Done = subprocess.CompletedProcess[str]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site-packages")
    build = tmp_path_factory.mktemp("plugin-build")
    source = shutil.copytree(PLUGIN_DIST, build / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        + [str(source)],
        check=True,
        timeout=240,
        env={**os.environ, "TMPDIR": str(build), "PIP_NO_INPUT": "1"},
    )
    return target


@pytest.fixture
def installed(site_packages: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(site_packages))
    yield site_packages
    sys.modules.pop("qxub_site_plugin", None)


def test_pip_installed_the_distribution_with_its_entry_points(site_packages: Path) -> None:
    [dist_info] = site_packages.glob("qxub_site_plugin-1.2.3.dist-info")

    entry_points = (dist_info / "entry_points.txt").read_text()

    assert "[qxub]" in entry_points
    assert "site = qxub_site_plugin:plugin" in entry_points


def test_an_installed_plugin_is_loaded_from_its_entry_point(installed: Path) -> None:
    plugins = Plugins()

    described = {info.name: info for info in plugins.describe()}

    assert described["site"].source == SOURCE_ENTRY_POINT
    assert described["site"].origin == (
        "qxub-site-plugin 1.2.3, qxub: site = qxub_site_plugin:plugin"
    )
    assert plugins.scheduler_class("site").__module__ == "qxub_site_plugin"
    assert "site" in plugins.scheduler_names()


def test_an_entry_point_that_fails_to_load_is_skipped_with_a_warning(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="qxub"):
        plugins = Plugins()

    assert "site-broken" not in [info.name for info in plugins.describe()]
    assert [record.getMessage() for record in caplog.records] == [
        "plugin site-broken (qxub_site_plugin:no_such_plugin) not loaded: AttributeError: "
        "module 'qxub_site_plugin' has no attribute 'no_such_plugin'"
    ]


def test_an_entry_point_plugin_contributes_script_lines(installed: Path, tmp_path: Path) -> None:
    from qxub_core.spec import JobSpec

    plugins = Plugins()
    spec = JobSpec(command=("true",), workdir=tmp_path)

    assert plugins.prologue_lines(spec, "local") == ["echo site prologue"]


def test_a_plugin_registered_at_run_time_overrides_an_entry_point(installed: Path) -> None:
    from qxub_core.hooks import hookimpl

    class Override:
        @hookimpl
        def qxub_scheduler(self, name: str) -> type | None:
            return int if name == "site" else None

    plugins = Plugins()
    plugins.register(Override(), name="override")

    assert plugins.scheduler_class("site") is int  # type: ignore[comparison-overlap]


def test_a_fresh_process_finds_the_plugin_through_the_default_plugins(
    site_packages: Path,
) -> None:
    program = (
        "from qxub_core.plugins import default_plugins\n"
        "for info in default_plugins().describe():\n"
        "    print(info.name, info.source, sep='|')\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(site_packages)}

    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=environment, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["qxub-builtin|built-in", "site|entry point"]
    assert "site-broken" in done.stderr


def run_qxub(
    site_packages: Path, tmp_path: Path, *args: str, submit_args: str = "", observer: str = ""
) -> Done:
    environment = {
        **os.environ,
        "PYTHONPATH": str(site_packages),
        "QXUB_JOB_ROOT": str(tmp_path / "jobs"),
        "QXUB_POLL_INTERVAL_S": "0.05",
        "QXUB_SITE_TEST_SUBMIT_ARGS": submit_args,
        "QXUB_SITE_TEST_OBSERVER": observer,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    return subprocess.run(
        [str(QXUB), *args], capture_output=True, text=True, env=environment, timeout=60
    )


def test_qxub_plugins_lists_what_is_loaded_and_from_where(
    site_packages: Path, tmp_path: Path
) -> None:
    done = run_qxub(site_packages, tmp_path, "plugins")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("qxub-builtin  (built-in: ")
    assert lines[0].endswith("builtin_plugin.py)")
    assert lines[2:] == [
        "site  (entry point: qxub-site-plugin 1.2.3, qxub: site = qxub_site_plugin:plugin)",
        "    hooks: qxub_job_started, qxub_prologue, qxub_scheduler, qxub_scheduler_names, "
        "qxub_submit_args",
        "schedulers: local, pbs, slurm, site",
        "contexts: none, conda, modules, singularity",
    ]
    assert "plugin site-broken (qxub_site_plugin:no_such_plugin) not loaded" in done.stderr


def test_plugin_submit_args_show_in_the_dry_run(site_packages: Path, tmp_path: Path) -> None:
    done = run_qxub(
        site_packages,
        tmp_path,
        *("--scheduler", "pbs", "--dry", "--", "true"),
        submit_args="-W group_list=lab",
    )

    assert done.returncode == 0, done.stderr
    assert "# qsub -W group_list=lab " in done.stdout


def test_plugin_submit_args_that_collide_are_refused_before_submission(
    site_packages: Path, tmp_path: Path
) -> None:
    done = run_qxub(
        site_packages,
        tmp_path,
        *("--scheduler", "pbs", "--cpus", "2", "--", "true"),
        submit_args="-l ncpus=8",
    )

    assert done.returncode == 2
    assert "ncpus=8" in done.stderr and "--cpus" in done.stderr
    assert not (tmp_path / "jobs").exists()


def test_qxub_exits_with_the_job_while_an_installed_observer_blocks(
    site_packages: Path, tmp_path: Path
) -> None:
    done = run_qxub(
        site_packages, tmp_path, *("--scheduler", "local", "--", "echo", "hi"), observer="block"
    )

    assert (done.returncode, done.stdout) == (0, "hi\n")
    assert "observers still busy after 1s; not waiting for them" in done.stderr


def test_an_installed_observer_that_raises_costs_one_warning(
    site_packages: Path, tmp_path: Path
) -> None:
    done = run_qxub(
        site_packages,
        tmp_path,
        *("--scheduler", "local", "--", "sh", "-c", "exit 4"),
        observer="raise",
    )

    assert (done.returncode, done.stdout) == (4, "")
    [warning] = [line for line in done.stderr.splitlines() if "raised" in line]
    assert "plugin site: qxub_job_started raised RuntimeError: site dashboard unreachable" in (
        warning
    )
