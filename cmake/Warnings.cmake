# Project code builds with warnings as errors; third-party and generated code does not.
# -Wno-missing-field-initializers: designated initializers that leave fields at their defaults
# are how config structs are meant to be written. -Wno-restrict: GCC 12 reports false positives
# on std::string concatenation at -O3 (GCC bug 105329).
function(tg_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Werror
                                -Wno-missing-field-initializers -Wno-restrict>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
