# Finds every dependency through pkg-config and fails with the name of the
# Debian package that provides it, so a fresh machine knows what to install.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

function(kh_require_pkg var module debpkg)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR
      "Missing dependency '${module}': apt-get install ${debpkg}")
  endif()
  message(STATUS "Found ${module} ${${var}_VERSION}")
endfunction()

kh_require_pkg(OPENSSL "libcrypto>=3.0" libssl-dev)
kh_require_pkg(OPENSSL_SSL "libssl>=3.0" libssl-dev)
kh_require_pkg(SECP256K1 "libsecp256k1>=0.2" libsecp256k1-dev)
kh_require_pkg(LMDB lmdb liblmdb-dev)
kh_require_pkg(SECCOMP "libseccomp>=2.5" libseccomp-dev)
if(KH_BUILD_TESTS)
  kh_require_pkg(CUNIT cunit libcunit1-dev)
endif()
find_package(Threads REQUIRED)
