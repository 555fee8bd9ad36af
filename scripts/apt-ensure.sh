#!/usr/bin/env bash
# Usage: apt-ensure.sh COMMAND PACKAGE... — installs the Debian packages when COMMAND is missing.
# Holds a lock so two runs on one machine (a developer's and CI's) never run apt at once.
set -euo pipefail
command_name=$1; shift
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
echo "Installing $* (for $command_name) with apt-get..." >&2
exec 9>/var/lock/roger-portal-apt.lock
flock 9
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
