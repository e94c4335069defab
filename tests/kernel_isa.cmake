# The build's ISA check (cmake/check_kernel_isa.py) must reject an object compiled with a flag beyond
# its row of src/cpu/kernel_isa.def. Each fixture is built with one such flag; its test runs the
# check on it and expects the violation named.
add_library(kernel_isa_fixture_fp16 OBJECT tests/kernel_isa/fp16_in_avx512.cpp)
target_compile_options(kernel_isa_fixture_fp16 PRIVATE ${FATHOM_KERNEL_ISA_FLAGS_avx512} -mavx512fp16)
add_library(kernel_isa_fixture_zmm OBJECT tests/kernel_isa/zmm_in_base.cpp)
target_compile_options(kernel_isa_fixture_zmm PRIVATE -mavx512f)

add_test(NAME kernel_isa_check_rejects_fp16
         COMMAND ${Python3_EXECUTABLE} ${FATHOM_KERNEL_ISA_CHECK} --table ${FATHOM_KERNEL_ISA_TABLE}
                 --objdump ${FATHOM_OBJDUMP} $<TARGET_OBJECTS:kernel_isa_fixture_fp16>)
set_tests_properties(kernel_isa_check_rejects_fp16 PROPERTIES LABELS "build"
  PASS_REGULAR_EXPRESSION "fp16_in_avx512\\.cpp\\.o: instructions outside row avx512 [^\n]*\n  avx512fp16: e\\.g\\. vaddph")
add_test(NAME kernel_isa_check_rejects_avx512_in_base
         COMMAND ${Python3_EXECUTABLE} ${FATHOM_KERNEL_ISA_CHECK} --table ${FATHOM_KERNEL_ISA_TABLE}
                 --objdump ${FATHOM_OBJDUMP} $<TARGET_OBJECTS:kernel_isa_fixture_zmm>)
set_tests_properties(kernel_isa_check_rejects_avx512_in_base PROPERTIES LABELS "build"
  PASS_REGULAR_EXPRESSION "zmm_in_base\\.cpp\\.o: instructions outside base x86-64-v3:\n  avx512f: e\\.g\\. vaddps")
