#!/usr/bin/env bash
# Smoke run of the standalone app dist/labelaudit/ from a clean environment: env -i (no venv,
# no PYTHONPATH, PATH=/usr/bin:/bin), a fresh HOME, outside the checkout, offscreen Qt.
# The app must use its own Python, models and package data (smoke_run.sh says what runs).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
APP=$REPO/dist/labelaudit/labelaudit
test -x "$APP" || { echo "no $APP: run make bundle"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/labelaudit-smoke-bundle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home"
cd "$WORK"
start=$SECONDS
env -i PATH=/usr/bin:/bin HOME="$WORK/home" \
    bash "$REPO/packaging/smoke_run.sh" "$APP" "$WORK/out" "$REPO/../shared/data/labelerrors" | tee "$WORK/smoke.log"
grep -q "resources=$REPO/dist/labelaudit/_internal/labelaudit/resources" "$WORK/smoke.log" \
    || { echo "FAIL: the app did not read its resources from the bundle"; exit 1; }
echo "bundle smoke run passed in $((SECONDS - start)) s ($(du -sh "$REPO/dist/labelaudit" | cut -f1))"
