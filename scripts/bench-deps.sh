#!/usr/bin/env bash
# Installs what `make bench` compares Slipway with beyond scripts/deps.sh:
# Capistrano 3 (Debian package capistrano) and the Ruby libraries its SSH
# client needs for ed25519 keys (ruby-ed25519, ruby-bcrypt-pbkdf).
# As root with apt-get it installs what is missing. Otherwise, or when the
# install fails, it says so and exits 0: the benchmarks then skip the
# Capistrano columns and print why.
set -uo pipefail

have_all() {
	command -v cap >/dev/null 2>&1 &&
		ruby -e 'require "ed25519"; require "bcrypt_pbkdf"' >/dev/null 2>&1
}

if have_all; then
	echo "bench-deps: ok ($(cap --version 2>/dev/null | head -n 1))"
	exit 0
fi

packages="capistrano ruby-ed25519 ruby-bcrypt-pbkdf"
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "bench-deps: installing $packages" >&2
	if apt-get update >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages >/dev/null &&
		have_all; then
		echo "bench-deps: ok ($(cap --version 2>/dev/null | head -n 1))"
		exit 0
	fi
	echo "bench-deps: could not install $packages; the benchmarks skip the Capistrano columns" >&2
	exit 0
fi

echo "bench-deps: Capistrano is not installed and this is not root with apt-get; the benchmarks skip the Capistrano columns" >&2
echo "bench-deps: to compare with it: sudo apt-get install $packages" >&2
exit 0
