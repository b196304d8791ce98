# Helpers for provider tests (sourced after tests/integration/lib.sh).
# kh_prov_setup KEYHOLDER_SO: writes $WORK/openssl.cnf, which activates the
# default provider first and then keyholder (module path from the build, the
# socket of this test's keyholderd), and exports OPENSSL_CONF to it.
kh_prov_setup() {
    PROVIDER_SO=$1
    OSSL_CNF="$WORK/openssl.cnf"
    cat >"$OSSL_CNF" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
keyholder = keyholder_sect
[default_sect]
activate = 1
[keyholder_sect]
module = $PROVIDER_SO
socket = $SOCK
activate = 1
CNF
    export OPENSSL_CONF="$OSSL_CNF"
    # An ASan build of keyholder.so is dlopened by an uninstrumented
    # openssl: preload the ASan runtime there, and only there (keyholderd,
    # khadmin and the C drivers link it themselves).
    KH_ASAN_RT=$(ldd "$PROVIDER_SO" 2>/dev/null | awk '/libasan/ { print $3 }')
    if [ -n "$KH_ASAN_RT" ]; then
        openssl() { LD_PRELOAD="$KH_ASAN_RT" command openssl "$@"; }
    fi
}

# A dev keyholder with the daemon started: kh_prov_start [keyholderd args]
kh_prov_start() {
    kh_start "$@"
    "$KHADMIN" init --dev >/dev/null 2>&1 || kh_fail "init --dev"
}
