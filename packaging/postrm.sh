#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
# The data directory (repositories, release history, secrets) and the
# slipway user are kept on purge too: remove them by hand once nothing
# in them is needed.
