#!/usr/bin/env bash
# Adds labelaudit to the desktop's application menu (Linux, freedesktop.org menus).
# Run from the checkout after `make install`; it points the menu entry at .venv/bin/labelaudit.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
exe="$repo/.venv/bin/labelaudit"
[ -x "$exe" ] || { echo "install-desktop-entry: $exe not found; run 'make install' first" >&2; exit 2; }
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$apps"
sed -e "s|@EXEC@|$exe gui|" -e "s|@ICON@|$repo/resources/labelaudit.png|" \
    "$repo/packaging/labelaudit.desktop.in" > "$apps/labelaudit.desktop"
echo "installed $apps/labelaudit.desktop"
