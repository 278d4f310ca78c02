"""The PBS emulator against the recorded OpenPBS 23.06 transcripts: layouts, messages, codes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from pbs_emulator_env import emulator_environment, run_pbs, set_fault, wait_for_state
from pbs_reference import PUBLIC, TRANSCRIPTS, transcript

sys.path.insert(0, str(Path(__file__).parent / "pbs_emulator"))
from pbsemu_format import fold  # noqa: E402

from qxub_core.schedulers import pbs_qstat  # noqa: E402

_ATTRIBUTE = re.compile(r"^    ([A-Za-z_][\w.]*) = ", re.MULTILINE)
# Values that differ from run to run (times, ids of processes, hosts, users, paths).
VOLATILE = re.compile(
    r"time$|^(Job_Owner|session_id|Error_Path|Output_Path|jobdir|Variable_List|comment"
    r"|Submit_arguments|exec_host|resources_used\..*|history_timestamp)$"
)


@pytest.fixture
def pbs(tmp_path: Path) -> dict[str, str]:
    return emulator_environment(tmp_path)


def _attribute_names(text: str) -> list[str]:
    return _ATTRIBUTE.findall(text)


def _stable_values(text: str) -> dict[str, str | None]:
    (job,) = pbs_qstat.parse_text(text).values()
    names = [name for name in _attribute_names(text) if not VOLATILE.search(name)]
    return {name: job.get(name) for name in names}


def _submit(pbs: dict[str, str], *argv: str, cwd: Path | None = None) -> str:
    done = run_pbs(pbs, "qsub", *argv, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _wait_for_session_report(pbs: dict[str, str], job_id: str) -> None:
    """Running jobs show their session id once the MoM has reported on them (about 1 s)."""
    for _ in range(400):
        if "    session_id = " in wait_for_state(pbs, job_id, "R"):
            return
    raise AssertionError(f"job {job_id} never showed its session id")


def _wait_for_comment(pbs: dict[str, str], job_id: str) -> str:
    for _ in range(400):
        text = wait_for_state(pbs, job_id, "Q")
        if "    comment = " in text:
            return text
    raise AssertionError(f"job {job_id} never got a comment")


def _reference_records() -> list[Path]:
    names = ["12_", "20_", "25_", "34_", "39_", "45_", "49_", "53_"]
    return [next(TRANSCRIPTS.glob(f"{name}*")) for name in names]


@pytest.mark.parametrize(
    "path", [*_reference_records(), PUBLIC / "gadi_2025_qstat_fx_finished_exit0.txt"]
)
def test_fold_reproduces_every_recorded_value(path: Path) -> None:
    text = path.read_text()
    for job in pbs_qstat.parse_text(text).values():
        for block in re.findall(r"^    \S+ = .*(?:\n\t.*)*", text, re.MULTILINE):
            name = block[4:].split(" = ", 1)[0]
            value = block.split(" = ", 1)[1].replace("\n\t", "")
            assert fold(name, value) == block, (job.job_id, name)


def test_finished_command_job_matches_the_recording(pbs: dict[str, str], tmp_path: Path) -> None:
    job_id = _submit(pbs, "--", "/bin/echo", "hi", cwd=tmp_path)

    text = wait_for_state(pbs, job_id, "F")

    recorded = transcript("12_").output
    assert job_id == "0.vm"
    assert _attribute_names(text) == _attribute_names(recorded)
    assert _stable_values(text) == _stable_values(recorded)
    assert (tmp_path / "STDIN.o0").read_text() == "hi\n"  # delivered to the submit directory


def test_deleted_running_job_matches_the_recording(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "-N", "sleeper", "--", "/bin/sleep", "300")
    _wait_for_session_report(pbs, job_id)

    assert run_pbs(pbs, "qdel", job_id).returncode == 0
    text = wait_for_state(pbs, job_id, "F")

    recorded = transcript("34_").output
    assert _attribute_names(text) == _attribute_names(recorded)
    assert _stable_values(text) == _stable_values(recorded)
    (job,) = pbs_qstat.parse_text(text).values()
    assert job.get("Exit_status") == "271"
    assert (job.get("comment") or "").endswith(" and terminated by " + (job.get("Job_Owner") or ""))


def test_deleted_held_job_matches_the_recording(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "-h", "-N", "heldjob", "--", "/bin/sleep", "30")

    assert run_pbs(pbs, "qdel", job_id).returncode == 0
    text = run_pbs(pbs, "qstat", "-fx", job_id).stdout

    recorded = transcript("39_").output
    recorded = recorded[recorded.index("Job Id:") :]
    assert _attribute_names(text) == _attribute_names(recorded)
    assert _stable_values(text) == _stable_values(recorded)


def test_walltime_kill_matches_the_recording(pbs: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "walltime.sh"
    script.write_text((TRANSCRIPTS / "walltime.sh.txt").read_text().replace("00:00:05", "00:00:01"))

    job_id = _submit(pbs, "walltime.sh", cwd=tmp_path)
    text = wait_for_state(pbs, job_id, "F")

    recorded = transcript("53_").output.replace("00:00:05", "00:00:01")
    assert _attribute_names(text) == _attribute_names(recorded)
    assert _stable_values(text) == _stable_values(recorded)
    assert "and exceeded resou\n\trce walltime" in text
    assert (tmp_path / "wallkill.o0").read_text().startswith("start ")
    killed = (tmp_path / "wallkill.e0").read_text()
    assert re.fullmatch(r"=>> PBS: job killed: walltime \d+ exceeded limit 1\n", killed)


def test_failed_script_job_matches_the_recording(pbs: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "exit3.sh").write_text((TRANSCRIPTS / "exit3.sh.txt").read_text())

    job_id = _submit(pbs, "exit3.sh", cwd=tmp_path)
    text = wait_for_state(pbs, job_id, "F")

    recorded = transcript("45_").output
    assert _attribute_names(text) == _attribute_names(recorded)
    assert _stable_values(text) == _stable_values(recorded)
    assert (tmp_path / "exit3.o0").read_text() == "about to exit 3\n"
    assert (tmp_path / "exit3.e0").read_text() == "err line\n"


def test_json_layout_matches_the_recording(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "--", "/bin/echo", "hi")
    wait_for_state(pbs, job_id, "F")

    text = run_pbs(pbs, "qstat", "-fx", "-F", "json", job_id).stdout

    recorded = transcript("13_").output
    ours, theirs = json.loads(text), json.loads(recorded)
    assert list(ours) == list(theirs)
    job, recorded_job = ours["Jobs"][job_id], theirs["Jobs"]["3.vm"]
    assert list(job) == list(recorded_job)
    assert {key: type(value) for key, value in job.items()} == {
        key: type(value) for key, value in recorded_job.items()
    }
    assert _shape(text.replace(job_id, "3.vm")) == _shape(recorded)


def _shape(document: str) -> list[str]:
    """Each line with its values blanked: indentation, keys, punctuation and quoting remain.

    The members of Variable_List depend on the submitting environment and are left out.
    """
    document = re.sub(r'("Variable_List":\t\{\n)(\t{4}.*\n)+', r"\1", document)
    return [re.sub(r'(:\t)("[^"]*"|-?\d+)', r"\1V", line) for line in document.splitlines()]


def test_unknown_job_messages_and_header_only_json(pbs: dict[str, str]) -> None:
    plain = run_pbs(pbs, "qstat", "999.vm")
    as_json = run_pbs(pbs, "qstat", "-fx", "-F", "json", "999.vm")

    assert (plain.returncode, plain.stderr, plain.stdout) == (
        153,
        "qstat: Unknown Job Id 999.vm\n",
        "",
    )
    recorded = transcript("18_").output
    header = recorded[recorded.index("{") : recorded.index("}") + 2]
    assert as_json.returncode == 153
    assert re.sub(r"\d{10}", "T", as_json.stdout) == re.sub(r"\d{10}", "T", header)


def test_finished_job_without_history_option(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "--", "/bin/true")
    wait_for_state(pbs, job_id, "F")

    done = run_pbs(pbs, "qstat", "-f", job_id)

    recorded = transcript("11_").output.replace("3.vm", job_id)
    assert (done.returncode, done.stderr) == (35, recorded)


def test_qdel_messages(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "--", "/bin/true")
    wait_for_state(pbs, job_id, "F")

    finished = run_pbs(pbs, "qdel", job_id)
    unknown = run_pbs(pbs, "qdel", "999.vm")
    purged = run_pbs(pbs, "qdel", "-x", job_id)

    assert (finished.returncode, finished.stderr) == (35, f"qdel: Job has finished {job_id}\n")
    assert (unknown.returncode, unknown.stderr) == (153, "qdel: Unknown Job Id 999.vm\n")
    assert purged.returncode == 0
    assert run_pbs(pbs, "qstat", "-x", job_id).returncode == 153


def test_qsub_refusals_match_the_recording(pbs: dict[str, str]) -> None:
    recorded = transcript("70_").output
    commands = [
        ["-l", "foo=1", "--", "/bin/true"],
        ["-l", "walltime=abc", "--", "/bin/true"],
        ["-q", "noqueue", "--", "/bin/true"],
        ["/nonexistent/script.sh"],
        ["--badopt"],
    ]

    transcript_text = ""
    for argv in commands:
        done = run_pbs(pbs, "qsub", *argv)
        transcript_text += done.stderr + f"rc={done.returncode}\n"

    expected = re.sub(r"\d+\.vm\nrc=0\n", "", recorded)  # the accepted ncpus=64 job
    assert transcript_text == expected


def test_root_refused_only_when_asked(tmp_path: Path) -> None:
    refusing = emulator_environment(tmp_path, refuse_root="1")
    recorded = transcript("62_").output

    done = run_pbs(refusing, "qsub", "--", "/bin/echo", "hi")

    if done.returncode == 0:
        pytest.skip("not running as root")
    assert done.stderr + f"rc={done.returncode}\n" == recorded


def test_version(pbs: dict[str, str]) -> None:
    done = run_pbs(pbs, "qstat", "--version")

    assert done.stdout == transcript("92_").output.split("rc=")[0]


def test_listing_matches_the_recording(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "--", "/bin/echo", "hi")
    wait_for_state(pbs, job_id, "F")

    done = run_pbs(pbs, "qstat", "-x")

    recorded = transcript("15_").output.replace("3.vm", job_id)
    assert _without_user(done.stdout) == _without_user(recorded)


def _without_user(listing: str) -> list[str]:
    """The listing with its user column (characters 35 to 52) blanked."""
    return [line[:35] + " " * 18 + line[53:] for line in listing.splitlines()]


def test_output_is_spooled_until_the_end_and_join_merges(
    pbs: dict[str, str], tmp_path: Path
) -> None:
    release = tmp_path / "release"
    wait_for_release = f"until [ -e {release} ]; do sleep 0.05; done"
    job_id = _submit(
        pbs, "-N", "joinjob", "-j", "oe", "-o", str(tmp_path / "joined.log"), "--",
        "/bin/sh", "-c", f"echo to-out; echo to-err >&2; {wait_for_release}",
    )  # fmt: skip
    wait_for_state(pbs, job_id, "R")  # and it stays running until the test releases it

    spooled = Path(pbs["PBS_EMULATOR_HOME"]) / "spool" / f"{job_id}.OU"
    assert not (tmp_path / "joined.log").exists()
    release.touch()
    wait_for_state(pbs, job_id, "F")

    assert (tmp_path / "joined.log").read_text() == "to-out\nto-err\n"
    assert not spooled.exists()
    assert not list(tmp_path.glob("joinjob.e*"))


def test_kept_output_is_written_to_home_while_running(pbs: dict[str, str], tmp_path: Path) -> None:
    job_id = _submit(
        pbs, "-N", "keepjob", "-j", "oe", "-k", "oe", "--",
        "/bin/sh", "-c", "echo out1; echo err1 >&2; sleep 1; echo out2",
    )  # fmt: skip
    kept = Path(pbs["PBS_EMULATOR_USER_HOME"]) / f"keepjob.o{job_id.split('.')[0]}"

    wait_for_state(pbs, job_id, "F")

    assert kept.read_text() == "out1\nerr1\nout2\n"


def test_job_runs_in_home_with_pbs_environment(pbs: dict[str, str], tmp_path: Path) -> None:
    job_id = _submit(
        pbs, "--", "/bin/sh", "-c", 'echo "$PWD|$PBS_JOBID|$PBS_O_WORKDIR|$PBS_ENVIRONMENT"',
        cwd=tmp_path,
    )  # fmt: skip
    wait_for_state(pbs, job_id, "F")

    output = (tmp_path / f"STDIN.o{job_id.split('.')[0]}").read_text()

    assert output == f"{pbs['PBS_EMULATOR_USER_HOME']}|{job_id}|{tmp_path}|PBS_BATCH\n"


def test_resources_used_are_measured(pbs: dict[str, str]) -> None:
    program = "x = bytearray(64 * 1024 * 1024)\nwhile sum(range(10**6)) and len(x): pass"
    burn = f"import time\nstart = time.process_time()\n{program.split(chr(10))[0]}\n" + (
        "while time.process_time() - start < 1.2: sum(range(10**5))\ntime.sleep(0.5)"
    )
    job_id = _submit(pbs, "--", sys.executable, "-c", burn)

    text = wait_for_state(pbs, job_id, "F")

    (job,) = pbs_qstat.parse_text(text).values()
    assert (pbs_qstat.walltime_seconds(job.get("resources_used.cput")) or 0) >= 1
    assert (pbs_qstat.size_bytes(job.get("resources_used.mem")) or 0) >= 64 * 1024**2
    assert (pbs_qstat.size_bytes(job.get("resources_used.vmem")) or 0) >= 64 * 1024**2


def test_queue_delay_keeps_the_job_queued(tmp_path: Path) -> None:
    slow = emulator_environment(tmp_path, queue_delay_s="30")
    job_id = _submit(slow, "--", "/bin/true")

    listing = run_pbs(slow, "qstat", job_id).stdout

    assert listing.splitlines()[2].split()[4] == "Q"
    assert run_pbs(slow, "qdel", job_id).returncode == 0
    (job,) = pbs_qstat.parse_text(run_pbs(slow, "qstat", "-fx", job_id).stdout).values()
    assert (job.get("job_state"), job.get("substate"), job.get("Exit_status")) == ("F", "91", None)


def test_routing_queue_keeps_the_job_id(tmp_path: Path) -> None:
    gadi = emulator_environment(
        tmp_path, queues="normal-exec", routes="normal=normal-exec", default_queue="normal"
    )
    job_id = _submit(gadi, "-q", "normal", "--", "/bin/true")

    (job,) = pbs_qstat.parse_text(wait_for_state(gadi, job_id, "F")).values()

    assert job.get("queue") == "normal-exec"
    assert job.attributes["Variable_List"]["PBS_O_QUEUE"] == "normal"


def test_job_too_big_never_runs(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "-l", "ncpus=4096", "--", "/bin/true")

    text = _wait_for_comment(pbs, job_id)

    assert "Can Never Run: Insufficient amount of resource: ncpus (R: 4096" in text.replace(
        "\n\t", ""
    )


def test_fault_switches(pbs: dict[str, str]) -> None:
    set_fault(pbs, "qstat_failures", "1")
    set_fault(pbs, "qsub_notices", "Notice: jobs are charged to project a000\n")
    set_fault(pbs, "sigkill_after_s", "0.3")

    submitted = run_pbs(pbs, "qsub", "--", "/bin/sleep", "30")
    failed = run_pbs(pbs, "qstat", "-fx", "-F", "json", "0.vm")
    text = wait_for_state(pbs, "0.vm", "F")

    assert submitted.stdout == "Notice: jobs are charged to project a000\n0.vm\n"
    assert failed.returncode == 255
    assert failed.stderr == "qstat: cannot connect to server vm (errno=15010)\n"
    assert "Exit_status = 265" in text


def test_never_start_switch(pbs: dict[str, str]) -> None:
    set_fault(pbs, "never_start", "")

    job_id = _submit(pbs, "--", "/bin/true")

    assert "Not Running" in _wait_for_comment(pbs, job_id).replace("\n\t", "")


def test_history_is_purged_after_its_keeping_time(tmp_path: Path) -> None:
    forgetful = emulator_environment(tmp_path, history_s="0")
    job_id = _submit(forgetful, "--", "/bin/true")

    for _ in range(600):
        done = run_pbs(forgetful, "qstat", "-x", job_id)
        if done.returncode == 153:
            break
    assert done.stderr == f"qstat: Unknown Job Id {job_id}\n"


def test_invalid_json_for_numeric_looking_variables(pbs: dict[str, str]) -> None:
    job_id = _submit(pbs, "-v", "foo=005", "--", "/bin/true")
    wait_for_state(pbs, job_id, "F")

    text = run_pbs(pbs, "qstat", "-fx", "-F", "json", job_id).stdout

    assert '"foo":\t005' in text
    with pytest.raises(pbs_qstat.InvalidQstatJson):
        pbs_qstat.parse_json(text)
