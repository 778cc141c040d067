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

# CUDA is optional: without nvcc everything but the CUDA backend builds and runs on the CPU.
set(TG_CUDA "AUTO" CACHE STRING "Build the CUDA backend: AUTO, ON or OFF")
set(TG_HAVE_CUDA OFF)
if(NOT TG_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
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
    if(NCCL_LIBRARY AND NCCL_INCLUDE_DIR)
      add_library(tg_nccl INTERFACE)
      target_link_libraries(tg_nccl INTERFACE ${NCCL_LIBRARY})
      target_include_directories(tg_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
      set(TG_HAVE_CUDA ON)
    elseif(TG_CUDA STREQUAL "ON")
      message(FATAL_ERROR "TG_CUDA=ON but NCCL was not found")
    endif()
  elseif(TG_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TG_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
message(STATUS "text-gen: CUDA backend ${TG_HAVE_CUDA}")

# FlashInfer's Hopper prefill (optional): its headers and the CUTLASS it pins come from the
# flashinfer-python wheel, a newer CCCL than CUDA 13.0's from nvidia-cuda-cccl; both are fetched
# into third_party/ by scripts/setup.sh (scripts/fetch-flashinfer.sh). Without them prefill runs
# on our own kernels only.
set(TG_FLASHINFER "AUTO" CACHE STRING "Build FlashInfer's Hopper prefill: AUTO, ON or OFF")
set(TG_FLASHINFER_DIR "${PROJECT_SOURCE_DIR}/third_party" CACHE PATH
    "Where scripts/fetch-flashinfer.sh put the FlashInfer and CCCL headers")
set(TG_HAVE_FLASHINFER OFF)
if(TG_HAVE_CUDA AND NOT TG_FLASHINFER STREQUAL "OFF")
  set(TG_FLASHINFER_INCLUDE_DIRS
      ${TG_FLASHINFER_DIR}/cccl/include  # first: it must shadow the toolkit's CCCL
      ${TG_FLASHINFER_DIR}/flashinfer/include
      ${TG_FLASHINFER_DIR}/flashinfer/cutlass/include
      ${TG_FLASHINFER_DIR}/flashinfer/cutlass/tools/util/include)
  if(EXISTS ${TG_FLASHINFER_DIR}/flashinfer/include/flashinfer/attention/hopper/prefill_sm90.cuh
     AND EXISTS ${TG_FLASHINFER_DIR}/flashinfer/cutlass/include/cute/tensor.hpp
     AND EXISTS ${TG_FLASHINFER_DIR}/flashinfer/cutlass/tools/util/include/cutlass/util/command_line.h
     AND EXISTS ${TG_FLASHINFER_DIR}/cccl/include/cuda/version)
    set(TG_HAVE_FLASHINFER ON)
  elseif(TG_FLASHINFER STREQUAL "ON")
    message(FATAL_ERROR "TG_FLASHINFER=ON but ${TG_FLASHINFER_DIR} lacks the FlashInfer/CCCL "
                        "headers (run scripts/fetch-flashinfer.sh)")
  endif()
elseif(TG_FLASHINFER STREQUAL "ON")
  message(FATAL_ERROR "TG_FLASHINFER=ON needs the CUDA backend")
endif()
message(STATUS "text-gen: FlashInfer Hopper prefill ${TG_HAVE_FLASHINFER}")
