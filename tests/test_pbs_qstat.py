"""The qstat parsers over every recorded `qstat -f`/`-fx` output, text and JSON."""

from __future__ import annotations

import pytest
from pbs_reference import public, transcript

from qxub_core.schedulers import pbs_qstat
from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.pbs_qstat import QstatJob

OPENPBS_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/pbs/bin"

# transcript prefix -> job id, state, exit status, exit code for qxub, reason
OPENPBS_RECORDS = [
    ("12_", "3.vm", "F", "0", 0, None),
    ("20_", "4.vm", "R", None, None, None),
    ("25_", "4.vm", "F", "0", 0, None),
    ("34_", "5.vm", "F", "271", 143, "job killed by SIGTERM"),
    ("39_", "6.vm", "F", None, 125, "job deleted before it ran"),
    ("45_", "7.vm", "F", "3", 3, None),
    ("49_", "8.vm", "R", None, None, None),
    ("53_", "8.vm", "F", "-29", 124, "job killed: walltime limit 00:00:05 exceeded"),
]


def _only_job(jobs: dict[str, QstatJob]) -> QstatJob:
    assert len(jobs) == 1
    return next(iter(jobs.values()))


def _end(job: QstatJob) -> tuple[int | None, str | None]:
    if pbs_qstat.job_phase(job.get("job_state") or "") is not JobPhase.ENDED:
        return None, None
    end = pbs_qstat.job_end(job)
    return end.exit_code, end.reason


@pytest.mark.parametrize(("prefix", "job_id", "state", "status", "code", "reason"), OPENPBS_RECORDS)
def test_openpbs_text_records(
    prefix: str, job_id: str, state: str, status: str | None, code: int | None, reason: str | None
) -> None:
    job = _only_job(pbs_qstat.parse_text(transcript(prefix).output))

    assert job.job_id == job_id
    assert job.get("job_state") == state
    assert job.get("Exit_status") == status
    assert _end(job) == (code, reason)
    assert job.attributes["Variable_List"]["PBS_O_PATH"] == OPENPBS_PATH
    assert job.attributes["Variable_List"]["PBS_O_INTERACTIVE_ENCRYPT_METHOD"] == ""


COMPARED_ATTRIBUTES = (
    "job_state", "Exit_status", "substate", "resources_used.mem", "exec_host",
    "Resource_List.walltime", "Resource_List.select", "stime", "obittime",
)  # fmt: skip
JSON_OF_TEXT = [("13_", "12_"), ("26_", "25_"), ("35_", "34_"), ("46_", "45_"), ("50_", "49_"),
                ("54_", "53_")]  # fmt: skip


@pytest.mark.parametrize(("json_prefix", "text_prefix"), JSON_OF_TEXT)
def test_openpbs_json_says_what_the_text_says(json_prefix: str, text_prefix: str) -> None:
    from_json = _only_job(pbs_qstat.parse_json(transcript(json_prefix).output))
    from_text = _only_job(pbs_qstat.parse_text(transcript(text_prefix).output))

    assert from_json.job_id == from_text.job_id
    for name in COMPARED_ATTRIBUTES:
        assert from_json.get(name) == from_text.get(name), name
    assert from_json.attributes["Variable_List"] == from_text.attributes["Variable_List"]
    assert _end(from_json) == _end(from_text)


def test_folded_comment_keeps_the_space_before_the_fold() -> None:
    job = _only_job(pbs_qstat.parse_text(transcript("34_").output))

    expected = "Job run at Fri Dec 04 at 15:18 on (vm:ncpus=1) and terminated by pbsuser@localhost"
    assert job.get("comment") == expected


def test_fold_mid_word_is_joined_exactly() -> None:
    job = _only_job(pbs_qstat.parse_text(transcript("53_").output))

    assert job.get(
        "comment",
    ) == ("Job run at Fri Dec 04 at 15:19 on (vm:ncpus=1) and exceeded resource walltime")
    assert job.get("resources_used.vmem") == "10380kb"
    assert pbs_qstat.size_bytes(job.get("resources_used.mem")) == 7308 * 1024


