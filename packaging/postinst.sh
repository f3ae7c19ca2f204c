#!/bin/sh
set -e
# The data directory holds secrets and keys: the slipway user alone reads it.
install -d -o slipway -g slipway -m 0700 /var/lib/slipway
chown root:slipway /etc/slipway /etc/slipway/slipway.toml
chmod 0750 /etc/slipway
chmod 0640 /etc/slipway/slipway.toml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
	cat <<'MSG'
Slipway is installed. Put your users' keys and your apps in
/etc/slipway/slipway.toml, check it, then start the service:
  sudo -u slipway slipway check --config /etc/slipway/slipway.toml
  sudo systemctl enable --now slipway
MSG
fi
