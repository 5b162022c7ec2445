# shellcheck shell=bash
# Shared helpers for deploy/local/stack.sh and deploy/local/plain-postgres.sh.
# Sourced, never executed. Messages go to stderr so that `env` output stays clean.

TP_LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TP_REPO_ROOT=$(cd "$TP_LOCAL_DIR/../.." && pwd)
TP_CACHE_DIR=${TP_CACHE_DIR:-/var/cache/tp-capital}
# shellcheck disable=SC2034 # used by the scripts that source this file
TP_DB_NAME=tp_capital_db
# shellcheck disable=SC2034
TP_DB_USER=tp_capital
# Marker that proves a folder is a stack state folder (destroy refuses to delete anything else).
TP_STATE_MARKER=.tp-capital-stack
export TP_LOCAL_DIR TP_REPO_ROOT TP_CACHE_DIR

log() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
warn() { printf 'WARN: %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# shquote VALUE: VALUE as one single-quoted shell word.
shquote() {
  local s=${1//\'/\'\\\'\'}
  printf "'%s'" "$s"
}

# print_export NAME VALUE: an `export NAME='VALUE'` line on stdout.
print_export() { printf 'export %s=%s\n' "$1" "$(shquote "$2")"; }

require_root() {
  [[ $EUID -eq 0 ]] || die "this command must run as root (it uses chroot, mount and runuser)"
}

check_port_number() {
  local name=$1 value=$2
  if [[ ! $value =~ ^[0-9]+$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
    die "$name must be a TCP port number, got '$value'"
  fi
}

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_free_port PORT WHAT: die with a clear message when PORT is taken by something else.
require_free_port() {
  if port_in_use "$1"; then
    die "port $1 (for $2) is already in use by another process; pick another port (see the TP_*_PORT variables)"
  fi
}

# random_secret: 48 hex characters from the kernel's CSPRNG (deploy/docker's secrets; the native
# stack's are made by `xtask stack`).
random_secret() {
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
}

# xtask ARGS...: the Rust half of these scripts (`cargo xtask stack`, xtask/src/local/): settings,
# secrets, environment, config files, readiness waits. TP_XTASK names a built binary (`cargo xtask
# ci` passes its own); else target/debug/xtask, built first when missing or older than its sources.
xtask() {
  if [[ -z ${TP_XTASK:-} ]]; then
    local bin=${CARGO_TARGET_DIR:-$TP_REPO_ROOT/target}/debug/xtask cargo
    if [[ ! -x $bin || -n $(find "$TP_REPO_ROOT/xtask" "$TP_REPO_ROOT/Cargo.lock" -newer "$bin" -print -quit 2>/dev/null) ]]; then
      cargo=$(command -v cargo || printf '%s' "${CARGO_HOME:-$HOME/.cargo}/bin/cargo")
      [[ -x $cargo ]] || die "deploy/local needs cargo to build xtask (https://rustup.rs), or TP_XTASK=<a built xtask binary>"
      log "building xtask, the Rust half of deploy/local (cargo build -p xtask)"
      (cd "$TP_REPO_ROOT" && "$cargo" build --quiet --locked -p xtask) </dev/null >&2 || die "cargo build -p xtask failed"
      touch "$bin"
    fi
    TP_XTASK=$bin
  fi
  "$TP_XTASK" "$@"
}

# pid_alive PID [PATTERN]: PID is a live (non-zombie) process whose command line contains PATTERN.
pid_alive() {
  local pid=${1:-} pattern=${2:-} stat state cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  state=${stat%% *}
  [[ $state != Z && $state != X ]] || return 1
  [[ -z $pattern ]] && return 0
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$pattern"* ]]
}

# close_inherited_fds: close every descriptor above stderr in the current (sub)shell, so that a daemon
# started from it holds none of our lock files or our caller's pipes (a daemon holding the caller's
# pipe makes `$(stack.sh ...)` hang; one holding a lock blocks every later stack.sh).
close_inherited_fds() {
  local path fd
  for path in /proc/"$BASHPID"/fd/*; do
    fd=${path##*/}
    if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)) && [[ -e /proc/$BASHPID/fd/$fd ]]; then
      exec {fd}>&-
    fi
  done
}

# read_pid FILE: first line of FILE, or nothing.
read_pid() {
  [[ -r $1 ]] || return 0
  head -n1 "$1" 2>/dev/null | tr -d '[:space:]'
}

# wait_pid_exit PID SECONDS: wait until PID is gone; false on timeout.
wait_pid_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# stop_pid PID WHAT SIGNAL [SECONDS]: graceful stop with SIGNAL, escalating to SIGKILL after SECONDS.
stop_pid() {
  local pid=$1 what=$2 signal=$3 timeout=${4:-30}
  pid_alive "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  if ! wait_pid_exit "$pid" "$timeout"; then
    warn "$what (pid $pid) did not stop within ${timeout}s after SIG$signal; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_exit "$pid" 10 || die "$what (pid $pid) survived SIGKILL"
  fi
}

# show_run_log FILE: print to stderr what a service logged since its last start marker ("==== ").
show_run_log() {
  local file=$1 start
  start=$(grep -n '^==== ' "$file" 2>/dev/null | tail -n1 | cut -d: -f1)
  printf -- '---- %s (this run) ----\n' "$file" >&2
  tail -n "+${start:-1}" "$file" 2>/dev/null | tail -n 60 >&2 || true
  printf -- '---- end of %s ----\n' "$file" >&2
}

# show_log_tail FILE [LINES]: print the end of a log to stderr (for failures).
show_log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -r $file ]]; then
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf -- '---- end of %s ----\n' "$file" >&2
  else
    printf 'no log at %s\n' "$file" >&2
  fi
}

