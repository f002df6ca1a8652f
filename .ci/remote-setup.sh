#!/usr/bin/env bash
# The remote-store tier's servers: nginx (Debian package; the tests run it with their own config,
# never as a service). moto's S3 server comes from the `test` extra.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "remote-setup: nginx is missing; install it (apt-get install nginx) as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's post-install script may try to start the service: it is not needed, and it
# must not fail the install where no init system runs.
apt-get install -y -qq --no-install-recommends nginx-light || apt-get install -y -qq nginx
