# Per-file ISA flags from the one table, src/cpu/kernel_isa.def, and the build check that no object
# holds an instruction beyond its row (cmake/check_kernel_isa.py over objdump's disassembly).
#
# A file named *_<suffix>.cpp gets -m<feature> for each feature of row <suffix>, on top of the base
# flags; cpu::kernel_isa_supported(KernelIsa::<suffix>) expands the same row for dispatch.

set(FATHOM_KERNEL_ISA_TABLE ${PROJECT_SOURCE_DIR}/src/cpu/kernel_isa.def)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${FATHOM_KERNEL_ISA_TABLE})
file(STRINGS ${FATHOM_KERNEL_ISA_TABLE} _fathom_isa_rows REGEX "^FATHOM_KERNEL_ISA\\(")
foreach(_row IN LISTS _fathom_isa_rows)
  string(REGEX REPLACE "^FATHOM_KERNEL_ISA\\(([^)]*)\\).*" "\\1" _row "${_row}")
  string(REPLACE "," ";" _row "${_row}")
  list(TRANSFORM _row STRIP)
  list(POP_FRONT _row _suffix)
  list(TRANSFORM _row PREPEND "-m" OUTPUT_VARIABLE _flags)
  set(FATHOM_KERNEL_ISA_FLAGS_${_suffix} ${_flags})
  file(GLOB_RECURSE _files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*_${_suffix}.cpp)
  set_source_files_properties(${_files} PROPERTIES COMPILE_OPTIONS "${_flags}")
endforeach()

find_package(Python3 REQUIRED COMPONENTS Interpreter)
find_program(FATHOM_OBJDUMP NAMES objdump REQUIRED)
set(FATHOM_KERNEL_ISA_CHECK ${PROJECT_SOURCE_DIR}/cmake/check_kernel_isa.py)

# Checks every object of `target` once it is built: target <target>_isa_check, part of the default
# build (and of any build of a target that add_dependencies on it).
function(fathom_check_kernel_isa target)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/kernel_isa_check/${target}.ok)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/kernel_isa_check
    COMMAND ${Python3_EXECUTABLE} ${FATHOM_KERNEL_ISA_CHECK} --table ${FATHOM_KERNEL_ISA_TABLE}
            --objdump ${FATHOM_OBJDUMP} --stamp ${stamp} $<TARGET_OBJECTS:${target}>
    DEPENDS $<TARGET_OBJECTS:${target}> ${FATHOM_KERNEL_ISA_CHECK} ${FATHOM_KERNEL_ISA_TABLE}
    COMMENT "Checking ${target}'s objects against src/cpu/kernel_isa.def"
    COMMAND_EXPAND_LISTS VERBATIM)
  add_custom_target(${target}_isa_check ALL DEPENDS ${stamp})
  add_dependencies(${target}_isa_check ${target})
endfunction()
