# -DFATHOM_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer over everything built here
# (`make test-sanitize` builds it in its own folder). Any report aborts the process, so a test that
# triggers one fails. -O1 keeps the suite's run time bearable while the reports stay exact; -g1
# keeps the line tables the reports' stack traces need and drops the rest of the debug information,
# which took about a third of each file's compile time (CI's time).
option(FATHOM_SANITIZE "build with -fsanitize=address,undefined" OFF)
if(FATHOM_SANITIZE)
  set(_fathom_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${_fathom_sanitize_flags} -O1 -g1)
  add_link_options(${_fathom_sanitize_flags})
endif()