def test_unknown_job_json_is_a_header_without_jobs() -> None:
    output = transcript("17_").output
    document = output[output.index("{") :]

    assert pbs_qstat.parse_json(document) == {}


def test_gadi_record() -> None:
    job = _only_job(pbs_qstat.parse_text(public("gadi_2025_qstat_fx_finished_exit0.txt")))

    assert job.job_id == "137011321.gadi-pbs"
    assert job.get("queue") == "normal-exec"
    assert job.get("Resource_List.select") == (
        "1:ncpus=4:mpiprocs=4:mem=3221225472:job_tags=normal:jobfs=104857600"
    )
    assert pbs_qstat.size_bytes(job.get("Resource_List.mem")) == 3 * 1024**3
    assert job.get("Resource_List.storage") == "scratch/a000"
    variables = job.attributes["Variable_List"]
    assert variables["PBS_O_PATH"] == (
        "/home/578/ab1234/.local/bin:/home/578/ab1234/bin:/opt/pbs/default/bin:/opt/nci/bin:"
        "/opt/bin:/opt/Modules/v4.3.0/bin:/bin:/usr/bin:/usr/local/sbin:/usr/sbin:"
        "/opt/pbs/default/bin"
    )
    assert variables["PBS_O_QUEUE"] == "normal"
    assert variables["PBS_JOBFS"] == "/jobfs/137011321.gadi-pbs"
    assert job.get("comment") == (
        "Job run at Fri Mar 14 at 16:57 on (gadi-cpu-clx-2119:ncpus=4:mem=3145728kb:"
        "jobfs=102400kb) and finished"
    )
    assert _end(job) == (0, None)


def test_gadi_like_running_record() -> None:
    job = _only_job(pbs_qstat.parse_text(public("gadi_like_aiida_qstat_f_running.txt")))

    assert pbs_qstat.job_phase(job.get("job_state") or "") is JobPhase.RUNNING
    variables = job.attributes["Variable_List"]
    assert variables["_"] == "/opt/pbs/default/bin/qsub"
    assert variables["MY_VARIABLE_2"] == "2"
    assert variables["PATH"].startswith("/path/to/scripts:/path/to/scripts/bin:/home/path/to/bin")


def test_four_space_folds() -> None:
    text = public("openpbs_azhop_qstat_fx_finished_exit0_spacefold.txt")
    job = _only_job(pbs_qstat.parse_text(text))

    assert job.attributes["Variable_List"]["PBS_O_PATH"] == (
        "/anfhome/clusteradmin/spack/bin:/bin:/usr/bin:/usr/local/sbin:/usr/sbin:"
        "/opt/cycle/jetpack/bin:/opt/pbs/bin:/anfhome/clusteradmin/.local/bin:"
        "/anfhome/clusteradmin/bin"
    )
    assert job.get("Keep_Files") == "oed"
    assert pbs_qstat.size_bytes(job.get("resources_used.mem")) == 29380680 * 1024
    assert _end(job) == (0, None)


def test_eight_space_folds_in_a_partial_record() -> None:
    text = public("pbspro_2019_qstat_f_exiting_E_8spacefold_PARTIAL.txt")
    job = _only_job(pbs_qstat.parse_text(text))

    assert job.get("Job_Owner") == (
        "username01@ip-0a000204.aaaaaaaaaaaaaaaaaaaaaaaaaa.xx.internal.cloudapp.net"
    )
    assert job.get("Output_Path") == (
        "ip-0a000204.aaaaaaaaaaaaaaaaaaaaaaaaaa.xx.internal.cloudapp.net:"
        "/home/username01/hpcg31_4.out"
    )
    assert pbs_qstat.job_phase(job.get("job_state") or "") is JobPhase.RUNNING


