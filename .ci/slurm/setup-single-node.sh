#!/usr/bin/env bash
# A one-node SLURM cluster on this host, so that CI can run the workflow through profiles/slurm
# (tests/test_slurm.py). Debian 12 (slurm 22.05, munge), as root, without systemd, cgroups or
# accounting (no slurmdbd): the profile therefore polls job states with squeue, not sacct.
#
# usage: .ci/slurm/setup-single-node.sh [start|stop|status]
#   start   (the default) install slurmctld, slurmd, slurm-client and munge with apt if absent; write
#           /etc/slurm/slurm.conf and gres.conf for this host; start munged, slurmctld and slurmd
#           unless they already run with this very configuration; wait until the node is idle and a
#           one-GPU test step runs. Running it twice is harmless.
#   stop    cancel the cluster's remaining jobs, then stop exactly the daemons that `start` started,
#           by the PIDs it recorded (never by name).
#   status  print the daemons and `sinfo`; exit 0 only if munged, slurmctld and slurmd all run.
#
# environment:
#   SLURM_SETUP_STATE        where the PID files go (default /run/srgan-slurm)
#   SLURM_SETUP_MIN_JOB_AGE  seconds a finished job stays visible to squeue (default 600); keep it
#                            >= 3x the profile's slurm-init-seconds-before-status-checks, or the
#                            executor plugin falls back to sacct, which has no data here
#   SLURM_SETUP_FORCE=1      overwrite an /etc/slurm/slurm.conf that this script did not write
set -euo pipefail

STATE=${SLURM_SETUP_STATE:-/run/srgan-slurm}
MIN_JOB_AGE=${SLURM_SETUP_MIN_JOB_AGE:-600}
CONF_DIR=/etc/slurm
MARKER="# Written by .ci/slurm/setup-single-node.sh (SRGAN pipeline CI); rewritten on every start."
LOG_DIR=/var/log/slurm
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { echo "setup-single-node: $*" >&2; }
# Client commands retry for minutes when slurmctld is unreachable; bound every one of them.
bounded() { timeout -s KILL 15 "$@"; }
die() {
    echo "setup-single-node: error: $*" >&2
    exit 1
}

# ---- PID bookkeeping: a daemon is "ours" when its PID file in $STATE names a live process of
# that name (the name check guards against a recycled PID).
running() { # PID: alive and not a zombie (a container's PID 1 may never reap daemons)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ${stat##*) } != Z* ]]
}

pid_of() { # NAME -> the recorded PID if that process is alive and is NAME, else nothing
    local file="$STATE/$1.pid" pid
    [[ -s $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid ]] && running "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] || return 1
    echo "$pid"
}

stop_daemon() { # NAME: SIGTERM the recorded PID, wait up to 15 s, then SIGKILL it
    local name=$1 pid i
    if ! pid=$(pid_of "$name"); then
        rm -f "$STATE/$name.pid"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 30); do
        running "$pid" || break
        sleep 0.5
    done
    if running "$pid"; then
        log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
}

wait_for_pidfile() { # NAME LOGFILE: the daemon forks into the background and writes its PID file
    local i
    for i in $(seq 40); do
        pid_of "$1" >/dev/null && return 0
        sleep 0.25
    done
    [[ -f $2 ]] && tail -n 20 "$2" >&2
    die "$1 did not start (no live process in $STATE/$1.pid); its log is above ($2)"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts system daemons)"; }

# ---- start ----------------------------------------------------------------------------------------

install_packages() {
    local missing=0 bin
    for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/squeue /usr/sbin/munged; do
        [[ -x $bin ]] || missing=1
    done
    ((missing)) || return 0
    command -v apt-get >/dev/null || die "slurm is not installed and apt-get is absent; install ${PACKAGES[*]}"
    log "installing ${PACKAGES[*]} with apt"
    # Keep the packages' maintainer scripts from starting daemons with Debian's default configuration:
    # this script starts them itself, with its own configuration, and records their PIDs.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
    } || rc=$?
    ((made_policy)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${PACKAGES[*]} failed (exit $rc)"
}

