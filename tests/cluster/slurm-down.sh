#!/usr/bin/env bash
# Stop the daemons slurm-up.sh started, by the pids they recorded, newest first.
set -uo pipefail

BASE=${QXUB_SLURM_BASE:-/tmp/qxub-slurm}
WAIT_S=${QXUB_SLURM_WAIT_S:-15}

stop_daemon() {
    local pid_file=$BASE/$1 pid
    [ -s "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    kill -0 "$pid" 2>/dev/null || return 0

    kill "$pid"
    local deadline=$((SECONDS + WAIT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "slurm-down: $1 ($pid) ignored SIGTERM for ${WAIT_S}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 0.25
    done
}

for daemon in slurmd.pid slurmctld.pid slurmdbd.pid db/mariadbd.pid munge/munged.pid; do
    stop_daemon "$daemon"
done
exit 0