def test_two_jobs_with_long_tab_folded_environments() -> None:
    jobs = pbs_qstat.parse_text(public("pbspro_2019_qstat_f_two_running_jobs_tabfold.txt"))

    assert list(jobs) == ["1871052.host1-srv04", "1871206.host1-srv04"]
    second = jobs["1871206.host1-srv04"]
    assert second.get("Submit_arguments") == (
        "-N CMAQ_GFS_09h -q workq -j oe -o /data/data1/aqf1/aqf_pbs/run_model/control/pbs_log/"
        "09h/20190725/cmaq_cctm_KNU_27_01.4.out -l select=3:ncpus=24:mpiprocs=24 -Wblock=true "
        "-V ./v4.7.1/work/cctm/run.AQFv1.PBS.09h.csh"
    )
    variables = second.attributes["Variable_List"]
    assert variables["logdir"] == "/data/data1/aqf1/aqf_pbs/run_model/control/pbs_log/09h/20190725"
    assert variables["MANPATH"].endswith("/opt/xcat/share/man::")
    assert variables["LESSOPEN"] == "|/usr/bin/lesspipe.sh %s"
    assert jobs["1871052.host1-srv04"].get("Error_Path") == (
        "host1-srv04:/data1/user1/aqf/run_model/camx/v6.20/Runscripts/CAMx_UM_09h.e1871052"
    )


def test_old_walltime_kill_271_is_a_walltime_kill() -> None:
    job = _only_job(
        pbs_qstat.parse_text(public("pbspro_2020_qstat_xf_failed_walltime_exit271.txt"))
    )

    assert job.get("comment") == (
        "Job run at Wed Jun 24 at 15:33 on (cl-prd-hpcn001:ncpus=1) and failed"
    )
    assert _end(job) == (124, "job killed: walltime limit 00:00:30 exceeded")


def test_interactive_partial_record() -> None:
    job = _only_job(pbs_qstat.parse_text(public("openpbs_19.1.1_qstat_ft_interactive_PARTIAL.txt")))

    assert job.get("Error_Path") == "/dev/pts/0"
    assert job.get("Resource_List.place") == "scatter:excl"


@pytest.mark.parametrize(
    "name",
    [
        "torque_4.2.8_qstat_f_completed_exit0.txt",
        "torque_4.2.8_qstat_f_walltime_killed_exit_minus11.txt",
    ],
)
def test_torque_records_parse_but_their_state_is_not_pbs(name: str) -> None:
    job = _only_job(pbs_qstat.parse_text(public(name)))

    assert job.get("job_state") == "C"
    assert pbs_qstat.job_phase("C") is JobPhase.UNKNOWN
    assert job.get("exit_status") is not None
    assert job.get("submit_args") is not None


def test_held_job_json() -> None:
    job = _only_job(pbs_qstat.parse_json(public("openpbs_19.0.0_qstat_xf_json_held_H.json")))

    assert job.job_id == "157.pbs"
    assert job.get("job_state") == "H"
    assert pbs_qstat.job_phase("H") is JobPhase.QUEUED
    assert job.get("Resource_List.walltime") == "00:02:00"
    assert job.get("substate") == "20"


def test_metacentrum_running_json_keeps_numbers_as_text() -> None:
    text = public("pbspro_19.0.0_metacentrum_qstat_xf_json_running_R.json")
    job = _only_job(pbs_qstat.parse_json(text))

    assert job.job_id == "12860476.meta-pbs.metacentrum.cz"
    assert job.attributes["Variable_List"]["PBS_RESC_MEM"] == "4294967296"
    assert pbs_qstat.size_bytes(job.get("Resource_List.mem")) == 8 * 1024**3
    assert pbs_qstat.job_phase(job.get("job_state") or "") is JobPhase.RUNNING


def test_raw_newlines_from_exported_functions() -> None:
    text = (
        "Job Id: 42.srv\n"
        "    Job_Name = funcs\n"
        "    job_state = F\n"
        "    Variable_List = PBS_O_HOME=/home/u,BASH_FUNC_module%%=() {  eval `/usr/bi\n"
        "\tn/modulecmd bash $*`\n"
        "},BASH_FUNC_greet%%=() {  echo hello;\n"
        "    echo bye\n"
        "},PBS_O_QUEUE=workq\n"
        "    Exit_status = 0\n"
        "\n"
        "Job Id: 43.srv\n"
        "    job_state = R\n"
    )

    jobs = pbs_qstat.parse_text(text)

    variables = jobs["42.srv"].attributes["Variable_List"]
    assert variables["BASH_FUNC_module%%"] == "() {  eval `/usr/bin/modulecmd bash $*`\n}"
    assert variables["BASH_FUNC_greet%%"] == "() {  echo hello;\n    echo bye\n}"
    assert variables["PBS_O_QUEUE"] == "workq"
    assert jobs["42.srv"].get("Exit_status") == "0"
    assert jobs["43.srv"].get("job_state") == "R"