ensure_munge_key() {
    local key=/etc/munge/munge.key
    [[ -s $key ]] && return 0 # normally made by the munge package's postinst
    log "creating $key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$key"
    else
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$key"
    chmod 0400 "$key"
}

write_file_if_changed() { # PATH CONTENT -> returns 0 if it changed
    if [[ -f $1 ]] && [[ $(cat "$1") == "$2" ]]; then
        return 1
    fi
    printf '%s\n' "$2" >"$1"
    return 0
}

write_config() { # sets CONFIG_CHANGED
    local host cpus mem_total mem margin slurm_conf gres_conf
    host=$(hostname -s)
    [[ -n $host ]] || die "hostname -s is empty"
    cpus=$(nproc)
    mem_total=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024)) # MiB
    # Leave the OS 5 % (at least 1 GiB): slurmd drains a node that reports less than RealMemory.
    margin=$((mem_total / 20 > 1024 ? mem_total / 20 : 1024))
    mem=$((mem_total - margin))
    ((mem >= 1024)) || die "only ${mem_total} MiB of memory; need at least 2 GiB for a test node"
    ((MIN_JOB_AGE >= 30)) || die "SLURM_SETUP_MIN_JOB_AGE=$MIN_JOB_AGE is too short for squeue-based status checks"

    if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qxF "$MARKER" "$CONF_DIR/slurm.conf" &&
        [[ ${SLURM_SETUP_FORCE:-0} != 1 ]]; then
        die "$CONF_DIR/slurm.conf exists and was not written by this script; refusing to overwrite" \
            "a real cluster's configuration (move it away, or set SLURM_SETUP_FORCE=1)"
    fi
    mkdir -p "$CONF_DIR" "$STATE" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd

    slurm_conf="$MARKER
ClusterName=ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups in a container without systemd: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# No slurmdbd: sacct has nothing to say, so the profile polls with squeue. MinJobAge keeps finished
# jobs visible to squeue (and to scontrol, which the test uses) for that long.
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=$MIN_JOB_AGE
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=5
MpiDefault=none
# One fake GPU (gres.conf), so that rules with resources gpu=1 (sbatch --gpus=1) can be scheduled.
GresTypes=gpu
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP"
    # File= is mandatory: a GPU without a device file is dropped and the node goes INVAL.
    gres_conf="$MARKER
NodeName=${host} Name=gpu File=/dev/null"

    CONFIG_CHANGED=0
    write_file_if_changed "$CONF_DIR/slurm.conf" "$slurm_conf" && CONFIG_CHANGED=1
    write_file_if_changed "$CONF_DIR/gres.conf" "$gres_conf" && CONFIG_CHANGED=1
    log "node ${host}: CPUs=${cpus} RealMemory=${mem} MiB, 1 fake GPU, MinJobAge=${MIN_JOB_AGE}s" \
        "($CONF_DIR/slurm.conf $( ((CONFIG_CHANGED)) && echo written || echo unchanged))"
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
    if pid_of munged >/dev/null; then
        return 0
    fi
    if munge_works; then
        log "a munged that this script did not start is already serving; using it (stop leaves it alone)"
        return 0
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    rm -f /run/munge/munged.pid
    log "starting munged"
    # --force: start even if a dead munged left its socket behind.
    runuser -u munge -- /usr/sbin/munged --force
    local i
    for i in $(seq 40); do
        [[ -s /run/munge/munged.pid ]] && break
        sleep 0.25
    done
    [[ -s /run/munge/munged.pid ]] || die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$STATE/munged.pid"
    pid_of munged >/dev/null || die "munged exited right after starting (see /var/log/munge/munged.log)"
    munge_works || die "munged runs but munge | unmunge fails (see /var/log/munge/munged.log)"
}

