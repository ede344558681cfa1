#!/usr/bin/env bash
# Build the standalone one-folder app dist/labelaudit/ with PyInstaller (`make bundle`).
#
# A venv of its own (build/bundle-venv) gets labelaudit installed from the checkout as a
# regular (non-editable) package with the `bundle` extra, the bundled models and torch.
# TORCH_INDEX_URL picks the torch build, e.g. a CUDA one:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 make bundle
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=build/bundle-venv
PIP=("$VENV/bin/python" -m pip)

start=$(date +%s)
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" install -q -c constraints.txt --index-url "$TORCH_INDEX_URL" torch==2.13.0
else
    "${PIP[@]}" install -q -c constraints.txt torch==2.13.0
fi
# Non-editable: PyInstaller's analysis does not follow setuptools' editable finder.
"${PIP[@]}" install -q -c constraints.txt --force-reinstall --no-deps .
"${PIP[@]}" install -q -c constraints.txt '.[bundle]'
"${PIP[@]}" install -q --no-deps -c constraints.txt -r requirements-nodeps.txt

rm -rf dist/labelaudit
(cd packaging && "../$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath ../dist --workpath ../build/pyinstaller labelaudit.spec)
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
echo "built dist/labelaudit in $(( $(date +%s) - start )) s, $(du -sh dist/labelaudit | cut -f1)"
