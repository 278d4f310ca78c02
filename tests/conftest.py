"""Shared fixtures: a private job root, short intervals, the real ``qxub`` in a subprocess, and
the ``backend`` fixture that runs end-to-end tests on every scheduler that is available.

Adding a backend takes one function in :data:`BACKENDS`: it receives the test's request and the
environment ``qxub`` will run with, adjusts that environment (for example puts an emulator first
on ``PATH``) or skips the test with a clear reason when the backend cannot run here.
``QXUB_REQUIRE_CLUSTER=1`` turns such a skip of a cluster backend into a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from script_runner import end_started_jobs

from qxub_core.environment import capture_environment, write_environment_file
from qxub_core.jobdir import create_job_dir
from qxub_core.schedulers import make_scheduler
from qxub_core.schedulers.base import Scheduler
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.script import render_script, write_script
from qxub_core.spec import JobSpec, Resources

QXUB = Path(sys.executable).with_name("qxub")


def pytest_configure(config: pytest.Config) -> None:
    """Hand the processes under test the signal dispositions of an ordinary prompt.

    A test run started with SIGHUP or SIGINT ignored (``nohup``, a background job of a script)
    would pass that on: an ignored signal stays ignored across exec, and bash cannot trap a
    signal that was ignored when it started. The tests that send these signals would then hang.
    """
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


TESTS_DIR = Path(__file__).resolve().parent
PROCESS_TIMEOUT_S = 120.0
CANCEL_TIMEOUT_S = 30.0

SHORT_INTERVALS = {
    "QXUB_POLL_INTERVAL_S": "0.05",
    "QXUB_FALLBACK_INTERVAL_S": "1",
    "QXUB_GRACE_PERIOD_S": "1",
}

BackendSetup = Callable[[pytest.FixtureRequest, dict[str, str]], None]


def _local_backend(request: pytest.FixtureRequest, env: dict[str, str]) -> None:
    """The local backend needs nothing: it is always there."""


def _pbs_backend(request: pytest.FixtureRequest, env: dict[str, str]) -> None:
    """The PBS emulator first on PATH, with its own state for this test only.

    PBS runs a job in a login shell in the user's home: the test gets a home of its own, so that
    no developer's dotfiles run in its jobs.
    """
    from pbs_emulator_env import emulator_environment

    tmp_path = request.getfixturevalue("tmp_path")
    env.update(emulator_environment(tmp_path, isolated_home=False))
    env["HOME"] = str(tmp_path / "pbs-home")
    request.addfinalizer(lambda: _end_accounting_watchers(env))


def _end_accounting_watchers(env: dict[str, str]) -> None:
    """PBS jobs have an accounting watcher each; it stops when its job directory goes."""
    import shutil

    shutil.rmtree(env["QXUB_JOB_ROOT"], ignore_errors=True)


def _slurm_backend(request: pytest.FixtureRequest, env: dict[str, str]) -> None:
    """The real Slurm test cluster (tests/cluster/slurm-up.sh), found through SLURM_CONF."""
    from slurm_cluster import slurm_cluster_problem

    problem = slurm_cluster_problem()
    if problem is not None:
        require_or_skip(problem)


BACKENDS: dict[str, BackendSetup] = {
    "local": _local_backend,
    "pbs": _pbs_backend,
    "slurm": _slurm_backend,
}
CLUSTER_BACKENDS = frozenset({"slurm"})  # marked ``cluster``: they need a real scheduler


def require_or_skip(reason: str) -> None:
    """Skip a test whose backend is not running here, or fail when CI requires the cluster."""
    if os.environ.get("QXUB_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"QXUB_REQUIRE_CLUSTER=1 but {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Backend:
    name: str
    env: dict[str, str]


def skip_where_walltime_is_minutes(backend: Backend) -> None:
    """Skip a seconds-long walltime test on Slurm, whose limits are whole minutes (checked every
    30 s); test_slurm_e2e.py runs the suite's one job over a Slurm time limit."""
    if backend.name == "slurm":
        pytest.skip("Slurm time limits are whole minutes; test_slurm_e2e.py has the one such job")


