# shellcheck shell=bash
# Helpers shared by scripts/test and scripts/pg-env. Source this file; don't run it.
#
# Paths (all exported, made absolute relative to the caller's cwd):
#   MLCYCLE_TEST_CACHE   base cache dir            (default $HOME/.cache/mlcycle-test)
#   MLCYCLE_TEST_PGDATA  private PostgreSQL data    (default $MLCYCLE_TEST_CACHE/pg)
#   MLCYCLE_TEST_PGPORT  its TCP port on 127.0.0.1  (default 55432)
#   MLCYCLE_TEST_VENV    Python venv for tests/compat (default $MLCYCLE_TEST_CACHE/venv)

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"

mlc_abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

MLCYCLE_TEST_CACHE=$(mlc_abs "${MLCYCLE_TEST_CACHE:-$HOME/.cache/mlcycle-test}")
MLCYCLE_TEST_PGDATA=$(mlc_abs "${MLCYCLE_TEST_PGDATA:-$MLCYCLE_TEST_CACHE/pg}")
MLCYCLE_TEST_PGPORT=${MLCYCLE_TEST_PGPORT:-55432}
MLCYCLE_TEST_VENV=$(mlc_abs "${MLCYCLE_TEST_VENV:-$MLCYCLE_TEST_CACHE/venv}")
export MLCYCLE_TEST_CACHE MLCYCLE_TEST_PGDATA MLCYCLE_TEST_PGPORT MLCYCLE_TEST_VENV

mlc_log() { printf '==> %s\n' "$*" >&2; }
mlc_warn() { printf '==> WARNING: %s\n' "$*" >&2; }
mlc_die() {
	printf '==> ERROR: %s\n' "$*" >&2
	exit 1
}

# mlc_ci: true when running in CI (CI=true), where nothing may be skipped.
mlc_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

# mlc_apt_install PKG...: quiet apt-get install; `apt-get update` runs once per
# process, and only when something is actually installed. Returns 1 (never
# exits) on failure, so callers decide between warning and dying.
MLC_APT_UPDATED=0
mlc_apt_install() {
	local sudo=() log rc=0
	if [[ $(id -u) != 0 ]]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			mlc_warn "cannot install $* (not root and no passwordless sudo)"
			return 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		mlc_warn "cannot install $* (no apt-get on this machine)"
		return 1
	fi
	log=$(mktemp) || return 1
	local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq
		-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
	if [[ $MLC_APT_UPDATED == 0 ]]; then
		mlc_log "apt-get update"
		if "${apt[@]}" update >"$log" 2>&1; then
			MLC_APT_UPDATED=1
		else
			rc=1
		fi
	fi
	if [[ $rc == 0 ]]; then
		mlc_log "installing $*"
		"${apt[@]}" install -y --no-install-recommends "$@" >"$log" 2>&1 || rc=1
	fi
	if [[ $rc != 0 ]]; then
		tail -n 30 "$log" >&2
		mlc_warn "apt-get failed for: $*"
	fi
	rm -f "$log"
	return "$rc"
}
