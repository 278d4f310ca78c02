#!/usr/bin/env bash
# Record what the test cluster's sacct, squeue and scontrol answer for jobs that end in each way
# the Slurm adapter maps, into tests/data/slurm/. Run after slurm-up.sh (takes about two minutes:
# one job has to run past a one-minute time limit). The unit tests parse these files.
#
# Each file is named <case>.<command>.txt and holds exactly what the adapter's own command line
# prints: sacct-state (one allocation line per job), sacct-usage (every step), squeue, scontrol.
set -euo pipefail
cd "$(dirname "$0")/../data/slurm"
: "${SLURM_CONF:?source tests/cluster/slurm-env.sh first}"

DATA=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

submit() {
    local script=$WORK/$1.sh
    shift
    printf '#!/bin/bash\n%s\n' "$1" >"$script"
    shift
    sbatch --parsable --export=NONE --output="$WORK/slurm-%j.log" "$@" "$script"
}

state_of() {
    squeue --noheader --states=all --jobs="$1" --Format='State:' 2>/dev/null | tr -d ' '
}

wait_state() {
    local id=$1 wanted=$2 i
    for i in $(seq 1 600); do
        [[ " $wanted " == *" $(state_of "$id") "* ]] && return 0
        sleep 0.5
    done
    echo "capture: job $id never reached $wanted" >&2
    return 1
}

# sacct's record lags slurmctld's by a moment: wait until sacct has the controller's state and
# as many lines as the job has steps (its allocation, and its batch step once it ran).
wait_accounted() {
    local id=$1 lines=$2 state i
    state=$(state_of "$id")
    for i in $(seq 1 120); do
        sacct --noheader --parsable2 --jobs="$id" --format=JobID,State >"$WORK/accounted"
        if grep -q "^$id|$state" "$WORK/accounted" \
            && [ "$(wc -l <"$WORK/accounted")" -ge "$lines" ]; then
            return 0
        fi
        sleep 0.5
    done
}

record() {
    local name=$1 id=$2
    wait_accounted "$id" "${3:-2}"
    local out=$DATA/$name
    sacct --noheader --parsable2 --jobs="$id" --format=JobID,State,ExitCode,Reason,Start \
        >"$out.sacct-state.txt"
    sacct --noheader --parsable2 --jobs="$id" \
        --format=JobID,State,ExitCode,Elapsed,TotalCPU,MaxRSS,ReqMem,AllocCPUS,Timelimit \
        >"$out.sacct-usage.txt"
    squeue --noheader --states=all --jobs="$id" \
        --Format='JobID:|,State:|,Reason:|,exit_code:|,BatchHost:|' >"$out.squeue.txt"
    scontrol --oneliner show job "$id" >"$out.scontrol.txt"
    sed -i -e "s/^$id\([|.]\)/JOBID\1/" -e "s/JobId=$id /JobId=JOBID /" \
        -e "s/slurm-$id\.log/slurm-JOBID.log/g" -e "s|$WORK|/tmp/capture|g" "$out".*.txt
}

exit3=$(submit exit3 'echo to stdout; exit 3')
signal=$(submit signal 'kill -KILL $$')
# Long enough for the accounting sampler (every 5 s) to see the 200 MB.
usage=$(submit usage 'python3 -c "import time; b = b\"x\" * 200 * 2**20; time.sleep(7)"' \
    --cpus-per-task=2 --mem=1G --time=00:10:00)
pending=$(submit pending 'true' --hold)
running=$(submit running 'sleep 300')
cancelled=$(submit cancelled 'sleep 300')
cancelled_at_start=$(submit cancelled-at-start 'sleep 300')
timeout=$(submit timeout 'sleep 300' --time=1)

wait_state "$cancelled_at_start" RUNNING
scancel "$cancelled_at_start"  # before its script has started: Slurm records no signal
wait_state "$running" RUNNING
wait_state "$cancelled" RUNNING
wait_state "$pending" PENDING
sleep 3
record running "$running"
record pending "$pending" 1
scancel "$running" "$cancelled" "$pending"

for id in "$exit3" "$signal" "$usage" "$running" "$cancelled" "$cancelled_at_start" "$pending"; do
    wait_state "$id" "COMPLETED FAILED CANCELLED"
done
record exit3 "$exit3"
record signal "$signal"
record usage "$usage"
record cancelled "$cancelled"
record cancelled-at-start "$cancelled_at_start"
record cancelled-pending "$pending" 1

wait_state "$timeout" TIMEOUT
record timeout "$timeout"
echo "capture: done" >&2
