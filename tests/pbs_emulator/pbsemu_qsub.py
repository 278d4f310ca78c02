"""The emulated ``qsub``: options and ``#PBS`` directives, checks, the job record, its MoM."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pbsemu_state import (
    VERSION,
    EmulatorError,
    fault_text,
    home,
    locked,
    next_sequence,
    save_job,
    setting,
    setting_float,
    take_counter,
    user_home,
    user_name,
)

OPTIONS_WITH_VALUE = set("aAcCeJjklmMNopPqrRSuvW")
FLAGS = set("fhIVXz")
USAGE = """usage: qsub [-a date_time] [-A account_string] [-c interval]
\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]
\t[-k keep] [-l resource_list] [-m mail_options] [-M user_list]
\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]
\t[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]
\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]
       qsub --version
"""
KNOWN_RESOURCES = {
    "ncpus", "mem", "vmem", "walltime", "cput", "select", "place", "ngpus", "jobfs", "storage",
    "wd", "software", "mpiprocs", "ompthreads", "nodes", "host", "vnode", "arch", "pmem",
    "soft_walltime", "naccelerators", "accelerator",
}  # fmt: skip
SIZE_RESOURCES = {"mem", "vmem", "jobfs", "pmem"}
COUNT_RESOURCES = {"ncpus", "ngpus", "mpiprocs", "ompthreads", "naccelerators"}
TIME_RESOURCES = {"walltime", "cput", "soft_walltime"}
CHUNK_RESOURCES = ("ncpus", "mem", "vmem", "ngpus", "mpiprocs", "ompthreads")
_SIZE = re.compile(r"^\d+[kmgtp]?[bw]?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][^\s]{0,235}$")
PBS_O_VARIABLES = ("HOME", "LANG", "LOGNAME", "PATH", "MAIL", "SHELL", "TZ")
JOB_MOM = Path(__file__).with_name("pbs_mom")
BYTES_KEPT = "surrogateescape"  # a script is bytes: whatever it holds reaches the job unchanged


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(f"pbs_version = {VERSION}")
        return 0
    try:
        print(submit(argv))
    except EmulatorError as refused:
        print(refused.message, file=sys.stderr)
        return refused.code
    return 0


def submit(argv: list[str]) -> str:
    options, operands = parse_options(argv)
    script, command = _script_and_command(operands)
    directives = _directives(script, options.get("C", "#PBS"))
    for name, value in directives.items():
        if name in ("l", "v"):
            options[name] = value + options[name]  # the command line has the last word
        else:
            options.setdefault(name, value)
    options.setdefault("N", _default_name(operands, command))

    state = home("qsub")
    with locked(state):
        if take_counter(state, "qsub_failures"):
            raise EmulatorError(
                f"qsub: cannot connect to server {setting('SERVER')} (errno=15010)", 255
            )
        record = _new_job(state, options, argv, script, command)
        save_job(state, record)
    _start_mom(state, record)
    notices = fault_text(state, "qsub_notices") or ""
    return notices + record["id"]


def parse_options(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """getopt as qsub does it: every bad option is reported, then the usage, exit 2."""
    options: dict[str, Any] = {"l": [], "v": []}
    errors: list[str] = []
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "-":
        word = argv[index]
        index += 1
        if word == "--":
            return _checked(options, errors), argv[index - 1 :]
        index = _option_word(word, argv, index, options, errors)
    return _checked(options, errors), argv[index:]


def _option_word(
    word: str, argv: list[str], index: int, options: dict[str, Any], errors: list[str]
) -> int:
    position = 1
    while position < len(word):
        letter = word[position]
        position += 1
        if letter in FLAGS:
            options[letter] = True
        elif letter in OPTIONS_WITH_VALUE:
            value = word[position:]
            if not value and index < len(argv):
                value, index = argv[index], index + 1
            _store_option(letter, value, options, errors)
            return index
        else:
            errors.append(f"qsub: invalid option -- '{letter}'")
    return index


def _store_option(letter: str, value: str, options: dict[str, Any], errors: list[str]) -> None:
    if letter in "lv":
        options[letter].append(value)
    elif letter == "a" and not re.match(r"^(\d{2}){0,4}\d{4}(\.\d{2})?$", value):
        errors.append("qsub: illegal -a value")
    elif letter == "N" and not _NAME.match(value):
        errors.append("qsub: illegal -N value")
    elif letter == "j" and value not in ("oe", "eo", "n"):
        errors.append("qsub: illegal -j value")
    else:
        options[letter] = value


def _checked(options: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    if errors:
        raise EmulatorError("\n".join(errors) + "\n" + USAGE.rstrip("\n"), 2)
    return options


def _script_and_command(operands: list[str]) -> tuple[str, list[str]]:
    if operands[:1] == ["--"]:
        if len(operands) < 2:
            raise EmulatorError("qsub: no command given after --\n" + USAGE.rstrip("\n"), 2)
        return "", operands[1:]
    if operands:
        try:
            return Path(operands[0]).read_text(errors=BYTES_KEPT), []
        except OSError:
            raise EmulatorError("qsub: script file:: No such file or directory", 1) from None
    return sys.stdin.buffer.read().decode(errors=BYTES_KEPT), []


def _default_name(operands: list[str], command: list[str]) -> str:
    """PBS names a job after its script file, else ``STDIN``."""
    if operands and not command:
        return Path(operands[0]).name
    return "STDIN"


def _directives(script: str, prefix: str) -> dict[str, Any]:
    """Options from the ``#PBS`` lines before the script's first command."""
    words: list[str] = []
    for line in script.splitlines()[1:] if script.startswith("#!") else script.splitlines():
        stripped = line.strip()
        if stripped.startswith(prefix):
            words.extend(shlex.split(stripped[len(prefix) :]))
        elif stripped and not stripped.startswith("#"):
            break
    options, _ = parse_options(words)
    return options


