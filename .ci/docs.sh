#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml, docs/) with --strict: a broken link or anchor, a page
# missing from the nav or a nav entry without its page fails. The command reference is rendered
# from mararch itself (docs/hooks/cli_help.py), so mararch must be importable by the same Python.
# Idempotent; runs in the active venv (.ci/run's), else in the one named by MARARCH_DOCS_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${MARARCH_DOCS_PYTHON:-python}"
"$PYTHON" -m pip install -q -e '.[docs]'
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 "$PYTHON" -m mkdocs build --strict --site-dir "$site"
echo "docs: the site builds cleanly ($(find "$site" -name index.html | wc -l) pages)"