node_state() { bounded sinfo -h -N -n "$(hostname -s)" -o %T 2>/dev/null | head -n1; }

require_alive() { # NAME...: die with the daemon's log if it has exited (e.g. a fatal config error)
    local name
    for name in "$@"; do
        if ! pid_of "$name" >/dev/null; then
            tail -n 20 "$LOG_DIR/$name.log" >&2 || true
            die "$name exited; the end of $LOG_DIR/$name.log is above"
        fi
    done
}

wait_for_controller() {
    local deadline=$((SECONDS + 30))
    until bounded scontrol ping 2>/dev/null | grep -q "is UP"; do
        require_alive slurmctld
        ((SECONDS < deadline)) || die "slurmctld does not answer scontrol ping after 30 s"
        sleep 0.5
    done
}

wait_until_idle() {
    local deadline=$((SECONDS + 60)) state="" resumed=0 started=$SECONDS
    while ((SECONDS < deadline)); do
        require_alive slurmctld slurmd
        state=$(node_state || true)
        case $state in
            idle | mixed | allocated) return 0 ;; # mixed/allocated: a re-run found jobs running
            down* | drain* | inval* | fail*)
                if ((!resumed && SECONDS - started > 5)); then
                    log "node is '$state'; asking slurmctld to resume it"
                    bounded scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
                    resumed=1
                fi
                ;;
        esac
        sleep 1
    done
    bounded sinfo -R >&2 || true
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "the node did not become idle within 60 s (last state: '${state:-unknown}')"
}

start() {
    need_root
    install_packages
    ensure_munge_key
    write_config
    start_munged
    if ((CONFIG_CHANGED)) || ! pid_of slurmctld >/dev/null || ! pid_of slurmd >/dev/null; then
        # (Re)start both, so that they share the configuration just written.
        stop_daemon slurmd
        stop_daemon slurmctld
        log "starting slurmctld and slurmd"
        /usr/sbin/slurmctld
        wait_for_pidfile slurmctld "$LOG_DIR/slurmctld.log"
        wait_for_controller
        /usr/sbin/slurmd
        wait_for_pidfile slurmd "$LOG_DIR/slurmd.log"
    else
        log "slurmctld and slurmd already run with this configuration"
    fi
    wait_until_idle
    # End to end: munge, controller, node daemon and the fake GPU all answer.
    timeout -s KILL 60 srun --time=1 --ntasks=1 --gpus=1 true ||
        die "a one-GPU test step (srun --gpus=1 true) failed; see $LOG_DIR/slurmctld.log"
    bounded sinfo
    log "ready: munged $(pid_of munged || echo '(not ours)'), slurmctld $(pid_of slurmctld)," \
        "slurmd $(pid_of slurmd); PID files in $STATE"
}

# ---- stop -----------------------------------------------------------------------------------------

stop() {
    need_root
    local jobs i
    if pid_of slurmctld >/dev/null; then
        # Killing slurmd does not end the jobs' slurmstepd processes: cancel the jobs first.
        jobs=$(bounded squeue -h -o %A -t PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n ${jobs// /} ]]; then
            log "cancelling jobs $jobs"
            # shellcheck disable=SC2086
            bounded scancel $jobs || true
            for i in $(seq 30); do
                [[ -z $(bounded squeue -h -o %A -t RUNNING,COMPLETING 2>/dev/null) ]] && break
                sleep 0.5
            done
        fi
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon munged
    log "stopped"
}

status() {
    local name pid rc=0
    for name in munged slurmctld slurmd; do
        if pid=$(pid_of "$name"); then
            echo "$name: running (pid $pid)"
        elif [[ $name == munged ]] && munge_works; then
            echo "munged: running, not started by this script"
        else
            echo "$name: not running (no live process in $STATE/$name.pid)"
            rc=1
        fi
    done
    bounded sinfo 2>/dev/null || true
    return $rc
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "unknown verb '$1'; expected start, stop or status" ;;
esac