def _new_job(
    state: Path, options: dict[str, Any], argv: list[str], script: str, command: list[str]
) -> dict[str, Any]:
    if os.getuid() == 0 and setting("REFUSE_ROOT") == "1":
        next_sequence(state)
        raise EmulatorError("qsub: Bad UID for job execution", 175)
    queue, route = _queue(options.get("q"))
    _check_project(options.get("P"))
    resources = _resources(options["l"], state)
    _check_limits(resources)
    sequence = next_sequence(state)
    job_id = f"{sequence}.{setting('SERVER')}"
    (state / "scripts" / f"{sequence}.SC").write_text(script, errors=BYTES_KEPT)
    return {
        "seq": sequence,
        "id": job_id,
        "attrs": _attributes(options, argv, command, job_id, queue, route, resources, script),
        "run": _run_settings(state, options, command),
    }


def _queue(requested: str | None) -> tuple[str, str]:
    queues = [name for name in setting("QUEUES").split(",") if name]
    routes = dict(pair.split("=", 1) for pair in setting("ROUTES").split(",") if "=" in pair)
    name = requested or setting("DEFAULT_QUEUE")
    if name in routes:
        return routes[name], name
    if name in queues:
        return name, name
    raise EmulatorError("qsub: Unknown queue", 170)


def _check_limits(resources: dict[str, str]) -> None:
    limit = seconds_of(setting("MAX_WALLTIME"))
    walltime = seconds_of(resources.get("walltime", "0"))
    if limit is not None and walltime is not None and walltime > limit:
        raise EmulatorError("qsub: Job violates queue and/or server resource limits", 188)


def _check_project(project: str | None) -> None:
    allowed = [name for name in setting("PROJECTS").split(",") if name]
    if project and allowed and project not in allowed:
        raise EmulatorError(
            f"qsub: Error: You are not a member of project {project}. You must be a member "
            "of a project to submit a job under that project.",
            1,
        )