TP_APT_UPDATED=${TP_APT_UPDATED:-0}

# ensure_packages CHECK:PACKAGE...: install (quietly) the Debian packages whose CHECK is missing.
# CHECK is a command name looked up in PATH, or an absolute path that must exist.
ensure_packages() {
  local missing=() pair check pkg
  for pair in "$@"; do
    check=${pair%%:*}
    pkg=${pair#*:}
    if [[ $check == /* ]]; then
      [[ -e $check ]] && continue
    else
      command -v "$check" >/dev/null 2>&1 && continue
    fi
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  require_root
  log "installing Debian packages: ${missing[*]}"
  mkdir -p "$TP_CACHE_DIR"
  local apt_fd lock=$TP_CACHE_DIR/apt.lock apt_log=$TP_CACHE_DIR/apt.log policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
  exec {apt_fd}>"$lock"
  flock -w 900 "$apt_fd" || die "timed out waiting for $lock"
  # Debian packages try to start their services (redis-server, postgresql) on install: forbid that.
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=1
  fi
  {
    if [[ $TP_APT_UPDATED != 1 ]]; then
      apt-get update -qq && TP_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}"
  } >>"$apt_log" 2>&1 || rc=$?
  ((added_policy)) && rm -f "$policy"
  flock -u "$apt_fd"
  exec {apt_fd}>&-
  if ((rc != 0)); then
    show_log_tail "$apt_log" 30
    die "apt-get install ${missing[*]} failed (log: $apt_log)"
  fi
}

# assert_removable_state_dir DIR: refuse to delete anything that is not a stack state folder.
assert_removable_state_dir() {
  local dir=$1
  case $dir in
    / | /root | /home | /tmp | /var | /usr | /etc | /work | "$TP_REPO_ROOT" | "$TP_LOCAL_DIR" | "${HOME:-/root}")
      die "refusing to delete $dir"
      ;;
  esac
  [[ ! -e $dir || -e $dir/$TP_STATE_MARKER ]] || die "$dir has no $TP_STATE_MARKER marker: not a stack state folder, refusing to delete it"
}
