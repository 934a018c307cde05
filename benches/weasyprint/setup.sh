#!/usr/bin/env bash
# Installs WeasyPrint (from PyPI, into benches/weasyprint/.venv) for the
# side-by-side document benchmark (benches/documents.rs). WeasyPrint needs
# Pango from Debian; the script installs it with apt-get when it is missing.
#
#   bash benches/weasyprint/setup.sh
#   cargo bench -p tms-benches --bench documents
set -euo pipefail
cd "$(dirname "$0")"
WEASYPRINT_VERSION="70.0"

if ! ldconfig -p | grep -q 'libpango-1.0.so.0' || ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0'; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/pip show weasyprint 2>/dev/null | grep -q "^Version: $WEASYPRINT_VERSION\$"; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "weasyprint==$WEASYPRINT_VERSION"
fi
.venv/bin/python -c 'import weasyprint; print("WeasyPrint", weasyprint.__version__)'
