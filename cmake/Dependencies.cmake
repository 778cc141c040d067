# Every dependency comes from a Debian package installed by scripts/setup.sh.
find_package(Threads REQUIRED)
find_package(Protobuf CONFIG QUIET)
if(NOT Protobuf_FOUND)
  find_package(Protobuf REQUIRED)
endif()
find_package(gRPC CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)
find_package(CURL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_program(PROTOC_EXE protoc REQUIRED)

# The CUDA backend: TG_CUDA=ON requires nvcc and NCCL, OFF builds the CPU backend only, and AUTO
# (the default) builds it when nvcc is found. AUTO is the one probe kept on purpose: the CPU-only
# build is a supported configuration (scripts/setup.sh installs no CUDA toolkit), and the line
# below says which one this is. With nvcc found, a missing NCCL is an error, not a CPU build.
set(TG_CUDA "AUTO" CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE TG_CUDA PROPERTY STRINGS AUTO ON OFF)
if(NOT TG_CUDA MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "TG_CUDA must be AUTO, ON or OFF, not '${TG_CUDA}'")
endif()
set(TG_HAVE_CUDA OFF)
if(NOT TG_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  # NVIDIA's packages install nvcc in /usr/local/cuda/bin, which is not on PATH by default.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(TG_NVCC nvcc PATHS /usr/local/cuda/bin)
    if(TG_NVCC)
      set(CMAKE_CUDA_COMPILER ${TG_NVCC})
    endif()
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    if(NOT NCCL_LIBRARY OR NOT NCCL_INCLUDE_DIR)
      message(FATAL_ERROR "the CUDA backend needs NCCL (libnccl-dev), which was not found; "
                          "install it, or configure with -DTG_CUDA=OFF for a CPU-only build")
    endif()
    add_library(tg_nccl INTERFACE)
    target_link_libraries(tg_nccl INTERFACE ${NCCL_LIBRARY})
    target_include_directories(tg_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    set(TG_HAVE_CUDA ON)
  elseif(TG_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TG_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "text-gen: CUDA backend ${TG_HAVE_CUDA} (TG_CUDA=${TG_CUDA})")

# FlashInfer's Hopper prefill and decode kernels, part of every CUDA build unless
# TG_FLASHINFER=OFF: their headers and the CUTLASS they pin come from the flashinfer-python wheel,
# a newer CCCL than CUDA 13.0's from nvidia-cuda-cccl; scripts/setup.sh fetches both into
# third_party/ (scripts/fetch-flashinfer.sh). Headers missing is an error, never a quiet build
# without them.
option(TG_FLASHINFER "Build FlashInfer's Hopper kernels into the CUDA backend" ON)
set(TG_FLASHINFER_DIR "${PROJECT_SOURCE_DIR}/third_party" CACHE PATH
    "Where scripts/fetch-flashinfer.sh put the FlashInfer and CCCL headers")
set(TG_HAVE_FLASHINFER OFF)
if(TG_HAVE_CUDA AND TG_FLASHINFER)
  set(TG_FLASHINFER_INCLUDE_DIRS
      ${TG_FLASHINFER_DIR}/cccl/include  # first: it must shadow the toolkit's CCCL
      ${TG_FLASHINFER_DIR}/flashinfer/include
      ${TG_FLASHINFER_DIR}/flashinfer/cutlass/include
      ${TG_FLASHINFER_DIR}/flashinfer/cutlass/tools/util/include)
  foreach(header flashinfer/include/flashinfer/attention/hopper/prefill_sm90.cuh
                 flashinfer/cutlass/include/cute/tensor.hpp
                 flashinfer/cutlass/tools/util/include/cutlass/util/command_line.h
                 cccl/include/cuda/version)
    if(NOT EXISTS ${TG_FLASHINFER_DIR}/${header})
      message(FATAL_ERROR "${TG_FLASHINFER_DIR} lacks ${header}: run scripts/fetch-flashinfer.sh "
                          "(scripts/setup.sh does), or configure with -DTG_FLASHINFER=OFF to "
                          "build the CUDA backend with our own attention kernels only")
    endif()
  endforeach()
  set(TG_HAVE_FLASHINFER ON)
endif()
message(STATUS "text-gen: FlashInfer Hopper kernels ${TG_HAVE_FLASHINFER}")
