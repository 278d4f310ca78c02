"""The job script: scheduler directives, the status-file protocol, the context and the command.

Every job, on every backend, runs the same script, assembled from the sections below in a fixed
order. The script reports through the status files of :mod:`qxub_core.status`:

1. traps are installed first, so that every way out (normal end, failed context, ``exit`` in a
   profile, SIGTERM/SIGINT/SIGHUP) writes ``final_exit_code_<id>`` atomically and last;
2. ``job_started_<id>`` is written, then the script's own output is appended to ``out``/``err``;
3. the environment is restored (or the login environment built), ``--var`` values applied,
   prologue lines run (in a subshell, their output going to ``err``), the context
   activated and the working directory entered;
4. the command runs in the background with its output appended to ``out``/``err`` and the
   script ``wait``s for it, so a signal's trap runs at once rather than after the command;
5. epilogue lines run (as the prologue, with ``QXUB_EXIT_CODE`` set), ``--out`` and
   ``--err`` copies are made, and the final file is written.

On a signal the trap passes the signal to the command and gives it ``STOP_GRACE_S`` to end; a
command still running then gets SIGTERM and, after the same grace, SIGKILL (a command started in
the background by bash may ignore SIGINT, or trap a signal and carry on: it must not outlive its
job). The trap then writes ``128+N`` with ``signal: NAME`` and dies by the same signal, so the
scheduler records a signal death too.

Every value from the user reaches the script through :func:`shlex.quote`. Arguments that are not
valid UTF-8 arrive as surrogate-escaped text and are written back as their original bytes.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from qxub_core.environment import HOST_PREFIXES, HOST_VARIABLES
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers.base import Scheduler
from qxub_core.spec import JobSpec
from qxub_core.status import (
    ENVIRONMENT_FILE,
    ERR_FILE,
    FINAL_PREFIX,
    OUT_FILE,
    SCRIPT_FILE,
    STARTED_PREFIX,
)

SCRIPT_FILE_MODE = 0o700
SHEBANG = "#!/bin/bash"

# Signals whose trap writes the final file and then re-raises the signal, with their numbers.
TRAPPED_SIGNALS = (("TERM", 15), ("INT", 2), ("HUP", 1))

# On a signal the command gets the same signal, then TERM, then KILL, each after this grace for
# it to end, checked every step. Both graces together stay below the local backend's and the
# schedulers' own delay between TERM and KILL, so the final file is still written.
STOP_GRACE_S = 2.0
STOP_STEP_S = 0.1

# Variables a login shell inherits from the system rather than from the submitting prompt; the
# clean environment keeps them (with the execution host's and the scheduler's own variables).
LOGIN_VARIABLES = ("HOME", "USER", "LOGNAME", "SHELL", "MAIL", "TERM", "LANG", "LANGUAGE", "TZ")
LOGIN_PREFIXES = ("LC_",)
# PBS Pro sets these for the job itself.
SCHEDULER_JOB_VARIABLES = ("ENVIRONMENT", "NCPUS", "OMP_NUM_THREADS")

_PROTOCOL = r"""
qxub_write_status() {
    # Quiet when the job directory cannot take the file (removed, full): qxub says why itself.
    local temporary="$qxub_job_dir/.$1.$$"
    {
        printf '%s' "$2" >"$temporary" && command -p mv -f "$temporary" "$qxub_job_dir/$1"
    } 2>/dev/null && return 0
    command -p rm -f "$temporary" 2>/dev/null
    return 1
}

qxub_finish() {
    if [ -n "$qxub_finished" ]; then return; fi
    qxub_finished=1
    qxub_copy_output
    local text="$1"$'\n'
    if [ -n "${2:-}" ]; then text+="$2"$'\n'; fi
    qxub_write_status "@FINAL@$qxub_job_id" "$text"
}

qxub_context_failed() {
    printf 'qxub: %s\n' "$1" >>"$qxub_job_dir/@ERR@"
    qxub_finish 125 "context: $1"
    exit 125
}

qxub_refuse_command() {
    printf 'qxub: %s: %s\n' "$1" "$3" >&2
    exit "$2"
}

