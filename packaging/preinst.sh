#!/bin/sh
# Creates the system user slipway runs as before the files are unpacked,
# so that they can belong to it.
set -e
if ! getent group slipway >/dev/null; then
	groupadd --system slipway
fi
if ! getent passwd slipway >/dev/null; then
	useradd --system --gid slipway --home-dir /var/lib/slipway --no-create-home \
		--shell /usr/sbin/nologin --comment "Slipway deploy server" slipway
fi
