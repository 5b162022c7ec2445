# shellcheck shell=bash
# Helpers for deploy/docker/test-stack.sh on a machine without an image registry: install the Docker
# engine and the Compose v2 plugin when none answers, and build the local base image that stands in
# for the official TimescaleDB, PgBouncer, Redis and HAProxy images (and the runtime's Debian).
# Sourced, never executed.

# shellcheck source=SCRIPTDIR/../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

# shellcheck disable=SC2034 # used by the scripts that source this file
TP_DOCKER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian 13 packages the base image adds to the native stack's root filesystem.
BASE_EXTRA_PACKAGES=(redis-server redis-tools haproxy)
BASE_IMAGE_REPO=tp-capital-local/base
# The tree the base image is imported from, kept so later runs skip the copy and the apt step.
BASE_TREE=$TP_CACHE_DIR/docker-base-rootfs
BASE_TREE_MARKER=.tp-capital-docker-base-complete
# Bumped whenever ensure_base_tree changes what it puts in the tree (a new recipe rebuilds it).
BASE_RECIPE=2
COMPOSE_PLUGIN_DIR=${TP_COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
# The dockerd this script started (stop_engine stops only that one).
STARTED_DOCKERD_PID=

# ensure_engine: the Docker engine answers, installing Debian's docker.io and starting dockerd if needed.
ensure_engine() {
  engine_answers && return 0
  require_root
  ensure_packages dockerd:docker.io
  local starting=0
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/tp-capital-dockerd.log)"
    (
      close_inherited_fds
      exec setsid dockerd </dev/null >>/var/log/tp-capital-dockerd.log 2>&1
    ) &
    starting=1
  fi
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    ((SECONDS < deadline)) || {
      show_log_tail /var/log/tp-capital-dockerd.log 30
      die "the Docker engine does not answer after 60s"
    }
    sleep 1
  done
  if ((starting)); then STARTED_DOCKERD_PID=$(pgrep -nx dockerd || true); fi
  note "Docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"
}

# stop_engine: stop the dockerd ensure_engine started (it stops its containerd), nothing else.
stop_engine() {
  [[ -n $STARTED_DOCKERD_PID ]] || return 0
  kill -TERM "$STARTED_DOCKERD_PID" 2>/dev/null || return 0
  local deadline=$((SECONDS + 30))
  while kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  STARTED_DOCKERD_PID=
}

compose_answers() { docker compose version >/dev/null 2>&1; }

# ensure_compose: the Compose v2 plugin, from Debian 13's docker-compose package (downloaded with the
# base tree's apt and unpacked with dpkg-deb -x; nothing of it is installed in the host's dpkg).
ensure_compose() {
  compose_answers && return 0
  require_root
  ensure_base_tree
  log "installing the Compose v2 plugin from Debian 13's docker-compose package"
  local work=$BASE_TREE/tmp/compose-plugin deb
  rm -rf "$work"
  mkdir -p "$work"
  chroot "$BASE_TREE" /usr/bin/env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" \
    sh -c 'cd /tmp/compose-plugin && apt-get download -qq docker-compose' >>"$TP_CACHE_DIR/apt.log" 2>&1 ||
    die "apt-get download docker-compose failed (log: $TP_CACHE_DIR/apt.log)"
  deb=$(compgen -G "$work/docker-compose_*.deb" | head -n1)
  [[ -n $deb ]] || die "no docker-compose package was downloaded"
  dpkg-deb -x "$deb" "$work/x"
  local plugin
  plugin=$(find "$work/x" -type f -name docker-compose -path '*cli-plugins*' | head -n1)
  [[ -n $plugin ]] || die "$deb holds no cli-plugins/docker-compose"
  install -D -m 755 "$plugin" "$COMPOSE_PLUGIN_DIR/docker-compose"
  rm -rf "$work"
  compose_answers || die "docker compose does not answer after installing $COMPOSE_PLUGIN_DIR/docker-compose"
  note "$(docker compose version)"
}

