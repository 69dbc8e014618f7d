#!/usr/bin/env bash
# A real one-node Slurm on this machine for the tests marked `slurm` (tests/slurm/): slurmctld + slurmd on localhost,
# slurmdbd on MariaDB for `sacct`, munged for authentication.
#
#   tests/slurm/start-local-slurm.sh [start]   install what is missing (root + apt-get), start, wait for `sinfo` idle
#   tests/slurm/start-local-slurm.sh stop      stop the daemons this script started
#   tests/slurm/start-local-slurm.sh status    exit 0 when the node is idle or busy (sinfo), 1 otherwise
#
# Idempotent: a second `start` finds the daemons running and only waits for the node. It writes /etc/slurm/slurm.conf
# and slurmdbd.conf (the paths sbatch and sacct read) and refuses to overwrite ones it did not write, so it never
# replaces a real cluster's configuration. Logs and state: $ADAPTERX_SLURM_DIR (default /var/lib/adapterx-slurm).
set -euo pipefail

STATE=${ADAPTERX_SLURM_DIR:-/var/lib/adapterx-slurm}
CONF_DIR=/etc/slurm
MARK="# written by adapterx tests/slurm/start-local-slurm.sh"
CLUSTER=adapterx
NODE=$(hostname -s)
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

say() { echo "start-local-slurm: $*" >&2; }
die() { say "$*"; exit 1; }

have_all() {
    command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v slurmdbd >/dev/null && command -v munged >/dev/null && command -v mariadbd >/dev/null
}

install_packages() {
    have_all && return 0
    [ "$(id -u)" = 0 ] || die "slurm packages missing and not root: cannot apt-get install ${PACKAGES[*]}"
    command -v apt-get >/dev/null || die "slurm packages missing and no apt-get here"
    say "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$STATE/apt.log" 2>&1 \
        || { apt-get update -q >>"$STATE/apt.log" 2>&1 \
             && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$STATE/apt.log" 2>&1; } \
        || die "apt-get install ${PACKAGES[*]} failed (see $STATE/apt.log)"
    # The packages' init scripts may have started daemons with their own configuration: ours start below.
}

write_conf() {  # write_conf PATH MODE CONTENT: only over a file this script wrote (or none)
    local path=$1 mode=$2 content=$3
    if [ -e "$path" ] && ! grep -qF "$MARK" "$path"; then
        die "$path exists and was not written by this script: not replacing a real cluster's configuration"
    fi
    if [ -e "$path" ] && [ "$(cat "$path")" = "$content" ]; then
        return 0
    fi
    printf '%s\n' "$content" >"$path.tmp"
    chmod "$mode" "$path.tmp"
    mv "$path.tmp" "$path"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --force
        for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    fi
    munge -n | unmunge >/dev/null 2>&1 || die "munged does not answer (see /var/log/munge/munged.log)"
}

start_mariadb() {
    if ! mariadb-admin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$STATE/mariadb-install.log" 2>&1
        (cd / && setsid mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/adapterx.pid --innodb-use-native-aio=0 \
            >"$STATE/mariadbd.log" 2>&1 </dev/null &)
        for _ in $(seq 100); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.2; done
        mariadb-admin ping >/dev/null 2>&1 || die "MariaDB did not start (see $STATE/mariadbd.log)"
    fi
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

configure() {
    local cpus mem
    cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
    mkdir -p "$CONF_DIR" "$STATE/spool/slurmd" "$STATE/spool/slurmctld" "$STATE/log"
    write_conf "$CONF_DIR/slurmdbd.conf" 600 "$MARK
DbdHost=localhost
SlurmUser=root
AuthType=auth/munge
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/slurmdbd.pid"
    # One node with this machine's cores and memory. CR_Core: memory requests are checked against the node but not
    # reserved, so a test's jobs are not refused for asking for a few GB on a busy shared machine. No cgroups
    # (containers often lack them): processes are tracked and limits (--time) enforced by slurmd itself.
    write_conf "$CONF_DIR/slurm.conf" 644 "$MARK
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$STATE/spool/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
JobCompType=jobcomp/none
# Quick turnover for tests: a finished job leaves the queue at once, a killed one gets 5 s to clean up.
MinJobAge=2
KillWait=5
OverTimeLimit=0
InactiveLimit=0
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
}

start_slurm() {
    running "$STATE/slurmdbd.pid" || slurmdbd
    for _ in $(seq 100); do sacctmgr -n -P list cluster >/dev/null 2>&1 && break; sleep 0.2; done
    sacctmgr -n -P list cluster >/dev/null 2>&1 || die "slurmdbd does not answer (see $STATE/log/slurmdbd.log)"
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
    running "$STATE/slurmctld.pid" || slurmctld
    for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
    scontrol ping 2>/dev/null | grep -q UP || die "slurmctld does not answer (see $STATE/log/slurmctld.log)"
    running "$STATE/slurmd.pid" || slurmd
}

wait_idle() {
    local state=""
    for _ in $(seq 150); do
        state=$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1)
        case $state in
            idle|mix|alloc) return 0 ;;
            down*|drain*|drng*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.2
    done
    die "node $NODE is not idle after 30 s (sinfo: ${state:-no answer}; see $STATE/log/)"
}

stop() {
    scontrol shutdown >/dev/null 2>&1 || true  # slurmctld and slurmd
    for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/slurmdbd.pid" /run/mysqld/adapterx.pid; do
        if running "$pidfile"; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            for _ in $(seq 50); do running "$pidfile" || break; sleep 0.2; done
        fi
    done
    if [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
        kill "$(cat /run/munge/munged.pid)"
    fi
    say "stopped"
}

case ${1:-start} in
    start)
        mkdir -p "$STATE"
        install_packages
        start_munge
        start_mariadb
        configure
        start_slurm
        wait_idle
        say "node $NODE idle ($(sinfo -h -N -o '%c CPUs, %m MB'))"
        ;;
    stop) stop ;;
    status)
        case $(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1) in idle|mix|alloc) exit 0 ;; *) exit 1 ;; esac ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
