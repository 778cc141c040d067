# xgrammar's C++ core (constrained decoding: JSON Schema, regex, EBNF -> per-step token masks),
# compiled from the pinned PyPI sdist that scripts/fetch-xgrammar.sh unpacks into .deps/. Its own
# CMake project always builds Python bindings (tvm_ffi), so we compile its sources directly.
set(TG_XGRAMMAR_DIR "${PROJECT_SOURCE_DIR}/.deps/xgrammar-0.2.9" CACHE PATH "xgrammar source")
if(NOT EXISTS "${TG_XGRAMMAR_DIR}/include/xgrammar/xgrammar.h")
  message(FATAL_ERROR "xgrammar source not found in ${TG_XGRAMMAR_DIR}: run scripts/setup.sh "
                      "(or scripts/fetch-xgrammar.sh)")
endif()
file(GLOB xgrammar_sources CONFIGURE_DEPENDS "${TG_XGRAMMAR_DIR}/cpp/*.cc"
     "${TG_XGRAMMAR_DIR}/cpp/support/*.cc" "${TG_XGRAMMAR_DIR}/cpp/converter_ext/*.cc")
add_library(xgrammar STATIC ${xgrammar_sources})
set_target_properties(xgrammar PROPERTIES CXX_STANDARD 17 POSITION_INDEPENDENT_CODE ON)
# SYSTEM: third-party headers must not trip the project's -Werror.
target_include_directories(xgrammar SYSTEM PUBLIC "${TG_XGRAMMAR_DIR}/include"
                           "${TG_XGRAMMAR_DIR}/3rdparty/picojson"
                           "${TG_XGRAMMAR_DIR}/3rdparty/dlpack/include")
target_compile_definitions(xgrammar PUBLIC XGRAMMAR_ENABLE_CPPTRACE=0
                                           XGRAMMAR_ENABLE_INTERNAL_CHECK=0)
target_link_libraries(xgrammar PUBLIC Threads::Threads)
