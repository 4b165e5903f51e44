# shellcheck shell=bash
# Private PostgreSQL cluster for tests. Source after common.sh; used by
# scripts/pg-env (which scripts/test runs). Functions assume `set -euo pipefail`.
#
# The cluster lives in $MLCYCLE_TEST_PGDATA, listens only on
# 127.0.0.1:$MLCYCLE_TEST_PGPORT (unix socket inside the data dir), trusts
# local connections, runs with fsync=off, and is left running for reuse.
# As root it runs as the `postgres` OS user (postgres refuses to run as root).

MLC_PG_DB=mlcycle_test
MLC_PG_BIN=""  # set by mlc_pg_ensure
MLC_PG_URL=""  # set by mlc_pg_ensure

# Newest installed server: /usr/lib/postgresql/<major>/bin.
mlc_pg_bindir() {
	local d found=()
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres && -x $d/psql ]] && found+=("$d")
	done
	((${#found[@]})) || return 1
	printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

mlc_is_root() { [[ $(id -u) == 0 ]]; }

# Run a command as the OS user that owns the cluster.
mlc_pg_as() {
	if mlc_is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

mlc_pg_ctl() { mlc_pg_as "$MLC_PG_BIN/pg_ctl" -D "$MLCYCLE_TEST_PGDATA" "$@"; }

mlc_pg_psql() {
	"$MLC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$MLCYCLE_TEST_PGPORT" -U postgres "$@"
}

# Prints the postmaster pid if our cluster is running.
mlc_pg_pid() {
	local pid comm stat
	[[ -r $MLCYCLE_TEST_PGDATA/postmaster.pid ]] || return 1
	read -r pid <"$MLCYCLE_TEST_PGDATA/postmaster.pid" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	mlc_pg_ctl status >/dev/null 2>&1 || return 1
	# pg_ctl only checks that the pid exists: make sure it is still postgres
	# and not a zombie (a killed postmaster whose new parent hasn't reaped it).
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	[[ $comm == postgres ]] || return 1
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]] || return 1
	printf '%s\n' "$pid"
}

# Port recorded in postmaster.pid (line 4) of the running cluster.
mlc_pg_running_port() { sed -n 4p "$MLCYCLE_TEST_PGDATA/postmaster.pid" 2>/dev/null; }

mlc_port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Postgres processes left behind by a killed postmaster (their cwd is the data dir).
mlc_pg_orphans() {
	local p real comm
	real=$(readlink -f "$MLCYCLE_TEST_PGDATA")
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/cwd" 2>/dev/null) == "$real" ]] || continue
		read -r comm 2>/dev/null <"$p/comm" || continue
		[[ $comm == postgres ]] && printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# As root, make every ancestor of the data dir searchable by `postgres`
# (e.g. /root is 0700 on Debian) by adding o+x where it is missing.
mlc_pg_grant_traverse() {
	local d dirs=()
	d=$(dirname "$MLCYCLE_TEST_PGDATA")
	while [[ $d != / ]]; do
		dirs=("$d" "${dirs[@]}")
		d=$(dirname "$d")
	done
	for d in "${dirs[@]}"; do
		if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
			mlc_log "adding o+x to $d so the postgres user can reach $MLCYCLE_TEST_PGDATA"
			chmod o+x "$d"
		fi
	done
}

mlc_pg_initdb() {
	local tmp=$MLCYCLE_TEST_PGDATA.init log=$MLCYCLE_TEST_CACHE/initdb.log
	mlc_log "initializing PostgreSQL $(basename "$(dirname "$MLC_PG_BIN")") cluster in $MLCYCLE_TEST_PGDATA"
	rm -rf "$tmp"
	mkdir -m 700 "$tmp"
	if mlc_is_root; then chown postgres:postgres "$tmp"; fi
	if ! mlc_pg_as "$MLC_PG_BIN/initdb" -D "$tmp" -U postgres --auth=trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		mlc_die "initdb failed (full log: $log)"
	fi
	echo "include_if_exists = 'mlcycle.conf'" | mlc_pg_as tee -a "$tmp/postgresql.conf" >/dev/null
	# Initialize aside and move into place, so a killed initdb never leaves a half-made cluster.
	rm -rf "$MLCYCLE_TEST_PGDATA"
	mv "$tmp" "$MLCYCLE_TEST_PGDATA"
}

# Writes mlcycle.conf (included last by postgresql.conf); sets
# MLC_PG_CONF_CHANGED=1 if its content changed.
MLC_PG_CONF_CHANGED=0
mlc_pg_write_conf() {
	local conf=$MLCYCLE_TEST_PGDATA/mlcycle.conf sock=$MLCYCLE_TEST_PGDATA want
	if ((${#sock} + ${#MLCYCLE_TEST_PGPORT} + 12 > 107)); then
		mlc_warn "data dir path too long for a unix socket; PostgreSQL will listen on TCP only"
		sock=""
	fi
	want="# Written by scripts/lib/pg.sh on every run; edit that file instead.
listen_addresses = '127.0.0.1'
port = $MLCYCLE_TEST_PGPORT
unix_socket_directories = '${sock//\'/\'\'}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off"
	MLC_PG_CONF_CHANGED=0
	[[ -f $conf && $(<"$conf") == "$want" ]] && return 0
	printf '%s\n' "$want" | mlc_pg_as tee "$conf" >/dev/null
	MLC_PG_CONF_CHANGED=1
}

# Starts the stopped cluster, cleaning up after a crash (stale postmaster.pid,
# orphaned backends). Returns 1 if postgres does not come up.
mlc_pg_start() {
	local orphans
	if [[ -e $MLCYCLE_TEST_PGDATA/postmaster.pid ]]; then
		mlc_log "removing stale postmaster.pid (cluster was not shut down cleanly)"
		rm -f "$MLCYCLE_TEST_PGDATA/postmaster.pid"
	fi
	# The socket lock file also names the dead postmaster; postgres would
	# refuse to start while that pid lingers as a zombie.
	rm -f "$MLCYCLE_TEST_PGDATA"/.s.PGSQL.*
	orphans=$(mlc_pg_orphans)
	if [[ -n $orphans ]]; then
		mlc_log "killing orphaned postgres processes of a dead postmaster: ${orphans//$'\n'/ }"
		# shellcheck disable=SC2086 # one pid per word
		kill -9 $orphans 2>/dev/null || true
		sleep 1
	fi
	if mlc_port_busy "$MLCYCLE_TEST_PGPORT"; then
		mlc_die "127.0.0.1:$MLCYCLE_TEST_PGPORT is taken by another program; set MLCYCLE_TEST_PGPORT to a free port"
	fi
	mlc_log "starting postgresql on 127.0.0.1:$MLCYCLE_TEST_PGPORT"
	# 9>&-: the server must not inherit our lock fd, or it would hold the lock forever.
	if mlc_pg_ctl -l "$MLCYCLE_TEST_PGDATA/server.log" -w -t 60 start >/dev/null 2>&1 9>&-; then
		return 0
	fi
	tail -n 20 "$MLCYCLE_TEST_PGDATA/server.log" >&2 2>/dev/null || true
	return 1
}

# mlc_pg_ensure: install (if needed), init, start or reuse the private cluster,
# create the test database, and set MLC_PG_URL.
mlc_pg_ensure() {
	local major pid port
	if ! MLC_PG_BIN=$(mlc_pg_bindir); then
		mlc_apt_install postgresql || mlc_die "could not install postgresql"
		MLC_PG_BIN=$(mlc_pg_bindir) || mlc_die "postgresql installed but no server found under /usr/lib/postgresql"
	fi
	major=$(basename "$(dirname "$MLC_PG_BIN")")
	[[ $MLCYCLE_TEST_PGPORT =~ ^[0-9]+$ ]] || mlc_die "MLCYCLE_TEST_PGPORT must be a number, got '$MLCYCLE_TEST_PGPORT'"

	mkdir -p "$MLCYCLE_TEST_CACHE" "$(dirname "$MLCYCLE_TEST_PGDATA")"
	if mlc_is_root; then
		id postgres >/dev/null 2>&1 || mlc_die "no 'postgres' OS user (it comes with the postgresql package)"
		mlc_pg_grant_traverse
	fi

	# One setup at a time (concurrent ./scripts/test runs share the cluster).
	exec 9>"$MLCYCLE_TEST_CACHE/pg.lock"
	flock 9

	if [[ -f $MLCYCLE_TEST_PGDATA/PG_VERSION ]]; then
		if [[ $(<"$MLCYCLE_TEST_PGDATA/PG_VERSION") != "$major" ]]; then
			mlc_log "$MLCYCLE_TEST_PGDATA is for PostgreSQL $(<"$MLCYCLE_TEST_PGDATA/PG_VERSION"), installed is $major: re-creating it"
			rm -rf "$MLCYCLE_TEST_PGDATA"
		fi
	elif [[ -d $MLCYCLE_TEST_PGDATA && -n $(ls -A "$MLCYCLE_TEST_PGDATA") ]]; then
		mlc_die "$MLCYCLE_TEST_PGDATA is not empty and is not a PostgreSQL data dir; remove it or set MLCYCLE_TEST_PGDATA"
	fi
	[[ -f $MLCYCLE_TEST_PGDATA/PG_VERSION ]] || mlc_pg_initdb
	if mlc_is_root && [[ $(stat -c %U "$MLCYCLE_TEST_PGDATA") != postgres ]]; then
		chown -R postgres:postgres "$MLCYCLE_TEST_PGDATA"
	fi
	mlc_pg_write_conf

	if pid=$(mlc_pg_pid); then
		port=$(mlc_pg_running_port)
		if [[ $MLC_PG_CONF_CHANGED == 1 || $port != "$MLCYCLE_TEST_PGPORT" ]]; then
			mlc_log "restarting postgresql (settings changed) on 127.0.0.1:$MLCYCLE_TEST_PGPORT"
			mlc_pg_ctl -m fast -w -t 60 stop >/dev/null
			mlc_pg_start || mlc_die "postgresql did not restart (log: $MLCYCLE_TEST_PGDATA/server.log)"
		else
			mlc_log "reusing postgresql on 127.0.0.1:$MLCYCLE_TEST_PGPORT (pid $pid)"
		fi
	elif ! mlc_pg_start; then
		# Last resort for a cluster that is broken beyond a stale pid: it only
		# holds throwaway test data, so start over from a fresh initdb.
		mlc_log "postgresql did not start; re-creating $MLCYCLE_TEST_PGDATA"
		mlc_pg_ctl -m immediate stop >/dev/null 2>&1 9>&- || true
		mlc_pg_initdb
		mlc_pg_write_conf
		mlc_pg_start || mlc_die "postgresql did not start (log: $MLCYCLE_TEST_PGDATA/server.log)"
	fi

	local i
	for ((i = 0; i < 60; i++)); do
		"$MLC_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$MLCYCLE_TEST_PGPORT" -U postgres -d postgres && break
		sleep 1
	done
	"$MLC_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$MLCYCLE_TEST_PGPORT" -U postgres -d postgres ||
		mlc_die "postgresql on 127.0.0.1:$MLCYCLE_TEST_PGPORT is not accepting connections"

	if [[ $(mlc_pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$MLC_PG_DB'") != 1 ]]; then
		mlc_log "creating database $MLC_PG_DB"
		mlc_pg_psql -d postgres -c "CREATE DATABASE $MLC_PG_DB"
	fi
	exec 9>&-
	# shellcheck disable=SC2034 # read by scripts/pg-env
	MLC_PG_URL="postgres://postgres@127.0.0.1:$MLCYCLE_TEST_PGPORT/$MLC_PG_DB?sslmode=disable"
}

mlc_pg_stop() {
	MLC_PG_BIN=$(mlc_pg_bindir) || mlc_die "postgresql is not installed"
	if mlc_pg_pid >/dev/null; then
		mlc_log "stopping postgresql on 127.0.0.1:$(mlc_pg_running_port)"
		mlc_pg_ctl -m fast -w -t 60 stop >/dev/null
	else
		mlc_log "postgresql in $MLCYCLE_TEST_PGDATA is not running"
	fi
}
