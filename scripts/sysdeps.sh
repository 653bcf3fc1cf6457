#!/bin/sh
# The Debian packages some tests use, installed by the project itself (make sysdeps,
# run by make test). Each of those tests skips with a message naming the package when
# it is absent, so a machine where this cannot install (no root, no apt) still runs the rest.
#   libpango-1.0-0, libpangoft2-1.0-0  WeasyPrint's text layout (PDF reports)
#   poppler-utils        pdftotext / pdffonts / pdftoppm: report PDFs' text layer and fonts
#   chromium, chromium-driver  headless browser test of the monitoring dashboard
#   r-base-core, r-cran-survival  statistics cross-checked against R's survival package
set -u
PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 poppler-utils chromium chromium-driver r-base-core r-cran-survival"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "sysdeps: no apt-get here; tests needing$missing will skip"; exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "sysdeps: not root and no passwordless sudo; tests needing$missing will skip"; exit 0
    fi
fi
echo "sysdeps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
    echo "sysdeps: apt-get could not install$missing; tests needing them will skip"
fi
exit 0
