# Sourced after slurm-up.sh: points Slurm's commands, and the tests, at the test cluster.
# shellcheck shell=bash
export QXUB_SLURM_BASE=${QXUB_SLURM_BASE:-/tmp/qxub-slurm}
export SLURM_CONF=$QXUB_SLURM_BASE/etc/slurm.conf