qxub_check_command() {
    case $1 in
        */*)
            [ -e "$1" ] || qxub_refuse_command "$1" 127 "No such file or directory"
            [ ! -d "$1" ] || qxub_refuse_command "$1" 126 "Is a directory"
            [ -x "$1" ] || qxub_refuse_command "$1" 126 "Permission denied"
            ;;
        *) command -v -- "$1" >/dev/null || qxub_refuse_command "$1" 127 "command not found" ;;
    esac
}

qxub_on_exit() {
    qxub_finish "$?"
}

qxub_command_ended_within() {
    local tick
    for ((tick = 0; tick < $1; tick++)); do
        if ! kill -0 "$qxub_child" 2>/dev/null; then return 0; fi
        command -p sleep @STEP_S@
    done
    ! kill -0 "$qxub_child" 2>/dev/null
}

qxub_stop_command() {
    kill -s "$1" "$qxub_child" 2>/dev/null
    if ! qxub_command_ended_within @STEPS@; then
        kill -s TERM "$qxub_child" 2>/dev/null
        if ! qxub_command_ended_within @STEPS@; then
            kill -s KILL "$qxub_child" 2>/dev/null
        fi
    fi
    wait "$qxub_child" 2>/dev/null
}

qxub_on_signal() {
    trap '' "$1"
    if [ -z "$qxub_child" ] && [ -n "$qxub_launching" ] && [ "${!:-}" != "$qxub_background" ]; then
        qxub_child=$!
    fi
    if [ -n "$qxub_child" ]; then
        qxub_stop_command "$1"
    fi
    qxub_finish "$((128 + $2))" "signal: $1"
    trap - "$1" EXIT
    kill -s "$1" "$$"
}
""".strip("\n")


def render_script(
    spec: JobSpec,
    scheduler: Scheduler,
    job_dir: Path,
    prologue: Sequence[str] = (),
    epilogue: Sequence[str] = (),
    plugins: Plugins | None = None,
) -> str:
    """The complete job script for ``spec`` on ``scheduler``, reporting into ``job_dir``.

    The execution context comes from ``plugins`` (default: the process's plugins, qxub's
    built-ins included). ``prologue``/``epilogue`` lines run before the plugins' own.
    """
    plugins = plugins or default_plugins()
    context = plugins.context(spec.context.kind)
    prologue = [*prologue, *plugins.prologue_lines(spec, scheduler.name)]
    epilogue = [*epilogue, *plugins.epilogue_lines(spec, scheduler.name)]

    sections = [
        [SHEBANG, *scheduler.directives(spec, job_dir)],
        _header_lines(job_dir, scheduler.job_id_variable),
        _protocol_lines(spec),
        _start_lines(),
        _environment_lines(spec),
        _hook_lines("# Prologue.", prologue, []),
        _optional_section("# Execution context.", context.activation_lines(spec.context)),
        _workdir_lines(spec.workdir),
        _command_lines(spec, context.command_prefix(spec.context)),
        _hook_lines("# Epilogue.", epilogue, ['export QXUB_EXIT_CODE="$qxub_exit_code"']),
        ['exit "$qxub_exit_code"'],
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def write_script(job_dir: Path, text: str) -> Path:
    """Write the rendered script as ``job.sh`` (mode 0700), bytes of arguments kept exact."""
    path = job_dir / SCRIPT_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SCRIPT_FILE_MODE)
    with open(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    os.chmod(path, SCRIPT_FILE_MODE)
    return path


def shell_words(words: Sequence[str]) -> str:
    """``words`` as one line of bash that yields exactly these words."""
    return " ".join(shlex.quote(word) for word in words)


def _header_lines(job_dir: Path, job_id_variable: str) -> list[str]:
    missing = f"{job_id_variable} is not set: this script runs only as a qxub job"
    return [
        "# Rendered by qxub. Reports through status files in its job directory:",
        f"# {STARTED_PREFIX}<id> first, {FINAL_PREFIX}<id> last, on every way out.",
        f"qxub_job_dir={shlex.quote(str(job_dir.absolute()))}",
        f'qxub_job_id="${{{job_id_variable}:-}}"',
        'if [ -z "$qxub_job_id" ]; then',
        f'    printf "qxub: %s\\n" {shlex.quote(missing)} >>"$qxub_job_dir/{ERR_FILE}"',
        "    exit 125",
        "fi",
        "qxub_child=",
        "qxub_launching=",
        "qxub_finished=",
        "qxub_exit_code=0",
    ]


def _protocol_lines(spec: JobSpec) -> list[str]:
    protocol = (
        _PROTOCOL.replace("@FINAL@", FINAL_PREFIX)
        .replace("@ERR@", ERR_FILE)
        .replace("@STEP_S@", str(STOP_STEP_S))
        .replace("@STEPS@", str(round(STOP_GRACE_S / STOP_STEP_S)))
    )
    traps = [f"trap 'qxub_on_signal {name} {number}' {name}" for name, number in TRAPPED_SIGNALS]
    return [
        protocol,
        "",
        *_copy_output_lines(spec),
        "",
        "trap qxub_on_exit EXIT",
        *traps,
    ]


def _copy_output_lines(spec: JobSpec) -> list[str]:
    copies = [(OUT_FILE, spec.out_copy), (ERR_FILE, spec.err_copy)]
    lines = ["qxub_copy_output() {"]
    for name, destination in copies:
        if destination is None:
            continue
        target = shlex.quote(str(destination))
        lines += [
            f'    command -p cp -- "$qxub_job_dir/{name}" {target} \\',
            f"        || printf 'qxub: cannot copy the job'\\''s {name} to %s\\n' {target} >&2",
        ]
    if len(lines) == 1:
        lines.append("    :")
    return [*lines, "}"]


def _start_lines() -> list[str]:
    return [
        'qxub_started_s="${EPOCHREALTIME:-$(printf "%(%s)T" -1)}"',
        f'qxub_write_status "{STARTED_PREFIX}$qxub_job_id" \\',
        "    \"${qxub_started_s/,/.} $HOSTNAME $qxub_job_id\"$'\\n'",
        f'exec >>"$qxub_job_dir/{OUT_FILE}" 2>>"$qxub_job_dir/{ERR_FILE}"',
    ]


def _environment_lines(spec: JobSpec) -> list[str]:
    if spec.clean_env:
        lines = ["# The login environment of the execution host.", *_login_environment_lines()]
    else:
        lines = [
            "# The submitting environment, and nothing a login shell's profile added to it.",
            *_unset_lines(sorted({*SCHEDULER_JOB_VARIABLES, *HOST_VARIABLES} - {"_"}), ()),
            f'. "$qxub_job_dir/{ENVIRONMENT_FILE}"',
        ]
    variables = [f"export {name}={shlex.quote(value)}" for name, value in spec.variables.items()]
    return lines + variables


def _login_environment_lines() -> list[str]:
    kept = sorted({*LOGIN_VARIABLES, *SCHEDULER_JOB_VARIABLES, *HOST_VARIABLES} - {"_"})
    profiles = '"$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile"'
    return [
        *_unset_lines(kept, LOGIN_PREFIXES),
        'PATH="$(command -p getconf PATH 2>/dev/null || printf /usr/bin:/bin)"',
        "export PATH",
        "# As login(1) would: who the user is, from the password database, where not given.",
        'qxub_user="$(id -un)"',
        'IFS=: read -r _ _ _ _ _ qxub_home qxub_shell < <(getent passwd "$qxub_user")',
        'export USER="${USER:-$qxub_user}" LOGNAME="${LOGNAME:-$qxub_user}"',
        'export HOME="${HOME:-$qxub_home}" SHELL="${SHELL:-${qxub_shell:-/bin/sh}}"',
        "if [ -r /etc/profile ]; then . /etc/profile; fi",
        f"for qxub_profile in {profiles}; do",
        '    if [ -r "$qxub_profile" ]; then . "$qxub_profile"; break; fi',
        "done",
    ]


def _unset_lines(kept: list[str], kept_prefixes: tuple[str, ...]) -> list[str]:
    """Unset every exported variable but the kept ones and the execution host's own.

    PBS starts a job in a login shell, whose profile may export variables of its own.
    """
    prefixes = (*kept_prefixes, *HOST_PREFIXES)
    patterns = "|".join([*kept, *(f"{prefix}*" for prefix in prefixes)])
    return [
        "for qxub_name in $(compgen -e); do",
        '    case "$qxub_name" in',
        f"        {patterns}) ;;",
        '        *) unset "$qxub_name" 2>/dev/null ;;',
        "    esac",
        "done",
    ]


def _workdir_lines(workdir: Path) -> list[str]:
    target = shlex.quote(str(workdir))
    reason = shlex.quote(f"cannot change to the working directory {workdir}")
    return [f"cd -- {target} || qxub_context_failed {reason}"]


def _command_lines(spec: JobSpec, prefix: Sequence[str]) -> list[str]:
    words = ["bash", "-c", spec.command[0]] if spec.shell else list(spec.command)
    command = " ".join([*prefix, shell_words(words)])
    return [
        "# The command, in the background so that a signal's trap runs at once. A signal that",
        "# arrives before its pid is stored finds it in $! (qxub_launching tells it to look).",
        "# A command that cannot start is named as a prompt would, not by this script's path.",
        f"qxub_command=({command})",
        'qxub_background="${!:-}"',
        "qxub_launching=1",
        "(",
        "    trap - INT QUIT",
        '    qxub_check_command "${qxub_command[0]}"',
        '    exec -- "${qxub_command[@]}"',
        f') >>"$qxub_job_dir/{OUT_FILE}" 2>>"$qxub_job_dir/{ERR_FILE}" &',
        "qxub_child=$!",
        'wait "$qxub_child" 2>/dev/null',
        "qxub_exit_code=$?",
    ]


def _hook_lines(title: str, lines: Sequence[str], setup: Sequence[str]) -> list[str]:
    """Plugin lines in a subshell: output to ``err``, exit status ignored, nothing leaks out."""
    if not lines:
        return []
    body = [f"    {line}" for line in [*setup, *lines]]
    return [title, "(", *body, f') >>"$qxub_job_dir/{ERR_FILE}" 2>&1 || :']


def _optional_section(title: str, lines: Sequence[str]) -> list[str]:
    return [title, *lines] if lines else []
