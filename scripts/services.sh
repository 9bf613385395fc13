#!/usr/bin/env bash
# Local services for PureHealth Pipelines: PostgreSQL + TimescaleDB and Mosquitto.
#
#   scripts/services.sh up      install what is missing, configure, start (idempotent; safe to run twice)
#   scripts/services.sh tools   install npm and Chromium (dashboard assets and browser tests) if missing
#   scripts/services.sh status  show what is running
#   scripts/services.sh down    stop both services
#   scripts/services.sh auth-files  (re)write the broker's service accounts and passwd/acl files only
#   scripts/services.sh tls-files   generate the TLS listener's self-signed certificate only (once)
#
# Works on Debian/Ubuntu as root (or with sudo). It uses services that are already running rather than
# starting second copies on other ports: the project's settings go into the distribution's conf.d folders and
# the service is restarted only when those settings changed. TimescaleDB comes from the distribution's package
# where one exists (Debian 13: postgresql-NN-timescaledb); otherwise the Debian 13 source package is built for
# the local PostgreSQL major (Apache-2 edition), as described in docs/stack_notes.md.
set -euo pipefail

PG_USER="${PUREHEALTH_PG_USER:-purehealth}"
PG_PASSWORD="${PUREHEALTH_PG_PASSWORD:-purehealth}"
PG_PORT="${PUREHEALTH_PG_PORT:-5432}"
MOSQUITTO_CONF=/etc/mosquitto/mosquitto.conf
MOSQUITTO_PROJECT_CONF=/etc/mosquitto/conf.d/purehealth.conf
# Broker authentication: password + ACL files rendered from fragments in this directory.
MQTT_AUTH_DIR="${PUREHEALTH_MQTT_AUTH_DIR:-/etc/mosquitto/purehealth}"
MQTT_BRIDGE_USER="${PUREHEALTH_MQTT_BRIDGE_USERNAME:-purehealth-bridge}"
MQTT_BRIDGE_PASSWORD="${PUREHEALTH_MQTT_BRIDGE_PASSWORD:-purehealth-bridge-local}"
MQTT_TOOLS_USER="${PUREHEALTH_MQTT_TOOLS_USERNAME:-purehealth-tools}"
MQTT_TOOLS_PASSWORD="${PUREHEALTH_MQTT_TOOLS_PASSWORD:-purehealth-tools-local}"
MQTT_TLS_PORT="${PUREHEALTH_MQTT_TLS_PORT:-8883}"
BUILD_DIR=/var/cache/purehealth/timescaledb

