#!/usr/bin/env bash
# Checks for the programs Slipway drives and its tests run: git >= 2.29
# (proc-receive hooks), rsync, the OpenSSH client and server, curl, tar and
# chromium (the dashboard test drives it headless).
# As root with apt-get it installs what is missing; otherwise it names the
# missing packages, prints the command that installs them, and exits 1.
# Prints one line and exits 0 when everything is present.
set -euo pipefail

min_git_major=2
min_git_minor=29

missing=""  # Debian package names, space separated
problems="" # one line per missing or unusable program

add() { # add PACKAGE PROBLEM
	case " $missing " in
	*" $1 "*) ;;
	*) missing="${missing:+$missing }$1" ;;
	esac
	problems="${problems}  $2"$'\n'
}

have() { command -v "$1" >/dev/null 2>&1; }

check() {
	missing=""
	problems=""
	if have git; then
		local version major minor
		version=$(git --version | awk '{print $3}')
		IFS=. read -r major minor _ <<<"$version"
		if ! [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] ||
			((major < min_git_major || (major == min_git_major && minor < min_git_minor))); then
			add git "git $version is older than $min_git_major.$min_git_minor (proc-receive hooks need $min_git_major.$min_git_minor)"
		fi
	else
		add git "git not found"
	fi
	have rsync || add rsync "rsync not found"
	have ssh || add openssh-client "ssh not found"
	have ssh-keygen || add openssh-client "ssh-keygen not found"
	have sshd || [[ -x /usr/sbin/sshd ]] || add openssh-server "sshd not found (looked in PATH and /usr/sbin)"
	have curl || add curl "curl not found"
	have tar || add tar "tar not found"
	have chromium || add chromium "chromium not found (the dashboard test drives it headless)"
}

check
if [[ -z $missing ]]; then
	echo "deps: ok"
	exit 0
fi

install="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"
if [[ $(id -u) -eq 0 ]] && have apt-get; then
	printf 'deps: installing %s\n%s' "$missing" "$problems" >&2
	apt-get update
	# shellcheck disable=SC2086 # $missing is a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
	check
	if [[ -z $missing ]]; then
		echo "deps: ok"
		exit 0
	fi
	printf 'deps: still missing after apt-get install: %s\n%s' "$missing" "$problems" >&2
	exit 1
fi

printf 'deps: missing packages: %s\n%s' "$missing" "$problems" >&2
if have apt-get; then
	printf 'deps: install them with:\n  sudo apt-get update && sudo %s\n' "$install" >&2
else
	printf 'deps: install them with your package manager (Debian/Ubuntu: apt-get update && %s)\n' "$install" >&2
fi
exit 1
