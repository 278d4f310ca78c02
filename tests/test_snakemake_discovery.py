"""Snakemake finds ``--executor qxub``, from the editable install and from a regular one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from snakemake_workflow import SNAKEMAKE

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 240
# What a build of the project reads.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_PACKAGES = ("qxub_core", "snakemake_executor_plugin_qxub")

# Run with a bare sys.path (no site, so no editable-install path entry), then ask Snakemake's
# registry where the plugin came from.
FIND_PLUGIN = """
import sys
sys.path[:0] = sys.argv[1:]
from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry
plugin = ExecutorPluginRegistry().get_plugin("qxub")
print(sys.modules[plugin.executor.__module__].__file__)
print(" ".join(info["cliarg"] for info in plugin.get_settings_info()))
"""


def test_snakemake_lists_the_executor_and_its_options() -> None:
    done = subprocess.run(
        [str(SNAKEMAKE), "--help"], capture_output=True, text=True, timeout=120, check=True
    )

    assert "qxub" in done.stdout
    for option in ("--qxub-scheduler", "--qxub-fallback-interval-s", "--qxub-log-dir"):
        assert option in done.stdout


@pytest.mark.timeout(BUILD_TIMEOUT_S * 2)
def test_a_regular_install_is_found(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel))

    venv_site = sysconfig.get_paths()["purelib"]
    done = subprocess.run(
        [sys.executable, "-S", "-c", FIND_PLUGIN, str(site), venv_site],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    module_file, options = done.stdout.splitlines()
    assert Path(module_file).is_relative_to(site)
    assert "--qxub-scheduler" in options.split()


def _build_wheel(dist: Path) -> Path:
    """The project's wheel, built from a copy so that the checkout gains no ``build/``."""
    source = dist.parent / "source"
    _copy_project(source)

    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(source))
    (wheel,) = dist.glob("qxub-*.whl")
    return wheel


def _copy_project(source: Path) -> None:
    source.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, source / name)
    for name in PROJECT_PACKAGES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT_S,
    )
