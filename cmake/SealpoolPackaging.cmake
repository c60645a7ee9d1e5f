# The Debian package: `cpack -G DEB` in a build folder (packaging/test.sh does it after the
# tests; docs/operations.md, "Installing from the .deb"). Included from the top-level
# CMakeLists after every program's folder, so `if(TARGET ...)` sees them all.
#
# Programs: each program installs itself (`install(TARGETS x RUNTIME DESTINATION sbin|bin)` next
# to its add_executable). This file installs everything else: systemd units, default configs
# (conffiles), docs, man pages, the certificate script and the maintainer scripts. The package
# test (test/packaging/deb_test.sh) expects every program of SEALPOOL_PACKAGE_PROGRAMS below
# that exists as a target in the .deb, so a program without its install() rule fails it.
include(GNUInstallDirs)

# Daemons and admin tools: man section 8; user commands: section 1. A program whose target
# does not exist in this tree (it lands from another branch) is skipped.
set(_sealpool_programs_8 sealkmsd sealpoold crcontrol keydictutil)
set(_sealpool_programs_1 kmscmd sealpool)
set(SEALPOOL_PACKAGE_PROGRAMS "")
foreach(section 8 1)
  foreach(p IN LISTS _sealpool_programs_${section})
    if(TARGET ${p})
      list(APPEND SEALPOOL_PACKAGE_PROGRAMS ${p})
      set(_sealpool_man_section_${p} ${section})
    endif()
  endforeach()
endforeach()

# Paths the units, configs and docs name. Absolute on purpose: a unit says
# ExecStart=/usr/sbin/sealkmsd, so the package's prefix is /usr whatever CMAKE_INSTALL_PREFIX is.
set(SEALPOOL_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the .deb puts the systemd units (Debian 12: /lib/systemd/system)")
set(SEALPOOL_CONFIG_DIR "/etc/sealpool")
set(SEALPOOL_DOC_DIR "${CMAKE_INSTALL_DATADIR}/doc/sealpool")
set(SEALPOOL_DATA_DIR "${CMAKE_INSTALL_DATADIR}/sealpool")

install(FILES packaging/sealkmsd.service packaging/sealpoold.service
        DESTINATION ${SEALPOOL_UNIT_DIR})
install(FILES packaging/sealkmsd.toml packaging/sealpoold.toml
        DESTINATION ${SEALPOOL_CONFIG_DIR})
install(PROGRAMS packaging/make-certs.sh DESTINATION ${SEALPOOL_DATA_DIR})
# docs/*.md flat (their links to each other still resolve); docs/README.md, the docs' index,
# as index.md beside the project's README.md.
file(GLOB _sealpool_docs CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
list(REMOVE_ITEM _sealpool_docs "${PROJECT_SOURCE_DIR}/docs/README.md")
install(FILES README.md ${_sealpool_docs} DESTINATION ${SEALPOOL_DOC_DIR})
install(FILES docs/README.md DESTINATION ${SEALPOOL_DOC_DIR} RENAME index.md)

# Man pages: each program's --help, wrapped as a man page at build time (cmake/gen-man.sh; no
# help2man needed). SEALPOOL_MAN_PAGES=OFF skips them (e.g. when cross-compiling).
option(SEALPOOL_MAN_PAGES "Generate man pages from each program's --help at build time" ON)
if(SEALPOOL_MAN_PAGES)
  set(_sealpool_man_files "")
  foreach(p IN LISTS SEALPOOL_PACKAGE_PROGRAMS)
    set(section ${_sealpool_man_section_${p}})
    set(out "${PROJECT_BINARY_DIR}/man/${p}.${section}.gz")
    add_custom_command(
      OUTPUT "${out}"
      COMMAND sh "${PROJECT_SOURCE_DIR}/cmake/gen-man.sh" "$<TARGET_FILE:${p}>" ${p} ${section}
              "${PROJECT_VERSION}" "${out}"
      DEPENDS ${p} "${PROJECT_SOURCE_DIR}/cmake/gen-man.sh"
      COMMENT "man page ${p}(${section}) from ${p} --help"
      VERBATIM)
    install(FILES "${out}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${section}")
    list(APPEND _sealpool_man_files "${out}")
  endforeach()
  add_custom_target(sealpool_man_pages ALL DEPENDS ${_sealpool_man_files})
endif()

# --- CPack: one binary package, sealpool_<version>_<arch>.deb -----------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "sealpool")
set(CPACK_PACKAGE_VENDOR "sealpool")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "deduplicating, encrypting storage pool for backup data")
set(SEALPOOL_PACKAGE_MAINTAINER
    "sealpool maintainers <maintainers@users.noreply.r-seed-8d5d6da9.example>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SEALPOOL_PACKAGE_MAINTAINER}")
# The extended description (CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY on the first line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "sealpool stores backup images once per distinct content-defined segment and seals
every new segment under a key of its own (envelope encryption: segment DEK, key-group
KEK, root key in a key service the pool never sees).
.
This package holds the storage server (sealpoold), the key service (sealkmsd) and
the command-line tools, their systemd units, default configurations under
/etc/sealpool, a certificate script and the documentation.")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")  # sealpool_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Runtime libraries: dpkg-shlibdeps reads the programs' NEEDED entries (dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst creates the users with adduser; make-certs.sh needs openssl.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openssl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/deb/conffiles"
    "${PROJECT_SOURCE_DIR}/packaging/deb/postinst"
    "${PROJECT_SOURCE_DIR}/packaging/deb/prerm"
    "${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
include(CPack)
