#!/bin/bash
# HAProxy runtime commands for operators and deploy/docker/test-stack.sh, run inside the load balancer
# (the admin socket listens on the container's own loopback only):
#   docker compose exec tp-capital-lb bash /tp-capital/admin.sh drain api_canary        # before stopping it
#   docker compose exec tp-capital-lb bash /tp-capital/admin.sh drain api 172.18.0.7    # one replica
#   docker compose exec tp-capital-lb bash /tp-capital/admin.sh ready api_canary        # after (re)starting
#   docker compose exec tp-capital-lb bash /tp-capital/admin.sh servers api
# `drain` puts the servers of BACKEND (only the one at ADDRESS, if given) in maintenance: no new request
# goes to them, requests in flight finish. `ready` takes them out of maintenance (health checks decide).
# The stable api replicas are also the canary's backups: `drain|ready api` acts on both backends.
set -euo pipefail

runtime() { # runtime COMMAND: one command on the admin socket, its answer on stdout
  exec 3<>/dev/tcp/127.0.0.1/9999
  printf '%s\n' "$1" >&3
  cat <&3
  exec 3>&-
}

# servers BACKEND: "name address" of each server slot (from `show servers state`).
servers() { runtime "show servers state $1" | awk 'NR > 2 && NF > 5 {print $4, $5}'; }

# slots BACKEND: "backend name address" of each slot drain/ready act on.
slots() {
  servers "$1" | sed "s/^/$1 /"
  if [[ $1 == api ]]; then servers api_canary | awk '$1 ~ /^api/ {print "api_canary", $0}'; fi
}

cmd=${1:-}
backend=${2:-}
[[ $backend =~ ^[a-z_]+$ ]] || {
  echo "usage: admin.sh drain|ready|servers BACKEND [ADDRESS]" >&2
  exit 2
}
case $cmd in
  drain | ready)
    state=maint
    [[ $cmd == ready ]] && state=ready
    slots "$backend" | while read -r be name addr; do
      if [[ -z ${3:-} || $addr == "$3" ]]; then
        runtime "set server $be/$name state $state" >/dev/null
        echo "$be/$name ($addr) $state"
      fi
    done
    ;;
  servers) servers "$backend" ;;
  *)
    echo "usage: admin.sh drain|ready|servers BACKEND [ADDRESS]" >&2
    exit 2
    ;;
esac
