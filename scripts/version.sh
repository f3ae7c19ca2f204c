#!/usr/bin/env bash
# Prints the version a build is stamped with: the newest vX.Y.Z tag of this
# checkout (without the v, with -N-gHASH after it when there are commits
# since), else 0.0.0~gitDATE.HASH from the last commit. Debian versions must
# start with a digit, so both forms do.
set -euo pipefail
if tag=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
	echo "${tag#v}"
elif hash=$(git log -1 --format='%cd.%h' --date=format:%Y%m%d 2>/dev/null); then
	echo "0.0.0~git${hash}"
else
	echo "0.0.0~unknown"
fi
