"""Execution contexts, run for real: environment modules (Debian's environment-modules), and
conda and Apptainer/Singularity through executables on PATH that imitate the real tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import Backend, RunQxub
from script_runner import run_job

from qxub_core.context import build_context
from qxub_core.spec import ContextSpec, JobSpec, SpecError

FAKE_TOOLS = Path(__file__).parent / "fake_tools"
MODULES_INIT = Path("/usr/share/modules/init/bash")
MODULE_FILE = """#%Module1.0
setenv QXUB_DEMO_MODULE loaded-{version}
prepend-path PATH {bin_dir}
"""


def _bin_dir(tmp_path: Path, *tools: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        source = FAKE_TOOLS / ("apptainer" if tool == "singularity" else tool)
        shutil.copy(source, bin_dir / tool)
    return bin_dir


def _environ(bin_dir: Path, **extra: str) -> dict[str, str]:
    left_out = {"CONDA_EXE", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}
    environ = {key: value for key, value in os.environ.items() if key not in left_out}
    environ["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    return {**environ, **extra}


def _run(
    tmp_path: Path, command: tuple[str, ...], context: ContextSpec, environ: dict[str, str]
) -> tuple[int, str, str, str]:
    spec = JobSpec(command=command, context=context, environment=environ, workdir=tmp_path)
    returncode, final = run_job(tmp_path / "job", spec, environ)
    out = (tmp_path / "job" / "out").read_text()
    err = (tmp_path / "job" / "err").read_text()
    return returncode, final, out, err


def test_context_parts_are_checked_before_anything_runs() -> None:
    with pytest.raises(SpecError, match="--env and --sif cannot be combined"):
        build_context(conda_env="x", image="i.sif")
    with pytest.raises(SpecError, match="--bind needs --sif"):
        build_context(binds=("/scratch",))
    with pytest.raises(SpecError, match="--mod: the name is empty"):
        build_context(modules=("",))

    assert build_context(modules=("a",), image="i.sif").kind == "singularity"
    assert build_context(conda_env="e").kind == "conda"
    assert build_context().kind == "none"


@pytest.fixture
def module_path(tmp_path: Path) -> Path:
    if not MODULES_INIT.exists():
        pytest.skip("environment-modules is not installed (apt-get install environment-modules)")
    root = tmp_path / "modulefiles"
    tool_dir = tmp_path / "demo-bin"
    tool_dir.mkdir()
    (tool_dir / "demo-tool").write_text("#!/bin/sh\necho demo tool ran\n")
    (tool_dir / "demo-tool").chmod(0o755)
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "1.0").write_text(MODULE_FILE.format(version="1.0", bin_dir=tool_dir))
    return root


@pytest.mark.timeout(60)
def test_modules_load_in_the_non_interactive_job_shell(tmp_path: Path, module_path: Path) -> None:
    environ = _environ(_bin_dir(tmp_path), MODULEPATH=str(module_path))
    environ.pop("MODULESHOME", None)
    command = ("bash", "-c", 'echo "$QXUB_DEMO_MODULE"; demo-tool')

    returncode, final, out, _ = _run(
        tmp_path, command, build_context(modules=("demo/1.0",)), environ
    )

    assert (returncode, final) == (0, "0\n")
    assert out == "loaded-1.0\ndemo tool ran\n"


@pytest.mark.timeout(60)
def test_unknown_module_stops_the_job_with_125(tmp_path: Path, module_path: Path) -> None:
    environ = _environ(_bin_dir(tmp_path), MODULEPATH=str(module_path))
    context = build_context(modules=("demo/1.0", "nosuch/9"))

    returncode, final, out, err = _run(tmp_path, ("echo", "ran"), context, environ)

    assert returncode == 125
    assert final == "125\ncontext: module load nosuch/9 failed\n"
    assert out == ""
    assert "nosuch/9" in err.splitlines()[0]
    assert err.splitlines()[-1] == "qxub: module load nosuch/9 failed"


@pytest.mark.timeout(60)
def test_conda_environment_is_activated_through_its_shell_hook(tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    (envs / "analysis" / "bin").mkdir(parents=True)
    environ = _environ(_bin_dir(tmp_path, "conda"), QXUB_FAKE_CONDA_ENVS=str(envs))
    command = ("bash", "-c", 'echo "$CONDA_DEFAULT_ENV"; echo "${PATH%%:*}"')

    returncode, final, out, _ = _run(
        tmp_path, command, build_context(conda_env="analysis"), environ
    )

    assert (returncode, final) == (0, "0\n")
    assert out == f"analysis\n{envs / 'analysis' / 'bin'}\n"


@pytest.mark.timeout(60)
def test_unknown_conda_environment_stops_the_job_with_125(tmp_path: Path) -> None:
    environ = _environ(_bin_dir(tmp_path, "conda"), QXUB_FAKE_CONDA_ENVS=str(tmp_path / "envs"))

    returncode, final, out, err = _run(
        tmp_path, ("echo", "ran"), build_context(conda_env="nope"), environ
    )

    assert returncode == 125
    assert final == "125\ncontext: conda activate nope failed\n"
    assert out == ""
    assert "EnvironmentNameNotFound: Could not find conda environment: nope" in err


@pytest.mark.timeout(60)
def test_missing_conda_stops_the_job_with_125(tmp_path: Path) -> None:
    environ = _environ(_bin_dir(tmp_path))

    returncode, final, _, _ = _run(tmp_path, ("echo", "ran"), build_context(conda_env="x"), environ)

    assert returncode == 125
    assert final.startswith("125\ncontext: conda not found")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("runtime", ["apptainer", "singularity"])
def test_command_runs_inside_the_image_with_binds(tmp_path: Path, runtime: str) -> None:
    image = tmp_path / "tools.sif"
    image.write_bytes(b"SIF")
    environ = _environ(_bin_dir(tmp_path, runtime))
    context = build_context(image=str(image), binds=("/scratch", "/data:/in:ro"))
    variable = f"{runtime.upper()}_CONTAINER"
    command = (
        "bash",
        "-c",
        f'echo "${variable}"; echo "$QXUB_FAKE_BINDS"; printf "%s\\n" "$@"',
        "-",
        "a b",
        "",
    )

    returncode, final, out, _ = _run(tmp_path, command, context, environ)

    assert (returncode, final) == (0, "0\n")
    assert out == f"{image}\n/scratch /data:/in:ro\na b\n\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("bound", "options"),
    [
        ({}, ""),
        ({"CUDA_VISIBLE_DEVICES": "0,1"}, "--nv"),
        ({"ROCR_VISIBLE_DEVICES": "0"}, "--rocm"),
    ],
)
def test_gpus_bound_to_the_job_are_passed_into_the_image(
    tmp_path: Path, bound: dict[str, str], options: str
) -> None:
    image = tmp_path / "tools.sif"
    image.write_bytes(b"SIF")
    environ = _environ(_bin_dir(tmp_path, "apptainer"), **bound)
    command = ("bash", "-c", 'printf "%s" "$QXUB_FAKE_GPUS"')

    returncode, _, out, _ = _run(tmp_path, command, build_context(image=str(image)), environ)

    assert (returncode, out) == (0, options)


@pytest.mark.timeout(60)
def test_missing_image_stops_the_job_with_125(tmp_path: Path) -> None:
    environ = _environ(_bin_dir(tmp_path, "apptainer"))
    image = tmp_path / "missing.sif"

    returncode, final, out, err = _run(
        tmp_path, ("echo", "ran"), build_context(image=str(image)), environ
    )

    assert returncode == 125
    assert final == f"125\ncontext: container image {image} does not start\n"
    assert out == ""
    assert f"FATAL:   could not open image {image}" in err


@pytest.mark.timeout(60)
def test_no_container_runtime_stops_the_job_with_125(tmp_path: Path) -> None:
    image = tmp_path / "tools.sif"
    image.write_bytes(b"SIF")

    returncode, final, _, _ = _run(
        tmp_path, ("true",), build_context(image=str(image)), _environ(_bin_dir(tmp_path))
    )

    assert returncode == 125
    assert final == "125\ncontext: neither apptainer nor singularity is on PATH\n"


# Through the real `qxub` command, on every backend the tests can reach ------------------------


@pytest.mark.timeout(180)
def test_qxub_runs_in_a_conda_environment_and_refuses_an_unknown_one(
    run_qxub: RunQxub, backend: Backend, tmp_path: Path
) -> None:
    envs = tmp_path / "envs"
    (envs / "analysis" / "bin").mkdir(parents=True)
    extra = {
        "PATH": f"{_bin_dir(tmp_path, 'conda')}:{backend.env['PATH']}",
        "QXUB_FAKE_CONDA_ENVS": str(envs),
    }

    found = run_qxub(["--env", "analysis", "--", "printenv", "CONDA_DEFAULT_ENV"], extra_env=extra)
    unknown = run_qxub(["--env", "nope", "--", "echo", "ran"], extra_env=extra)

    assert (found.returncode, found.stdout) == (0, b"analysis\n")
    assert unknown.returncode == 125
    assert unknown.stdout == b""
    err = unknown.stderr.decode()
    assert "EnvironmentNameNotFound: Could not find conda environment: nope" in err
    assert "conda activate nope failed" in err.splitlines()[-1]


@pytest.mark.timeout(180)
def test_qxub_runs_in_an_image_and_refuses_a_missing_one(
    run_qxub: RunQxub, backend: Backend, tmp_path: Path
) -> None:
    image = tmp_path / "tools.sif"
    image.write_bytes(b"SIF")
    extra = {"PATH": f"{_bin_dir(tmp_path, 'apptainer')}:{backend.env['PATH']}"}
    line = 'echo "$APPTAINER_CONTAINER:$QXUB_FAKE_BINDS"'

    inside = run_qxub(
        ["--sif", str(image), "--bind", "/tmp", "--", "bash", "-c", line], extra_env=extra
    )
    missing = run_qxub(["--sif", str(tmp_path / "gone.sif"), "--", "true"], extra_env=extra)

    assert (inside.returncode, inside.stdout) == (0, f"{image}:/tmp\n".encode())
    assert missing.returncode == 125
    assert "FATAL:   could not open image" in missing.stderr.decode()


@pytest.mark.timeout(180)
def test_qxub_loads_modules_and_refuses_an_unknown_one(
    run_qxub: RunQxub, module_path: Path
) -> None:
    extra = {"MODULEPATH": str(module_path)}

    loaded = run_qxub(["--mod", "demo/1.0", "--", "printenv", "QXUB_DEMO_MODULE"], extra_env=extra)
    unknown = run_qxub(["--mod", "nosuch/9", "--", "true"], extra_env=extra)

    assert (loaded.returncode, loaded.stdout) == (0, b"loaded-1.0\n")
    assert unknown.returncode == 125
    assert "module load nosuch/9 failed" in unknown.stderr.decode().splitlines()[-1]
