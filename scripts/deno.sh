#!/usr/bin/env bash
# Runs the project's pinned Deno (installed on first use) with the given arguments.
set -euo pipefail
DENO="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure_deno.sh")"
exec "$DENO" "$@"
