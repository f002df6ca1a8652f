#!/usr/bin/env bash
# Installs a JDK (javac, java) when there is none: the tests read mararch's archives with Java's
# ZipInputStream, as TorchServe and MMS do (tests/test_compress.py), and in CI they fail instead
# of skipping without one. The servers of the e2e tier need the same Java. Idempotent.
set -euo pipefail

if command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
    echo "jdk-setup: $(javac -version 2>&1) is already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "jdk-setup: no javac on PATH and no apt-get: install a JDK 17 (javac, java) by hand." >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
echo "jdk-setup: installed $(javac -version 2>&1)"
