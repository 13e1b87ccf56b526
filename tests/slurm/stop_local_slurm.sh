#!/usr/bin/env bash
# Copied from ../shared/reference/slurm/ (the reference scripts measured on these machines, Debian 12,
# slurm-wlm 22.05) for the interdep SLURM test (tests/test_slurm.py); keep in step with the reference.
# stop_local_slurm.sh - stop the single-node SLURM cluster started by start_local_slurm.sh.
# Cancels queued/running jobs, then stops slurmd, slurmctld, slurmdbd, mariadbd and
# munged via their pid files (never by process name).
#   --clean   also wipe SLURM state, spool dirs and logs (next start is a fresh cluster;
#             the accounting database is dropped too)
set -uo pipefail

CLEAN=0
[ "${1:-}" = "--clean" ] && CLEAN=1
LOGDIR="${SLURM_LOG_DIR:-/var/log/slurm}"

log() { printf '[stop_local_slurm %(%H:%M:%S)T] %s\n' -1 "$*"; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() {  # stop_pidfile NAME PIDFILE
  local name=$1 pf=$2 pid
  pid_alive "$pf" || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf")
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name still alive, SIGKILL"; kill -9 "$pid" 2>/dev/null; fi
  rm -f "$pf"
}

[ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }

if pid_alive /run/slurmctld.pid && command -v squeue >/dev/null; then
  mapfile -t jobs < <(squeue -h -o '%i' 2>/dev/null)
  if [ ${#jobs[@]} -gt 0 ]; then
    log "cancelling jobs: ${jobs[*]}"
    scancel "${jobs[@]}" 2>/dev/null
    for _ in $(seq 1 50); do [ -z "$(squeue -h -t PD,R,CG -o '%i' 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi

stop_pidfile slurmd    /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
stop_pidfile slurmdbd  /run/slurmdbd.pid
if [ "$CLEAN" = 1 ] && command -v mariadb >/dev/null && mariadb-admin ping >/dev/null 2>&1; then
  mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db;" 2>/dev/null && log "dropped slurm_acct_db"
fi
stop_pidfile mariadbd  /run/mysqld/mysqld.pid
stop_pidfile munged    /run/munge/munged.pid

if [ "$CLEAN" = 1 ]; then
  log "wiping state, spool and logs"
  rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/* \
         "$LOGDIR"/slurmctld.log "$LOGDIR"/slurmd.log "$LOGDIR"/slurmdbd.log \
         "$LOGDIR"/jobcomp.log "$LOGDIR"/mariadb.log
fi
log "stopped"