def _resources(requests: list[str], state: Path) -> dict[str, str]:
    given: dict[str, str] = {}
    for request in requests:
        for item in request.split(","):
            name, _, value = item.partition("=")
            given[name.strip()] = value.strip()
    for name, value in given.items():
        _check_resource(name, value, state)
    return _resource_list(given)


def _check_resource(name: str, value: str, state: Path) -> None:
    if name not in KNOWN_RESOURCES:
        next_sequence(state)
        raise EmulatorError(f"qsub: Unknown resource Resource_List.{name}", 187)
    if not _valid_value(name, value):
        next_sequence(state)
        raise EmulatorError(f"qsub: Illegal attribute or resource value Resource_List.{name}", 166)
    if name == "select":
        for chunk in value.split("+"):
            for part in chunk.split(":")[1:]:
                key, _, content = part.partition("=")
                _check_resource(key, content, state)


def _valid_value(name: str, value: str) -> bool:
    if name in SIZE_RESOURCES:
        return bool(_SIZE.match(value))
    if name in COUNT_RESOURCES:
        return value.isdigit()
    if name in TIME_RESOURCES:
        return seconds_of(value) is not None
    if name == "select":
        return all(chunk.split(":")[0].isdigit() for chunk in value.split("+"))
    return bool(value) or name == "wd"


def seconds_of(text: str) -> int | None:
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _resource_list(given: dict[str, str]) -> dict[str, str]:
    listed = {
        name: value.lower() if name in SIZE_RESOURCES else value for name, value in given.items()
    }
    for name in TIME_RESOURCES & listed.keys():
        listed[name] = clock(seconds_of(listed[name]) or 0)
    if "select" in listed:
        listed.update(_select_totals(listed["select"]))
    else:
        listed.setdefault("ncpus", "1")
        chunk = [f"{name}={listed[name]}" for name in CHUNK_RESOURCES if name in listed]
        listed["select"] = "1:" + ":".join(chunk)
        listed["nodect"] = "1"
    listed.setdefault("place", "pack")
    return listed


def _select_totals(select: str) -> dict[str, str]:
    """The job-wide totals PBS derives from the chunks of a select statement."""
    totals = {"ncpus": 0, "nodect": 0}
    mem_kb = 0
    for chunk in select.split("+"):
        count, *parts = chunk.split(":")
        values = dict(part.partition("=")[::2] for part in parts)
        totals["nodect"] += int(count)
        totals["ncpus"] += int(count) * int(values.get("ncpus", "1"))
        mem_kb += int(count) * size_kb(values.get("mem", "0b").lower())
        if "ngpus" in values:
            totals["ngpus"] = totals.get("ngpus", 0) + int(count) * int(values["ngpus"])
    listed = {name: str(total) for name, total in totals.items()}
    if mem_kb:
        listed["mem"] = f"{mem_kb}kb"
    return listed


