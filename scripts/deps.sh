#!/bin/bash
# Installs what Keyholder needs to build and test on Debian 12, only if
# something is missing. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config   # toolchain
    libssl-dev openssl                 # OpenSSL 3 library and CLI
    libsecp256k1-dev                   # secp256k1 signing
    liblmdb-dev                        # the keystore
    libseccomp-dev                     # keyholderd's system call filter
    libcunit1-dev                      # unit tests
    util-linux                         # setpriv (access tests)
    python3                            # the tamper test edits LMDB bytes
    nginx curl                         # nginx tests: Debian's nginx 1.22.1
)                                      # (/usr/sbin/nginx, http_ssl module)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "deps: missing ${missing[*]}; run as root" >&2
        exit 1
    }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's nginx package starts its own service (port 80) when installed.
# Nothing here uses it: the tests run their own nginx on 127.0.0.1 and
# free ports, from their temp dirs. Keep it from starting (a busy port 80
# would even fail the install): a policy-rc.d that refuses service starts,
# only for this install and only if the machine has none.
POLICY=
if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    POLICY=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# scripts/deps.sh: no service starts during install\nexit 101\n' |
        $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 0755 "$POLICY"
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
