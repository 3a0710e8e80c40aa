#!/usr/bin/env bash
# The headless browser of the dashboard tests (tests/dashboard): Debian's chromium and chromium-driver,
# its Chinese user interface (chromium-l10n: date fields and file pickers in Chinese, as a manager's
# browser shows them) and a CJK font so that screenshots show Chinese, not boxes. No browser is
# downloaded by selenium.
#
#   scripts/browser.sh install   # as root, when any of them is missing: apt-get install them
set -euo pipefail

LOCALE=/usr/lib/chromium/locales/zh-CN.pak
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

[[ "${1:-}" == install ]] || { echo "usage: $0 install" >&2; exit 2; }
if have && [[ -f $LOCALE ]] && fc-list :lang=zh 2>/dev/null | grep -q .; then
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "browser.sh: installing chromium needs root (apt-get)" >&2; exit 1; }
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver chromium-l10n fonts-noto-cjk >&2
have
