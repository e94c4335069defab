# -DFATHOM_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer over everything built here
# (`make test-sanitize` builds it in its own folder). Any report aborts the process, so a test that
# triggers one fails. -O1 keeps the suite's run time bearable while the reports stay exact.
option(FATHOM_SANITIZE "build with -fsanitize=address,undefined" OFF)
if(FATHOM_SANITIZE)
  set(_fathom_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  add_compile_options(${_fathom_sanitize_flags} -O1)
  add_link_options(${_fathom_sanitize_flags})
endif()
