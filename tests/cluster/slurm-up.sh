#!/usr/bin/env bash
# Start a single-node Slurm cluster for the tests, every daemon on loopback, no systemd.
#
# Installs Debian's slurm-wlm, munge, slurmdbd and mariadb-server when missing (needs root),
# then starts munged, MariaDB (unix socket only), slurmdbd, slurmctld and slurmd, and waits until
# the node is idle. Everything lives under $QXUB_SLURM_BASE (default /tmp/qxub-slurm); each
# daemon's pid file is there for slurm-down.sh. Running it again while the cluster is up is fine.
#
# QXUB_SLURM_ACCOUNTING=0 leaves out MariaDB and slurmdbd: sacct then has nothing to report,
# which is how the adapter's fallback to squeue/scontrol is exercised by hand.
set -euo pipefail

BASE=${QXUB_SLURM_BASE:-/tmp/qxub-slurm}
ACCOUNTING=${QXUB_SLURM_ACCOUNTING:-1}
WAIT_S=${QXUB_SLURM_WAIT_S:-60}
export SLURM_CONF=$BASE/etc/slurm.conf
DB_SOCKET=$BASE/db/mariadbd.sock

fail() {
    echo "slurm-up: $*" >&2
    exit 1
}

pid_alive() {
    [ -s "$BASE/$1" ] && kill -0 "$(cat "$BASE/$1")" 2>/dev/null
}

# Wait up to $WAIT_S seconds for a command to succeed.
wait_for() {
    local what=$1
    shift
    local deadline=$((SECONDS + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "$what not ready after ${WAIT_S}s (logs in $BASE/log)"
        fi
        sleep 0.25
    done
}

install_packages() {
    local packages="slurm-wlm munge"
    [ "$ACCOUNTING" = 1 ] && packages="$packages slurmdbd mariadb-server"
    # shellcheck disable=SC2086
    dpkg -s $packages >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || fail "Slurm is not installed and only root can install it: $packages"
    # Keep the packages' own init scripts from starting system-wide daemons: this script starts
    # its own, on loopback, and stops exactly those.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        own_policy=1
    fi
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
    [ "$own_policy" = 0 ] || rm -f "$policy"
}

prepare_directories() {
    mkdir -p "$BASE"/{etc,munge,state,spool,log}
    # munged wants its socket directory searchable by all but writable by itself only.
    chown munge:munge "$BASE/munge"
    chmod 0755 "$BASE" "$BASE/munge"
    chown slurm:slurm "$BASE/state" "$BASE/log"
}

make_munge_key() {
    local key=$BASE/etc/munge.key
    if [ ! -s "$key" ]; then
        head -c 1024 /dev/urandom >"$key"
    fi
    chown munge:munge "$key"
    chmod 0400 "$key"
}

accounting_lines() {
    if [ "$ACCOUNTING" = 1 ]; then
        printf '%s\n' \
            "AccountingStorageType=accounting_storage/slurmdbd" \
            "AccountingStorageHost=localhost" \
            "AccountingStoragePort=6819" \
            "AccountingStoragePass=$BASE/munge/munge.socket"
    else
        echo "AccountingStorageType=accounting_storage/none"
    fi
}

write_slurm_conf() {
    local mem_mb cpus
    mem_mb=$(awk '/MemAvailable/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    cpus=$(nproc)
    cat >"$SLURM_CONF" <<CONF
ClusterName=qxubtest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge/munge.socket
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
$(accounting_lines)
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=5
BatchStartTimeout=60
InactiveLimit=0
DefMemPerCPU=500
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$cpus RealMemory=$mem_mb
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
CONF
}

start_munged() {
    pid_alive munge/munged.pid && return
    runuser -u munge -- /usr/sbin/munged \
        --socket="$BASE/munge/munge.socket" --key-file="$BASE/etc/munge.key" \
        --pid-file="$BASE/munge/munged.pid" --log-file="$BASE/munge/munged.log" \
        --seed-file="$BASE/munge/munged.seed"
}

start_mariadb() {
    pid_alive db/mariadbd.pid && return
    mkdir -p "$BASE/db"
    chown mysql:mysql "$BASE/db"
    if [ ! -d "$BASE/db/data/mysql" ]; then
        mariadb-install-db --user=mysql --datadir="$BASE/db/data" --skip-test-db \
            >"$BASE/log/db-install.log" 2>&1 || fail "mariadb-install-db failed, see $BASE/log"
    fi
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$BASE/db/data" \
        --socket="$DB_SOCKET" --pid-file="$BASE/db/mariadbd.pid" --skip-networking \
        --log-error="$BASE/log/mariadbd.log" --innodb-buffer-pool-size=64M \
        </dev/null >/dev/null 2>&1 &
    wait_for "MariaDB" mariadb --socket="$DB_SOCKET" -e "SELECT 1"
    mariadb --socket="$DB_SOCKET" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' \
        IDENTIFIED BY 'qxubtest'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start_slurmdbd() {
    pid_alive slurmdbd.pid && return
    # slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF.
    cat >"$BASE/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$BASE/munge/munge.socket
CommunicationParameters=NoInAddrAny
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=qxubtest
StorageLoc=slurm_acct_db
CONF
    chown slurm:slurm "$BASE/etc/slurmdbd.conf"
    chmod 0600 "$BASE/etc/slurmdbd.conf"
    MYSQL_UNIX_PORT=$DB_SOCKET /usr/sbin/slurmdbd
    wait_for "slurmdbd" sacctmgr -n list cluster
    sacctmgr -n list cluster format=cluster | grep -q qxubtest \
        || sacctmgr -i add cluster qxubtest >/dev/null
}

start_slurm() {
    pid_alive slurmctld.pid || /usr/sbin/slurmctld
    # -N: the node is called localhost whatever this machine's host name is.
    pid_alive slurmd.pid || /usr/sbin/slurmd -N localhost
}

node_idle() {
    case "$(sinfo -h -o %T 2>/dev/null)" in
    idle | mixed | allocated) return 0 ;;
    *) return 1 ;;
    esac
}

main() {
    local started=$SECONDS
    install_packages
    prepare_directories
    make_munge_key
    [ -s "$SLURM_CONF" ] && pid_alive slurmctld.pid || write_slurm_conf
    start_munged
    wait_for "munged" test -S "$BASE/munge/munge.socket"
    if [ "$ACCOUNTING" = 1 ]; then
        start_mariadb
        start_slurmdbd
    fi
    start_slurm
    wait_for "the Slurm node" node_idle
    echo "slurm-up: cluster ready in $((SECONDS - started))s; export SLURM_CONF=$SLURM_CONF" >&2
}

main "$@"
