#!/usr/bin/env bash
# Smoke run of an installed labelaudit command, shared by `make check-wheel` (a wheel in a
# fresh venv) and `make bundle` (the PyInstaller app). Run it in a clean environment
# (env -i, a fresh HOME); every step must succeed and write what a user would look at.
#
#   smoke_run.sh LABELAUDIT OUT_DIR [LABELERRORS_DIR]
#
# 1. headless audit of CIFAR-10's released pred_probs with the human validation;
# 2. headless audits of packaging/smoke_texts.csv (40 texts, 2 planted label errors) with the
#    bundled MiniLM probe and the bundled SmolLM2;
# 3. the app, offscreen: `labelaudit demo` opens the window (icon and stylesheet loaded from
#    the package data) and writes the demo, which is then audited headless.
set -euo pipefail
LA=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${3:-$HERE/../../shared/data/labelerrors}
mkdir -p "$OUT"

step() { echo "== $*"; }
# summary KEY FILE: the number after "KEY": in a summary.json
summary() { grep -o "\"$1\": *[0-9.]*" "$2" | head -1 | sed 's/.*: *//'; }
need_files() { for f in summary.json examples.parquet flagged.csv pred_probs.npy; do
    test -s "$1/$f" || { echo "FAIL: $1/$f missing"; exit 1; }; done; }
timed() { local t0=$SECONDS; "$@"; echo "   ($((SECONDS - t0)) s)"; }

step "version: $("$LA" --version)"

step "audit CIFAR-10 (released pred_probs, mturk validation)"
timed "$LA" audit "$DATA/cifar10/labels.npy" --pred-probs "$DATA/cifar10/pred_probs.npy" \
    --classes "$DATA/cifar10/classes.txt" --reviews "$DATA/cifar10/mturk.json" --out "$OUT/cifar10" --quiet
need_files "$OUT/cifar10"
echo "   n_label_issues=$(summary n_label_issues "$OUT/cifar10/summary.json") validated_found=$(summary validated_found "$OUT/cifar10/summary.json")"
test "$(summary n_examples "$OUT/cifar10/summary.json")" = 10000

for model in probe llm; do
    step "audit smoke_texts.csv with --model $model (bundled model)"
    timed "$LA" audit "$HERE/smoke_texts.csv" --model "$model" --folds 2 --out "$OUT/texts-$model" --quiet
    need_files "$OUT/texts-$model"
    echo "   accuracy=$(summary accuracy "$OUT/texts-$model/summary.json") n_label_issues=$(summary n_label_issues "$OUT/texts-$model/summary.json")"
done

step "app, offscreen: labelaudit demo (quits after ${SMOKE_QUIT_MS:=30000} ms)"
line=$(QT_QPA_PLATFORM=offscreen LABELAUDIT_SMOKE_QUIT_MS=$SMOKE_QUIT_MS "$LA" demo 2>"$OUT/app.log" | grep '^smoke:') \
    || { echo "FAIL: no smoke line from the app"; tail -20 "$OUT/app.log"; exit 1; }
echo "   $line"
case "$line" in
    *"shown=True"*"icon=True"*) ;;
    *) echo "FAIL: window or icon missing"; exit 1 ;;
esac
echo "$line" | grep -Eq 'stylesheet_chars=[1-9][0-9]* styled_widgets=[1-9]' || { echo "FAIL: stylesheet not loaded"; exit 1; }
DEMO=$HOME/.cache/labelaudit/demo-digits/labels.csv
test -s "$DEMO" || { echo "FAIL: the demo did not write $DEMO"; exit 1; }

step "audit the demo headless (1,797 digits, 5% labels flipped)"
timed "$LA" audit "$DEMO" --label-col label --image-col image --out "$OUT/demo" --quiet
need_files "$OUT/demo"
echo "   n_label_issues=$(summary n_label_issues "$OUT/demo/summary.json") accuracy=$(summary accuracy "$OUT/demo/summary.json")"
echo "smoke run passed"
