# Warnings for coda's own targets only; third-party headers come in as SYSTEM includes.
function(coda_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local)
endfunction()