# ensure_base_tree: a copy of the native stack's Debian 13 tree (no stack data) plus Redis and HAProxy.
ensure_base_tree() {
  base_tree_current && return 0
  require_root
  local rootfs tmp mirror
  rootfs=$("$TP_REPO_ROOT/deploy/local/stack.sh" rootfs) || die "cannot build the Debian 13 root filesystem"
  mkdir -p "$TP_CACHE_DIR"
  exec {BASE_LOCK_FD}>"$BASE_TREE.lock"
  flock -w 1800 "$BASE_LOCK_FD" || die "timed out waiting for $BASE_TREE.lock"
  if ! base_tree_current; then
    log "building the Docker base tree from $rootfs (+ ${BASE_EXTRA_PACKAGES[*]})"
    rm -rf --one-file-system "$BASE_TREE" "$BASE_TREE".tmp.*
    tmp=$(mktemp -d "$BASE_TREE.tmp.XXXXXX")
    chmod 755 "$tmp"
    # --one-file-system leaves out the proc and /dev/shm mounts of running native stacks.
    tar -C "$rootfs" --one-file-system --exclude=./srv/stacks/* -cf - . |
      tar -C "$tmp" -xf -
    mirror=${TP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"
    if ! chroot "$tmp" /usr/bin/env -i PATH="/usr/sbin:/usr/bin:/sbin:/bin" DEBIAN_FRONTEND=noninteractive \
      sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${BASE_EXTRA_PACKAGES[*]} && apt-get clean" \
      >>"$TP_CACHE_DIR/apt.log" 2>&1; then
      show_log_tail "$TP_CACHE_DIR/apt.log" 20
      rm -rf --one-file-system "$tmp"
      die "installing ${BASE_EXTRA_PACKAGES[*]} in the base tree failed (mirror $mirror)"
    fi
    rm -f "$tmp/usr/sbin/policy-rc.d"
    # The data directories the official PostgreSQL and Redis images declare, owned by their users
    # (a new named volume takes the ownership of the directory it is mounted on).
    chroot "$tmp" install -d -o postgres -g postgres -m 755 /var/lib/postgresql/data
    chroot "$tmp" install -d -o redis -g redis -m 755 /data
    printf 'recipe %s, built %s\n' "$BASE_RECIPE" "$(date -u +%FT%TZ)" >"$tmp/$BASE_TREE_MARKER"
    mv -T "$tmp" "$BASE_TREE"
  fi
  flock -u "$BASE_LOCK_FD"
  exec {BASE_LOCK_FD}>&-
}

base_tree_current() { [[ $(head -c 20 "$BASE_TREE/$BASE_TREE_MARKER" 2>/dev/null) == "recipe $BASE_RECIPE,"* ]]; }

# base_image_tag: the tag of the base image built from the current base tree.
base_image_tag() {
  printf '%s:%s' "$BASE_IMAGE_REPO" "$(cat "$BASE_TREE/$BASE_TREE_MARKER" "$BASE_TREE/.tp-capital-rootfs-complete" 2>/dev/null |
    sha1sum | cut -c1-12)"
}

# ensure_base_image: import the base tree as an image once (kept by the engine between runs); prints its tag.
ensure_base_image() {
  ensure_base_tree
  local tag
  tag=$(base_image_tag)
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "importing the base tree as $tag"
    tar -C "$BASE_TREE" --exclude=./tmp/* -cf - . | docker import \
      --change 'ENV PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null || die "docker import of $BASE_TREE failed"
    # Older base images are superseded (their layers would only fill the disk).
    docker image ls --format '{{.Repository}}:{{.Tag}}' "$BASE_IMAGE_REPO" | grep -vxF "$tag" |
      xargs -r docker image rm >/dev/null 2>&1 || true
  fi
  printf '%s\n' "$tag"
}