log() { printf '\033[1;34m[services]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[services] error:\033[0m %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root, or install sudo"
  SUDO="sudo"
fi
as_postgres() { $SUDO runuser -u postgres -- "$@"; }

APT_UPDATED=0
apt_install() {
  # apt_install PKG... : install the packages that are not installed yet.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"; $SUDO apt-get update -qq; APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pg_major() { ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1; }
pg_bin() { echo "/usr/lib/postgresql/$(pg_major)/bin"; }

pg_is_online() { pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3==p && $4=="online"' | grep -q .; }

pg_start() {
  local major; major=$(pg_major)
  if pg_is_online; then return 0; fi
  log "starting PostgreSQL $major"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$major" main start
}

pg_restart() {
  local major; major=$(pg_major)
  log "restarting PostgreSQL $major (new settings)"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$major" main restart
}

timescaledb_installed() { [ -f "$("$(pg_bin)/pg_config" --sharedir)/extension/timescaledb.control" ]; }

debian_mirror() {
  # The Debian mirror this machine already uses (deb822 or one-line format), so no host is hard-coded here.
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | awk '{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | head -n 1 || true)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in the apt sources"
  echo "$uri"
}

build_timescaledb_from_source() {
  local major; major=$(pg_major)
  apt_install "postgresql-server-dev-$major" cmake gcc make libssl-dev xz-utils
  local aptdir="$BUILD_DIR/apt" mirror
  mirror=$(debian_mirror)
  $SUDO mkdir -p "$aptdir/lists/partial" "$BUILD_DIR/src"
  $SUDO chown _apt "$BUILD_DIR/src" 2>/dev/null || true
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    | $SUDO tee "$aptdir/sources.list" >/dev/null
  local opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$aptdir/lists")
  log "fetching the TimescaleDB source package (Debian 13) to build for PostgreSQL $major"
  $SUDO apt-get -qq "${opts[@]}" update
  (cd "$BUILD_DIR/src" && $SUDO apt-get -qq "${opts[@]}" source --download-only timescaledb >/dev/null)
  local tarball; tarball=$(ls "$BUILD_DIR"/src/timescaledb_*.orig.tar.* | head -n 1)
  local srcdir="$BUILD_DIR/src/build"
  $SUDO rm -rf "$srcdir"; $SUDO mkdir -p "$srcdir"
  $SUDO tar -xf "$tarball" -C "$srcdir" --strip-components=1
  log "building TimescaleDB (Apache-2 edition) — about a minute"
  (cd "$srcdir" && $SUDO ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DAPACHE_ONLY=1 \
      -DSEND_TELEMETRY_DEFAULT=NO -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$(pg_bin)/pg_config" \
    && $SUDO make -s -C build -j"$(nproc)" install) >"$BUILD_DIR/build.log" 2>&1 \
    || die "TimescaleDB build failed; see $BUILD_DIR/build.log"
  timescaledb_installed || die "TimescaleDB build finished but the extension is not installed"
}

install_timescaledb() {
  timescaledb_installed && return 0
  local major; major=$(pg_major)
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  if apt-cache policy "postgresql-$major-timescaledb" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt_install "postgresql-$major-timescaledb"
  else
    build_timescaledb_from_source
  fi
}

configure_postgres() {
  local major conf_dir conf changed=0
  major=$(pg_major)
  conf_dir="/etc/postgresql/$major/main/conf.d"
  conf="$conf_dir/purehealth.conf"
  $SUDO mkdir -p "$conf_dir"
  local want
  want=$(cat <<CONF
# Written by PureHealth Pipelines scripts/services.sh
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
# Memory and WAL for a time-series warehouse instead of PostgreSQL's 128 MB / 1 GB defaults (the kind of
# values timescaledb-tune sets, kept modest for a machine that runs other services too): a backfill writes
# more than 1 GB of WAL per partition replace, which with the default max_wal_size forces checkpoints (and
# full-page writes) mid-write.
shared_buffers = 2GB
effective_cache_size = 8GB
maintenance_work_mem = 512MB
wal_buffers = 64MB
min_wal_size = 1GB
max_wal_size = 8GB
checkpoint_timeout = 15min
CONF
)
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    echo "$want" | $SUDO tee "$conf" >/dev/null; changed=1
  fi
  pg_start
  local loaded
  loaded=$(as_postgres psql -p "$PG_PORT" -Atqc "SHOW shared_preload_libraries" 2>/dev/null || true)
  if [ "$changed" -eq 1 ] || [[ "$loaded" != *timescaledb* ]]; then pg_restart; fi
  for _ in $(seq 1 30); do as_postgres pg_isready -q -p "$PG_PORT" && break; sleep 1; done
  # The project's login role (owner of the warehouse; creates test databases). Superuser so that it can
  # create the timescaledb extension and the group roles the migrations grant; pipeline code runs under it
  # locally, and production deployments point PUREHEALTH_WAREHOUSE_URL at a narrower writer role.
  as_postgres psql -p "$PG_PORT" -qv ON_ERROR_STOP=1 -v user="$PG_USER" -v pw="$PG_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', :'user', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN SUPERUSER PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', d, :'user')
  FROM unnest(ARRAY['purehealth', 'purehealth_dagster']) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
SQL
}

mosquitto_pid() { pgrep -x mosquitto | head -n 1 || true; }

mosquitto_start() {
  [ -n "$(mosquitto_pid)" ] && return 0
  log "starting Mosquitto"
  $SUDO mkdir -p /run/mosquitto /var/lib/mosquitto /var/log/mosquitto
  $SUDO chown mosquitto: /run/mosquitto /var/lib/mosquitto /var/log/mosquitto 2>/dev/null || true
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl start mosquitto
  else
    $SUDO mosquitto -d -c "$MOSQUITTO_CONF"
  fi
  for _ in $(seq 1 20); do
    mosquitto_pub -h 127.0.0.1 -p 1883 -u "$MQTT_TOOLS_USER" -P "$MQTT_TOOLS_PASSWORD" \
      -t test/ping -m up -q 0 2>/dev/null && return 0; sleep 0.25
  done
  die "Mosquitto did not come up; see /var/log/mosquitto/mosquitto.log"
}

mosquitto_stop() {
  local pid; pid=$(mosquitto_pid)
  [ -z "$pid" ] && return 0
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl stop mosquitto
  else
    $SUDO kill "$pid"   # SIGTERM: Mosquitto writes its persistence file, then exits
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
}

mosquitto_auth_files() {
  # The service accounts (hashed with mosquitto_passwd) and their ACL, then passwd/acl = every fragment
  # (service + one sensors.<database>.* per warehouse, written by `purehealth sensors`), as
  # purehealth_pipelines/devices/broker.py assembles them. The bridge may only SUBSCRIBE to station
  # topics; the tools/test account only reaches test/# and bench/#; sensors get their own station only.
  $SUDO mkdir -p "$MQTT_AUTH_DIR"
  local tmp; tmp=$(mktemp)
  : >"$tmp"
  mosquitto_passwd -b "$tmp" "$MQTT_BRIDGE_USER" "$MQTT_BRIDGE_PASSWORD" >/dev/null 2>&1
  mosquitto_passwd -b "$tmp" "$MQTT_TOOLS_USER" "$MQTT_TOOLS_PASSWORD" >/dev/null 2>&1
  $SUDO install -m 640 "$tmp" "$MQTT_AUTH_DIR/service.passwd"; rm -f "$tmp"
  $SUDO tee "$MQTT_AUTH_DIR/service.acl" >/dev/null <<ACL
user $MQTT_BRIDGE_USER
topic read purehealth/v1/stations/+/readings
topic read purehealth/v1/stations/+/status

user $MQTT_TOOLS_USER
topic readwrite test/#
topic readwrite bench/#
ACL
  local suffix part
  for suffix in passwd acl; do
    tmp=$(mktemp)
    for part in "$MQTT_AUTH_DIR/service.$suffix" "$MQTT_AUTH_DIR"/sensors.*."$suffix"; do
      [ -f "$part" ] && { cat "$part"; echo; } >>"$tmp"
    done
    $SUDO install -m 640 "$tmp" "$MQTT_AUTH_DIR/$suffix"; rm -f "$tmp"
  done
  $SUDO chgrp mosquitto "$MQTT_AUTH_DIR"/* 2>/dev/null || true
}

mosquitto_tls_files() {
  # A self-signed certificate for the field listener, generated once (replace server.crt/server.key with
  # a real certificate and HUP/restart the broker; docs/devices.md). Clients pin ca.crt.
  local dir="$MQTT_AUTH_DIR/tls"
  [ -f "$dir/server.crt" ] && return 0
  command -v openssl >/dev/null || apt_install openssl
  $SUDO mkdir -p "$dir"
  log "generating a self-signed TLS certificate for the MQTT TLS listener ($dir)"
  $SUDO openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=purehealth-mqtt" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1
  $SUDO cp "$dir/server.crt" "$dir/ca.crt"
  $SUDO chmod 640 "$dir/server.key"; $SUDO chgrp mosquitto "$dir/server.key" 2>/dev/null || true
}

configure_mosquitto() {
  [ -f "$MOSQUITTO_CONF" ] || die "$MOSQUITTO_CONF missing after installing mosquitto"
  $SUDO mkdir -p /etc/mosquitto/conf.d
  if ! grep -qE '^\s*include_dir\s+/etc/mosquitto/conf.d' "$MOSQUITTO_CONF"; then
    log "adding include_dir /etc/mosquitto/conf.d to $MOSQUITTO_CONF"
    echo "include_dir /etc/mosquitto/conf.d" | $SUDO tee -a "$MOSQUITTO_CONF" >/dev/null
  fi
  local listener=""
  # Mosquitto 2 without any listener line listens on localhost only; once a listener exists anywhere,
  # adding another on the same port would fail, so add ours only when there is none.
  if ! grep -hqE '^\s*listener\s+1883' "$MOSQUITTO_CONF" $(ls /etc/mosquitto/conf.d/*.conf 2>/dev/null | grep -v purehealth.conf) 2>/dev/null; then
    listener="listener 1883 127.0.0.1"
  fi
  mosquitto_auth_files
  mosquitto_tls_files
  local persistence=""
  grep -qE '^\s*persistence\s+true' "$MOSQUITTO_CONF" || persistence="persistence true"
  local want
  want=$(cat <<CONF
# Written by PureHealth Pipelines scripts/services.sh
# Nagle off and no inflight cap: with the defaults QoS 1 moves ~250 msg/s (docs/stack_notes.md).
set_tcp_nodelay true
max_inflight_messages 0
# Queue for offline persistent sessions: 10 minutes at 1,000 msg/s = 600,000 messages, with headroom.
max_queued_messages 1000000
max_queued_bytes 0
$persistence
autosave_interval 60
$listener
# Authentication: no anonymous client on any listener; one password file and one ACL file
# for all listeners (per_listener_settings is false by default), re-read on SIGHUP without dropping sessions.
# include_dir is read after mosquitto.conf, so this allow_anonymous overrides a Debian "true" there.
allow_anonymous false
password_file $MQTT_AUTH_DIR/passwd
acl_file $MQTT_AUTH_DIR/acl
# TLS listener for the field (self-signed by default; docs/devices.md says how to use a real certificate).
listener $MQTT_TLS_PORT
certfile $MQTT_AUTH_DIR/tls/server.crt
keyfile $MQTT_AUTH_DIR/tls/server.key
CONF
)
  if [ ! -f "$MOSQUITTO_PROJECT_CONF" ] || [ "$(cat "$MOSQUITTO_PROJECT_CONF")" != "$want" ]; then
    echo "$want" | $SUDO tee "$MOSQUITTO_PROJECT_CONF" >/dev/null
    log "Mosquitto settings changed: restarting the broker"
    mosquitto_stop
  elif [ -n "$(mosquitto_pid)" ]; then
    $SUDO kill -HUP "$(mosquitto_pid)"   # re-read passwd/acl; sessions stay
  fi
  mosquitto_start
}

cmd_up() {
  command -v apt-get >/dev/null || die "this script supports Debian/Ubuntu; elsewhere use docker-compose.yml"
  apt_install postgresql postgresql-contrib mosquitto mosquitto-clients
  pg_start
  install_timescaledb
  configure_postgres
  configure_mosquitto
  cmd_status
}

cmd_status() {
  local major; major=$(pg_major)
  if pg_is_online; then
    local ver; ver=$(as_postgres psql -p "$PG_PORT" -Atqc "SELECT default_version FROM pg_available_extensions WHERE name='timescaledb'" 2>/dev/null || true)
    log "PostgreSQL $major: online on 127.0.0.1:$PG_PORT (TimescaleDB ${ver:-not installed})"
  else
    log "PostgreSQL: not running"
  fi
  if [ -n "$(mosquitto_pid)" ]; then log "Mosquitto: running (pid $(mosquitto_pid)) on 127.0.0.1:1883, TLS on :$MQTT_TLS_PORT (anonymous refused; auth files in $MQTT_AUTH_DIR)"; else log "Mosquitto: not running"; fi
}

cmd_down() {
  local major; major=$(pg_major)
  [ -n "$major" ] && $SUDO pg_ctlcluster --skip-systemctl-redirect "$major" main stop 2>/dev/null || true
  mosquitto_stop
  cmd_status
}

cmd_tools() {
  # What the dashboard needs beside the services: npm (bundles its JS libraries at setup time) and Debian's
  # Chromium (the browser tests drive it through Playwright's executable_path; no browser download).
  local wanted=(chromium chromium-driver)
  command -v npm >/dev/null || wanted+=(npm)
  apt_install "${wanted[@]}"
  log "tools: $(command -v chromium || echo 'chromium missing'), npm $(npm --version 2>/dev/null || echo missing)"
}

case "${1:-up}" in
  up) cmd_up ;;
  tools) cmd_tools ;;
  status) cmd_status ;;
  auth-files) mosquitto_auth_files ;;  # only the broker's service accounts + passwd/acl in $PUREHEALTH_MQTT_AUTH_DIR
  tls-files) mosquitto_tls_files ;;  # only the self-signed TLS certificate in $PUREHEALTH_MQTT_AUTH_DIR/tls
  down) cmd_down ;;
  -h|--help|help) sed -n '2,13p' "$0" ;;
  *) die "unknown command '$1' (up|tools|status|down|auth-files|tls-files)" ;;
esac
