#!/usr/bin/env bash
# Make a single-node Slurm cluster reachable on this machine: install Debian's slurm-wlm and munge
# when missing, write a minimal slurm.conf for this host (its real CPUs and memory, from
# `slurmd -C`), start munged, slurmctld and slurmd. Idempotent: a running cluster is left alone.
# Needs root and apt; says why when it can't. Logs: /tmp/llem-slurm*.log.
set -euo pipefail
if command -v sinfo >/dev/null 2>&1 && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-slurm: not root; cannot install or start Slurm here" >&2; exit 1
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-slurm: no apt-get; install slurm-wlm and munge by hand" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/tmp/llem-slurm-apt.log 2>&1 \
    || { tail -n 20 /tmp/llem-slurm-apt.log >&2; exit 1; }
fi

host=$(hostname -s)
conf=/etc/slurm/slurm.conf
if [ ! -f "$conf" ]; then
  node=$(slurmd -C | head -n 1)  # NodeName=HOST CPUs=.. Boards=.. ... RealMemory=..
  mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  cat >"$conf" <<CONF
# written by llem ensure-slurm: a single-node cluster for tests
ClusterName=llem
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=/tmp/llem-slurmctld.log
SlurmdLogFile=/tmp/llem-slurmd.log
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
fi

if ! pgrep -x munged >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  runuser -u munge -- /usr/sbin/munged >/tmp/llem-slurm-munged.log 2>&1 || /usr/sbin/munged --force >>/tmp/llem-slurm-munged.log 2>&1
fi
pgrep -x slurmctld >/dev/null 2>&1 || slurmctld
pgrep -x slurmd >/dev/null 2>&1 || slurmd
for _ in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm ready"; exit 0
  fi
  state=$(sinfo -h -o '%T' 2>/dev/null || true)
  case "$state" in down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;; esac
  sleep 1
done
echo "ensure-slurm: the cluster did not come up; see /tmp/llem-slurmctld.log and /tmp/llem-slurmd.log" >&2
tail -n 10 /tmp/llem-slurmctld.log /tmp/llem-slurmd.log >&2 || true
exit 1
