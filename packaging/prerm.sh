#!/bin/sh
set -e
# A stop lets running deploys finish or roll back (KillMode=mixed).
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop slipway.service || true
fi