def size_kb(text: str) -> int:
    """A PBS size in kilobytes (a word is 8 bytes)."""
    match = re.match(r"^(\d+)([kmgtp]?)([bw]?)$", text.lower())
    if match is None:
        return 0
    scale = 1024 ** "bkmgtp".index(match.group(2) or "b")
    return int(match.group(1)) * scale * (8 if match.group(3) == "w" else 1) // 1024


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _attributes(
    options: dict[str, Any],
    argv: list[str],
    command: list[str],
    job_id: str,
    queue: str,
    route: str,
    resources: dict[str, str],
    script: str,
) -> dict[str, Any]:
    now = time.time()
    name = options["N"]
    sequence = job_id.partition(".")[0]
    attributes: dict[str, Any] = {
        "Job_Name": name,
        "Job_Owner": f"{user_name()}@{setting('SUBMIT_HOST')}",
        "job_state": "H" if options.get("h") else "Q",
        "queue": queue,
        "server": setting("SERVER"),
        "Checkpoint": "u",
        "ctime": time.ctime(now),
        "Error_Path": _path(options.get("e"), f"{name}.e{sequence}"),
        "Hold_Types": "u" if options.get("h") else "n",
        "Join_Path": options.get("j", "n"),
        "Keep_Files": options.get("k", "n"),
        "Mail_Points": "a",
        "mtime": time.ctime(now),
        "Output_Path": _path(options.get("o"), f"{name}.o{sequence}"),
        "Priority": "0",
        "qtime": time.ctime(now),
        "Rerunable": "True",
        "Resource_List": resources,
        "substate": "20" if options.get("h") else "10",
        "Variable_List": _variables(options, route),
        "Submit_arguments": " ".join(argv),
        "project": options.get("P", "_pbs_project_default"),
        "Submit_Host": setting("SUBMIT_HOST"),
    }
    umask = _umask(options.get("W", ""))
    if umask is not None:
        attributes["umask"] = umask.lstrip("0") or "0"
    if not options.get("h"):
        attributes["etime"] = time.ctime(now)
    if command:
        attributes["executable"] = f"<jsdl-hpcpa:Executable>{command[0]}</jsdl-hpcpa:Executable>"
        attributes["argument_list"] = "".join(
            f"<jsdl-hpcpa:Argument>{word}</jsdl-hpcpa:Argument>" for word in command[1:]
        )
    return attributes


def _path(given: str | None, default_name: str) -> str:
    if given is None:
        return f"{setting('SUBMIT_HOST')}:{os.getcwd()}/{default_name}"
    if ":" in given.split("/")[0]:
        return given
    absolute = given if given.startswith("/") else f"{os.getcwd()}/{given}"
    return f"{setting('SERVER')}:{absolute}"


def _umask(other_attributes: str) -> str | None:
    for item in other_attributes.split(","):
        name, _, value = item.partition("=")
        if name == "umask":
            return value
    return None


def _variables(options: dict[str, Any], route: str) -> list[list[str]]:
    variables = [
        [f"PBS_O_{name}", os.environ[name]] for name in PBS_O_VARIABLES if name in os.environ
    ]
    variables += [
        ["PBS_O_INTERACTIVE_AUTH_METHOD", "resvport"],
        ["PBS_O_INTERACTIVE_ENCRYPT_METHOD", ""],
        ["PBS_O_WORKDIR", os.getcwd()],
        ["PBS_O_SYSTEM", os.uname().sysname],
    ]
    if options.get("V"):
        variables += [[name, value] for name, value in os.environ.items()]
    for given in options["v"]:
        variables += [_variable(item) for item in given.split(",") if item]
    variables += [["PBS_O_QUEUE", route], ["PBS_O_HOST", setting("SUBMIT_HOST")]]
    return variables


def _variable(item: str) -> list[str]:
    name, equals, value = item.partition("=")
    return [name, value if equals else os.environ.get(name, "")]


def _run_settings(state: Path, options: dict[str, Any], command: list[str]) -> dict[str, Any]:
    """What the MoM needs that is not a PBS attribute, fixed at submission."""
    sigkill_after = fault_text(state, "sigkill_after_s")
    return {
        "command": command,
        "home": user_home(),
        "queue_delay_s": setting_float("QUEUE_DELAY_S"),
        "kill_delay_s": setting_float("KILL_DELAY_S"),
        "walltime_delay_s": setting_float("WALLTIME_DELAY_S"),
        "poll_s": setting_float("MOM_POLL_S"),
        "node_ncpus": int(setting("NCPUS")),
        "never_start": fault_text(state, "never_start") is not None,
        "sigkill_after_s": float(sigkill_after) if sigkill_after else None,
        "held": bool(options.get("h")),
    }


def _start_mom(state: Path, record: dict[str, Any]) -> None:
    with open(state / "logs" / f"{record['seq']}.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, str(JOB_MOM), str(record["seq"])],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PBS_EMULATOR_HOME": str(state)},
        )
