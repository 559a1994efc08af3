#!/usr/bin/env bash
# Prints the path of a mediasoup worker built without downloads, for this project's mediasoup version.
#
# It runs the shared offline recipe (../shared/media, see its WORKER-BUILD.md) with one fix applied to a
# copy of it: mediasoup's DTLS BIO callback returns 1 for BIO_ctrl(BIO_CTRL_GET_KTLS_SEND); Debian's
# OpenSSL is built with kernel TLS, trusts that answer, never allocates its record buffer and crashes the
# worker (SIGSEGV) on the first DTLS handshake. The recipe caches the binary by a hash of its own files,
# so the fixed build is cached apart from an unfixed one and built once per machine (~8 min on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${SHARED_MEDIA_DIR:-$here/../../shared/media}
[ -f "$shared/ensure-mediasoup-worker.sh" ] || { echo "no mediasoup worker recipe at $shared" >&2; exit 1; }
version=$(node -p "require('$here/../package.json').optionalDependencies.mediasoup")
recipe=$(mktemp -d)
trap 'rm -rf "$recipe"' EXIT
cp -r "$shared/." "$recipe/"
python3 - "$recipe/build-mediasoup-worker.sh" <<'PY'
import sys
path = sys.argv[1]
script = open(path).read()
anchor = "# 5. Subprojects:"
fix = (
    "# 4b. DTLS BIO callback: pass every \"after\" result through (Debian OpenSSL KTLS, see .ci/mediasoup-worker.sh).\n"
    "sed -i 's/(operationType == BIO_CB_RETURN)/((operationType \\& BIO_CB_RETURN) != 0)/' \"$MS/worker/src/RTC/DtlsTransport.cpp\"\n"
    "grep -q '(operationType & BIO_CB_RETURN) != 0' \"$MS/worker/src/RTC/DtlsTransport.cpp\"\n\n"
)
if anchor not in script:
    sys.exit("the recipe changed: cannot find where to apply the DTLS fix")
open(path, "w").write(script.replace(anchor, fix + anchor, 1))
PY
chmod -R u+w "$recipe"
bash "$recipe/ensure-mediasoup-worker.sh" "$version"
