#!/usr/bin/env bash
# Copied from ../shared/reference/slurm/ (the reference scripts measured on these machines, Debian 12,
# slurm-wlm 22.05) for the interdep SLURM test (tests/test_slurm.py); keep in step with the reference.
# start_local_slurm.sh - install, configure and start a single-node SLURM cluster
# on localhost (Debian 12, run as root, works without systemd).
#
# Idempotent: packages are installed only when missing, config files are only
# rewritten when their content changes, daemons that already run are left alone
# (a changed slurm.conf restarts slurmctld/slurmd).
#
# Environment knobs:
#   SLURM_ACCOUNTING=slurmdbd|none  (default slurmdbd) slurmdbd+MariaDB make `sacct`
#                                    work, which snakemake-executor-plugin-slurm
#                                    uses by default. With "none", pass
#                                    `--slurm-status-command squeue` to snakemake.
#   SLURM_PARTITION=debug            partition name (Default=YES)
#   SLURM_CLUSTER_NAME=localcluster
#   SLURM_MIN_JOB_AGE=900            seconds finished jobs stay visible to squeue
#   SLURM_SMOKE_TEST=1               run a `sbatch --wrap true` job at the end and wait for it
#   SLURM_LOG_DIR=/var/log/slurm
#
# Stop with stop_local_slurm.sh.
set -euo pipefail

ACCOUNTING="${SLURM_ACCOUNTING:-slurmdbd}"
PARTITION="${SLURM_PARTITION:-debug}"
CLUSTER="${SLURM_CLUSTER_NAME:-localcluster}"
MIN_JOB_AGE="${SLURM_MIN_JOB_AGE:-900}"
SMOKE="${SLURM_SMOKE_TEST:-1}"
LOGDIR="${SLURM_LOG_DIR:-/var/log/slurm}"
NODE=localhost
CONF=/etc/slurm/slurm.conf
DBDCONF=/etc/slurm/slurmdbd.conf
DB_PASS=slurmlocal   # local-only MariaDB account, socket access from localhost

log() { printf '[start_local_slurm %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*"; for f in "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmdbd.log; do [ -f "$f" ] && { echo "--- tail $f"; tail -n 20 "$f"; }; done; exit 1; }
# wait_for SECONDS CMD... : retry CMD every 0.2 s until it succeeds or time runs out
wait_for() { local t=$1; shift; local end=$((SECONDS + t)); until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
case "$ACCOUNTING" in slurmdbd|none) ;; *) die "SLURM_ACCOUNTING must be slurmdbd or none";; esac

# ---------------------------------------------------------------- packages
PKGS=(munge slurm-client slurmctld slurmd)
[ "$ACCOUNTING" = slurmdbd ] && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # postinst scripts try to start services; harmless if policy-rc.d forbids it
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 0600 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge' || die "munged did not come up"
fi

# ---------------------------------------------------------------- slurm.conf
install -d -m 0755 "$LOGDIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /etc/slurm
# hardware as slurmd sees it (line: NodeName=... CPUs=2 Boards=1 ... RealMemory=24105)
HW=$(slurmd -C | head -n1 | sed -E 's/^NodeName=[^ ]+ //; s/ *$//')
[ -n "$HW" ] || die "slurmd -C gave no hardware line"

if [ "$ACCOUNTING" = slurmdbd ]; then
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  ACCT_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

NEW_CONF=$(cat <<EOF
# written by start_local_slurm.sh - single-node cluster on localhost
ClusterName=$CLUSTER
SlurmctldHost=localhost
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=$MIN_JOB_AGE
$ACCT_CONF
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
NodeName=$NODE NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
CONF_CHANGED=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$NEW_CONF" ]; then
  log "writing $CONF"
  printf '%s\n' "$NEW_CONF" > "$CONF"
  CONF_CHANGED=1
fi

# ---------------------------------------------------------------- accounting (MariaDB + slurmdbd)
if [ "$ACCOUNTING" = slurmdbd ]; then
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising MariaDB data dir"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  if ! mariadb-admin ping >/dev/null 2>&1; then
    log "starting mariadbd (unix socket only)"
    # setsid + nohup: keep it alive after this script's shell exits
    setsid nohup /usr/sbin/mariadbd --user=mysql --skip-networking \
      --pid-file=/run/mysqld/mysqld.pid >"$LOGDIR/mariadb.log" 2>&1 < /dev/null &
    wait_for 30 mariadb-admin ping || die "mariadbd did not come up (see $LOGDIR/mariadb.log)"
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  NEW_DBD=$(cat <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
)
  if [ ! -f "$DBDCONF" ] || [ "$(cat "$DBDCONF")" != "$NEW_DBD" ]; then
    log "writing $DBDCONF"
    printf '%s\n' "$NEW_DBD" > "$DBDCONF"
    if pid_alive /run/slurmdbd.pid; then
      pid=$(cat /run/slurmdbd.pid); kill "$pid"; wait_for 15 sh -c "! kill -0 $pid" || true
    fi
  fi
  chmod 0600 "$DBDCONF"
  if ! pid_alive /run/slurmdbd.pid; then
    log "starting slurmdbd"
    /usr/sbin/slurmdbd
    # slurmdbd answers sacctmgr once it is up
    wait_for 30 sacctmgr -n list cluster || die "slurmdbd did not come up"
  fi
fi

# ---------------------------------------------------------------- slurmctld + slurmd
if [ "$CONF_CHANGED" = 1 ]; then
  for d in slurmd slurmctld; do
    if pid_alive /run/$d.pid; then
      log "config changed: stopping running $d"
      pid=$(cat /run/$d.pid); kill "$pid"
      wait_for 20 sh -c "! kill -0 $pid" || die "$d (pid $pid) did not stop"
    fi
  done
fi
if ! pid_alive /run/slurmctld.pid; then
  log "starting slurmctld"
  /usr/sbin/slurmctld
  wait_for 30 scontrol ping || die "slurmctld did not answer"
fi
if ! pid_alive /run/slurmd.pid; then
  log "starting slurmd"
  /usr/sbin/slurmd -N "$NODE"
fi
node_ready() { sinfo -h -n "$NODE" -o '%T' | grep -Eq '^(idle|mixed|allocated|completing)'; }
if ! wait_for 30 node_ready; then
  # e.g. drained after an unclean stop: put it back into service once
  scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
  wait_for 15 node_ready || die "node $NODE not ready: $(sinfo -h -N -o '%N %T %E')"
fi

if [ "$ACCOUNTING" = slurmdbd ]; then
  # slurmctld registers the cluster (and root's association) in slurmdbd itself
  wait_for 30 sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx '$CLUSTER'" \
    || die "cluster $CLUSTER not registered in slurmdbd"
fi

# ---------------------------------------------------------------- smoke test
if [ "$SMOKE" = 1 ]; then
  jid=$(cd /tmp && sbatch --parsable -p "$PARTITION" -t 1 -o /dev/null --wrap true) \
    || die "smoke-test submission failed"
  job_state() { scontrol show job -o "$jid" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
  # (sbatch --wait polls slowly; poll every 0.2 s instead)
  wait_for 60 sh -c "scontrol show job -o $jid | grep -Eq 'JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL)'" \
    || die "smoke-test job $jid did not finish: $(job_state)"
  [ "$(job_state)" = COMPLETED ] || die "smoke-test job $jid ended $(job_state)"
  log "smoke-test job $jid completed"
fi
log "ready: $(sinfo -h -o '%P %a %D %T %N' | tr '\n' ' ')(accounting: $ACCOUNTING)"