@pytest.fixture
def job_root(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
def qxub_env(job_root: Path, tmp_path: Path) -> dict[str, str]:
    """The environment ``qxub`` runs with: a private job root and config, short intervals."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("QXUB_") or key == "QXUB_REQUIRE_CLUSTER"
    }
    env.update(SHORT_INTERVALS)
    env["QXUB_JOB_ROOT"] = str(job_root)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    return env


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.cluster) if name in CLUSTER_BACKENDS else name
        for name in sorted(BACKENDS)
    ]
)
def backend(request: pytest.FixtureRequest, qxub_env: dict[str, str]) -> Backend:
    BACKENDS[request.param](request, qxub_env)
    return Backend(request.param, qxub_env)


@pytest.fixture
def backend_scheduler(
    backend: Backend, job_root: Path, monkeypatch: pytest.MonkeyPatch
) -> Scheduler:
    """The backend's adapter in this process, seeing what qxub sees (an emulator on ``PATH``)."""
    for key, value in backend.env.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return make_scheduler(backend.name, {"job_root": str(job_root)})


RunQxub = Callable[..., subprocess.CompletedProcess[bytes]]
StartQxub = Callable[..., subprocess.Popen[bytes]]


def _qxub_command(backend: Backend, args: Sequence[str]) -> list[str]:
    return [str(QXUB), "--scheduler", backend.name, *args]


@pytest.fixture
def run_qxub(backend: Backend, tmp_path: Path) -> RunQxub:
    """Run the real ``qxub --scheduler <backend> ARGS`` to its end; stdout and stderr captured."""

    def run(
        args: Sequence[str],
        *,
        timeout_s: float = PROCESS_TIMEOUT_S,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            _qxub_command(backend, args),
            env={**backend.env, **(extra_env or {})},
            cwd=cwd or tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
        )

    return run


@pytest.fixture
def start_qxub(backend: Backend, tmp_path: Path) -> Iterator[StartQxub]:
    """Start the real ``qxub`` in the background (stdout and stderr piped); killed if left."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        args: Sequence[str], *, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            _qxub_command(backend, args),
            env={**backend.env, **(extra_env or {})},
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        _end_qxub(process)


def _end_qxub(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a qxub still running, so that it cancels its job; SIGKILL it if that fails."""
    if process.poll() is None:
        process.terminate()
    try:
        process.communicate(timeout=CANCEL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=PROCESS_TIMEOUT_S)


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail the test (never hang) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what or condition}")
        time.sleep(0.02)


def only_job_dir(job_root: Path) -> Path:
    """The single job directory a test's one qxub run created."""
    job_dirs = [path for path in job_root.iterdir() if not path.name.startswith(".")]
    assert len(job_dirs) == 1, job_dirs
    return job_dirs[0]


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in a process group."""
    from qxub_core.schedulers.local_supervisor import group_alive as live

    return live(pgid)


@dataclass
class LocalJob:
    job_id: str
    job_dir: Path
    spec: JobSpec


@pytest.fixture
def local_scheduler(job_root: Path) -> LocalScheduler:
    return LocalScheduler({"job_root": str(job_root), "local_kill_grace_s": 2.0})


@pytest.fixture
def submit_local(
    local_scheduler: LocalScheduler, job_root: Path
) -> Iterator[Callable[..., LocalJob]]:
    """Render and submit a command to the local backend, as qxub would, without monitoring.

    Jobs a test leaves running are cancelled at its end.
    """
    jobs: list[LocalJob] = []

    def submit(*command: str, **resources: int) -> LocalJob:
        spec = JobSpec(
            command=command,
            environment=capture_environment(),
            resources=Resources(**resources),
            workdir=job_root.parent,
        )
        job_dir = create_job_dir(job_root, "test")
        write_environment_file(job_dir, spec.environment or {})
        write_script(job_dir, render_script(spec, local_scheduler, job_dir))
        job_id = local_scheduler.submit(job_dir / "job.sh", job_dir, spec)
        jobs.append(LocalJob(job_id, job_dir, spec))
        return jobs[-1]

    yield submit
    running = [job.job_id for job in jobs]
    local_scheduler.cancel(running)
    for job in jobs:
        wait_for(lambda job=job: _ended(local_scheduler, job.job_id), what="cleanup")


def _ended(scheduler: LocalScheduler, job_id: str) -> bool:
    return scheduler.query([job_id])[job_id].phase.value in ("ended", "unknown")


def _untracked_top_level_files(repository: Path) -> set[str] | None:
    """The untracked, unignored files at the top of the checkout (where tests run, and so where
    a stray job output would land); ``None`` outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repository), "ls-files", "--others", "--exclude-standard"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return {name for name in done.stdout.splitlines() if "/" not in name}


@pytest.fixture(scope="session", autouse=True)
def repository_stays_clean() -> Iterator[None]:
    """Tests write under their own temporary directories only: a file a test run leaves at the
    top of the checkout (a job's output delivered to the submit directory, say) fails the
    session. Files created deeper in the tree are left to the developer editing them."""
    repository = TESTS_DIR.parent
    before = _untracked_top_level_files(repository)
    yield

    after = _untracked_top_level_files(repository)
    if before is not None and after is not None and after - before:
        pytest.fail(f"the test run wrote into the checkout: {sorted(after - before)}")


@pytest.fixture(autouse=True)
def job_scripts_end_with_their_test() -> Iterator[None]:
    """Whatever a job script started by the test left running is killed, pass or fail."""
    yield

    end_started_jobs()


@pytest.fixture(autouse=True)
def local_jobs_end_with_their_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A local job left running in the test's job root (its qxub killed, say) is killed with its
    whole process group, pass or fail."""
    job_root = request.getfixturevalue("job_root") if "job_root" in request.fixturenames else None
    yield

    if job_root is not None:
        _kill_local_jobs(job_root)


def _kill_local_jobs(job_root: Path) -> None:
    from qxub_core.schedulers.local_supervisor import read_state

    for state_file in job_root.glob("*/local_state.json"):
        state = read_state(state_file.parent)
        if state is None or not state.job_pgid or not group_alive(state.job_pgid):
            continue
        with suppress(ProcessLookupError):
            os.killpg(state.job_pgid, signal.SIGKILL)
