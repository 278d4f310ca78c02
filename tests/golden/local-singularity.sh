#!/bin/bash

# Rendered by qxub. Reports through status files in its job directory:
# job_started_<id> first, final_exit_code_<id> last, on every way out.
qxub_job_dir=/jobs/20260101-000000-demo-0123abcd
qxub_job_id="${QXUB_LOCAL_JOB_ID:-}"
if [ -z "$qxub_job_id" ]; then
    printf "qxub: %s\n" 'QXUB_LOCAL_JOB_ID is not set: this script runs only as a qxub job' >>"$qxub_job_dir/err"
    exit 125
fi
qxub_child=
qxub_launching=
qxub_finished=
qxub_exit_code=0

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
    qxub_write_status "final_exit_code_$qxub_job_id" "$text"
}

qxub_context_failed() {
    printf 'qxub: %s\n' "$1" >>"$qxub_job_dir/err"
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
        command -p sleep 0.1
    done
    ! kill -0 "$qxub_child" 2>/dev/null
}

qxub_stop_command() {
    kill -s "$1" "$qxub_child" 2>/dev/null
    if ! qxub_command_ended_within 20; then
        kill -s TERM "$qxub_child" 2>/dev/null
        if ! qxub_command_ended_within 20; then
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

qxub_copy_output() {
    :
}

trap qxub_on_exit EXIT
trap 'qxub_on_signal TERM 15' TERM
trap 'qxub_on_signal INT 2' INT
trap 'qxub_on_signal HUP 1' HUP

qxub_started_s="${EPOCHREALTIME:-$(printf "%(%s)T" -1)}"
qxub_write_status "job_started_$qxub_job_id" \
    "${qxub_started_s/,/.} $HOSTNAME $qxub_job_id"$'\n'
exec >>"$qxub_job_dir/out" 2>>"$qxub_job_dir/err"

# The submitting environment, and nothing a login shell's profile added to it.
for qxub_name in $(compgen -e); do
    case "$qxub_name" in
        CUDA_VISIBLE_DEVICES|ENVIRONMENT|GPU_DEVICE_ORDINAL|HOSTNAME|NCPUS|OLDPWD|OMP_NUM_THREADS|PWD|ROCR_VISIBLE_DEVICES|SHLVL|TMPDIR|XDG_RUNTIME_DIR|PBS_*|SLURM_*|SLURMD_*|QXUB_LOCAL_*) ;;
        *) unset "$qxub_name" 2>/dev/null ;;
    esac
done
. "$qxub_job_dir/environment.sh"

# Execution context.
if ! declare -F module >/dev/null; then
    for qxub_module_init in "${MODULESHOME:+$MODULESHOME/init/bash}" "${LMOD_PKG:+$LMOD_PKG/init/bash}" "/usr/share/lmod/lmod/init/bash" "/usr/share/modules/init/bash" "/etc/profile.d/modules.sh"; do
        if [ -n "$qxub_module_init" ] && [ -r "$qxub_module_init" ]; then
            . "$qxub_module_init"
            break
        fi
    done
fi
declare -F module >/dev/null || qxub_context_failed 'environment modules are not available: no module function and no init script'
module load singularity || qxub_context_failed 'module load singularity failed'
qxub_container_runtime="$(command -v apptainer || command -v singularity)" \
    || qxub_context_failed 'neither apptainer nor singularity is on PATH'
# The GPUs the scheduler bound to this job, made visible inside the container.
qxub_container_gpus=()
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then qxub_container_gpus+=(--nv); fi
if [ -n "${ROCR_VISIBLE_DEVICES:-}" ]; then qxub_container_gpus+=(--rocm); fi
"$qxub_container_runtime" exec "${qxub_container_gpus[@]}" --bind /scratch --bind /data:/in:ro /images/tools.sif true || qxub_context_failed 'container image /images/tools.sif does not start'

cd -- /home/user/project || qxub_context_failed 'cannot change to the working directory /home/user/project'

# The command, in the background so that a signal's trap runs at once. A signal that
# arrives before its pid is stored finds it in $! (qxub_launching tells it to look).
# A command that cannot start is named as a prompt would, not by this script's path.
qxub_command=("$qxub_container_runtime" exec "${qxub_container_gpus[@]}" --bind /scratch --bind /data:/in:ro /images/tools.sif python3 /work/run.py)
qxub_background="${!:-}"
qxub_launching=1
(
    trap - INT QUIT
    qxub_check_command "${qxub_command[0]}"
    exec -- "${qxub_command[@]}"
) >>"$qxub_job_dir/out" 2>>"$qxub_job_dir/err" &
qxub_child=$!
wait "$qxub_child" 2>/dev/null
qxub_exit_code=$?

exit "$qxub_exit_code"
