#!/usr/bin/env bash
# Copied from ../shared/reference/slurm/ (the reference scripts measured on these machines, Debian 12,
# slurm-wlm 22.05) for the interdep SLURM test (tests/test_slurm.py); keep in step with the reference.
# Snakemake cluster-generic status command: prints running|success|failed for a SLURM job id.
# Works without slurmdbd: asks slurmctld first (squeue keeps finished jobs for MinJobAge s),
# then falls back to sacct (slurmdbd accounting) and sacct -c (jobcomp/filetxt).
jobid="$1"
out=$(squeue -h -j "$jobid" --states=all -o '%T' 2>&1); rc=$?
state=""
if [ $rc -eq 0 ]; then
  state=$(printf '%s\n' "$out" | head -n1)
fi
if [ -z "$state" ]; then
  state=$(sacct -n -X -P -j "$jobid" -o State 2>/dev/null | head -n1)
fi
if [ -z "$state" ]; then
  state=$(sacct -c -n -P -j "$jobid" -o State 2>/dev/null | tail -n1)
fi
if [ -z "$state" ]; then
  # job unknown everywhere: failed if slurmctld says so, else assume a transient error
  case "$out" in *"Invalid job id"*) echo failed; exit 0 ;; *) echo running; exit 0 ;; esac
fi
state=${state%% *}   # "CANCELLED by 0" -> "CANCELLED"
case "$state" in
  COMPLETED) echo success ;;
  PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SIGNALING|STAGE_OUT|STOPPED|PREEMPTED) echo running ;;
  *) echo failed ;;
esac
