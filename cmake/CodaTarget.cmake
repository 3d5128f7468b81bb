# Warnings for coda's own targets only; third-party headers come in as SYSTEM includes.
function(coda_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local)
  # GCC 12's AVX-512 intrinsics (`__m512 __Y = __Y;` in _mm512_undefined) raise a false
  # -Wmaybe-uninitialized wherever Eigen's packet math is inlined into our code; the warning is
  # about the compiler's own header (GCC bug 105593, fixed in GCC 13), so it is off for GCC 12 only.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()