def test_unquoted_numeric_looking_value_makes_json_invalid() -> None:
    document = (
        '{\n\t"timestamp":\t1796397498,\n\t"pbs_version":\t"23.06.06",\n\t"pbs_server":\t"vm",\n'
        '\t"Jobs":\t{\n\t\t"3.vm":\t{\n\t\t\t"job_state":\t"F",\n'
        '\t\t\t"Variable_List":\t{\n\t\t\t\t"foo":\t005\n\t\t\t},\n'
        '\t\t\t"Exit_status":\t0\n\t\t}\n\t}\n}\n'
    )

    with pytest.raises(pbs_qstat.InvalidQstatJson):
        pbs_qstat.parse_json(document)


def test_one_bad_block_never_hides_the_others() -> None:
    text = (
        "Job Id: 1.srv\nnot an attribute\n    job_state = R\n\nJob Id: 2.srv\n    job_state = F\n"
    )

    jobs = pbs_qstat.parse_text(text)

    assert list(jobs) == ["2.srv"]


def test_every_state_letter_is_in_the_table() -> None:
    assert set(pbs_qstat.JOB_STATES) == set("QHWTRBEFXSUM")
    phases = {letter: pbs_qstat.job_phase(letter) for letter in pbs_qstat.JOB_STATES}
    assert {letter for letter, phase in phases.items() if phase is JobPhase.ENDED} == {"F", "X"}
    assert phases["M"] is JobPhase.QUEUED
    assert phases["E"] is JobPhase.RUNNING


@pytest.mark.parametrize(
    ("status", "substate", "code", "reason"),
    [
        ("0", "92", 0, None),
        ("255", "93", 255, None),
        ("265", "93", 137, "job killed by SIGKILL"),
        ("271", "91", 143, "job killed by SIGTERM"),
        ("-29", "93", 124, "job killed: walltime limit 00:00:05 exceeded"),
        ("-27", "93", 125, "job killed: mem limit exceeded (PBS exit status -27)"),
        (
            "-3",
            "93",
            125,
            "the job could not be started and was to be retried (PBS exit status -3)",
        ),
        ("-99", "93", 125, "PBS gave no meaning for it (PBS exit status -99)"),
        (None, "91", 125, "job deleted before it ran"),
    ],
)
def test_exit_status_mapping(
    status: str | None, substate: str, code: int, reason: str | None
) -> None:
    attributes: dict[str, object] = {
        "job_state": "F",
        "substate": substate,
        "Resource_List": {"walltime": "00:00:05"},
        "resources_used": {"walltime": "00:00:01"},
    }
    if status is not None:
        attributes["Exit_status"] = status

    end = pbs_qstat.job_end(QstatJob("1.srv", attributes))

    assert (end.exit_code, end.reason) == (code, reason)


@pytest.mark.parametrize(
    ("text", "size"),
    [("0kb", 0), ("512b", 512), ("7036kb", 7036 * 1024), ("3221225472b", 3 * 1024**3),
     ("8gb", 8 * 1024**3), ("2tb", 2 * 1024**4), ("10mb", 10 * 1024**2), ("16w", 128),
     ("4mw", 4 * 1024**2 * 8), ("12", 12), ("3GB", 3 * 1024**3), ("bogus", None)],
)  # fmt: skip
def test_sizes_are_parsed_exactly(text: str, size: int | None) -> None:
    assert pbs_qstat.size_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:00:05", 5), ("48:00:00", 172800), ("10:00", 600), ("90", 90)]
)
def test_walltimes(text: str, seconds: int) -> None:
    assert pbs_qstat.walltime_seconds(text) == seconds
