# packaging.cmake - `cmake --install` and the Debian package (cpack -G DEB).
# The binary goes to <prefix>/bin (the prefix defaults to /usr), the default
# config to /etc/tsmd/tsmd.conf, the systemd unit to /lib/systemd/system,
# the docs to <prefix>/share/doc/tsmd. DESTDIR is honoured:
#   DESTDIR=/tmp/root cmake --install build
include(GNUInstallDirs)

set(TSMD_BIN ${CMAKE_INSTALL_FULL_BINDIR}/tsmd)
set(TSMD_DOC_DIR ${CMAKE_INSTALL_FULL_DATADIR}/doc/tsmd)
configure_file(${CMAKE_SOURCE_DIR}/packaging/tsmd.service.in
  ${CMAKE_BINARY_DIR}/packaging/tsmd.service @ONLY)

install(TARGETS tsmd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/config/tsmd.conf DESTINATION /etc/tsmd)
install(FILES ${CMAKE_BINARY_DIR}/packaging/tsmd.service DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tsmd)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tsmd/docs
  FILES_MATCHING PATTERN "*.md" PATTERN "*.yaml")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tsmd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "IoT telemetry ingestion and alerting engine (Kafka to Redis, REST API)")
set(CPACK_PACKAGE_CONTACT "tsmd maintainers <tsmd@example.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # libuv1, librdkafka1, libhiredis0.14, ... from the binary
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
  ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
  ${CMAKE_SOURCE_DIR}/packaging/debian/postrm
  ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
