# Whole-model tests against the independent NumPy reference (tests/reference/, docs/REFERENCE.md).
# Included by the top-level CMakeLists.txt (tests/*.cmake). Needs python3 with numpy (python3-numpy).
#
#   ref_selftest                 the reference's own consistency checks (no fathom)
#   ref_goldens_reference        the reference still reproduces tests/goldens (no fathom)
#   ref_ckpt_<family>_<dtype>    fathom vs reference on checkpoints written by make_checkpoint.py
#   ref_synth_<preset>_<dtype>   fathom vs reference on checkpoints written by `fathom synth`
#   ref_quant_v3_<dtype>_<type>  `fathom quantize --type q8_0|q4_0` vs the reference on the weights
#                                dequantized by tests/reference/quant_np.py (rel. L2 <= 1e-5; the
#                                ref_quant_fast_* cases, int8 activations, <= 6e-2)
#   ref_golden_<case>            fathom vs the stored golden logits
# Each compares `fathom logits` in prefill and decode mode (and --mtp-out where the model has MTP)
# with relative L2 error <= 1e-4 unless said otherwise.

set(FATHOM_REF_PYTHON /usr/bin/python3 CACHE FILEPATH "python3 with numpy, for the reference tests")
if(NOT EXISTS ${FATHOM_REF_PYTHON})
  find_program(FATHOM_REF_PYTHON_FOUND python3)
  if(FATHOM_REF_PYTHON_FOUND)
    set(FATHOM_REF_PYTHON ${FATHOM_REF_PYTHON_FOUND})
  endif()
endif()

set(FATHOM_REF_DIR ${CMAKE_SOURCE_DIR}/tests/reference)
set(FATHOM_REF_TMP ${CMAKE_BINARY_DIR}/test-tmp/reference)

function(fathom_ref_test name)
  add_test(NAME ${name} COMMAND ${FATHOM_REF_PYTHON} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS "reference" TIMEOUT 120)
endfunction()

fathom_ref_test(ref_selftest ${FATHOM_REF_DIR}/selftest.py --tmp ${FATHOM_REF_TMP}/selftest)
fathom_ref_test(ref_goldens_reference ${FATHOM_REF_DIR}/check_goldens.py --reference
                --tmp ${FATHOM_REF_TMP}/goldens_reference)

if(TARGET fathom)
  set(_fathom_ref_dtypes f32 bf16 fp8)

  # Checkpoints fathom did not write (its loader on foreign files).
  set(_seed 11)
  foreach(family v2-lite v2 v3)
    foreach(dtype ${_fathom_ref_dtypes})
      set(_n ref_ckpt_${family}_${dtype})
      fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom>
                      --family ${family} --dtype ${dtype} --seed ${_seed} --tmp ${FATHOM_REF_TMP}/${_n})
    endforeach()
    math(EXPR _seed "${_seed} + 1")
  endforeach()
  # The MTP layer without its own embed_tokens falls back to model.embed_tokens.
  fathom_ref_test(ref_ckpt_v3_fp8_no_mtp_embed ${FATHOM_REF_DIR}/check_logits.py
                  --fathom $<TARGET_FILE:fathom> --family v3 --dtype fp8 --seed 21 --no-mtp-embed
                  --tmp ${FATHOM_REF_TMP}/ref_ckpt_v3_fp8_no_mtp_embed)

  # A longer sequence (positions well past YaRN's original_max_position_embeddings of 16).
  fathom_ref_test(ref_ckpt_v3_bf16_long ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom>
                  --family v3 --dtype bf16 --seed 22 --len 48 --tmp ${FATHOM_REF_TMP}/ref_ckpt_v3_bf16_long)

  # The fast kernels (SIMD, threads) hold the same 1e-4 on float checkpoints (docs/PERFORMANCE.md),
  # except FP8 prefill, which on AVX-512 runs the int8 GEMM of Q8_0 (weights re-quantized per panel,
  # activations rounded to int8 per block; src/ops/matmul.h): like ref_quant_fast below, its bound
  # only catches a misread layout or a lost scale. FP8 decode stays exact.
  foreach(family v2-lite v3)
    foreach(dtype ${_fathom_ref_dtypes})
      set(_n ref_fast_${family}_${dtype})
      set(_modes)
      if(dtype STREQUAL "fp8")
        set(_modes --modes decode)
        fathom_ref_test(${_n}_prefill ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom> --fast
                        --family ${family} --dtype ${dtype} --seed 31 --len 20 --modes prefill --tol 1e-1
                        --tmp ${FATHOM_REF_TMP}/${_n}_prefill)
      endif()
      fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom> --fast
                      --family ${family} --dtype ${dtype} --seed 31 --len 20 ${_modes} --tmp ${FATHOM_REF_TMP}/${_n})
    endforeach()
  endforeach()

  # Checkpoints written by fathom synth.
  foreach(preset tiny-v2-lite tiny-v2 tiny-v3)
    foreach(dtype ${_fathom_ref_dtypes})
      set(_n ref_synth_${preset}_${dtype})
      fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom>
                      --synth ${preset} --dtype ${dtype} --seed 5 --tmp ${FATHOM_REF_TMP}/${_n})
    endforeach()
  endforeach()

  # `fathom quantize` output against the reference on the weights as quant_np.py dequantizes them
  # (an independent reading of the Q8_0 / Q4_0 block layouts). intermediate_size 808 gives the dense
  # MLP's down_proj rows of 26 blocks: groups of 16, 8 and 2, and a partial last block. The reference
  # path computes on exactly those weights (agreement ~3e-7, tolerance 1e-5); the fast path also
  # rounds activations to int8 per block (~2e-2), so its bound only catches a misread layout.
  foreach(qtype q8_0 q4_0)
    foreach(dtype bf16 fp8)
      set(_n ref_quant_v3_${dtype}_${qtype})
      fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom>
                      --family v3 --dtype ${dtype} --seed 41 --set intermediate_size=808 --quantize ${qtype}
                      --tol 1e-5 --tmp ${FATHOM_REF_TMP}/${_n})
    endforeach()
    set(_n ref_quant_fast_v3_bf16_${qtype})
    fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_logits.py --fathom $<TARGET_FILE:fathom> --fast
                    --family v3 --dtype bf16 --seed 41 --set intermediate_size=808 --quantize ${qtype}
                    --tol 6e-2 --tmp ${FATHOM_REF_TMP}/${_n})
  endforeach()

  # Stored goldens: catch a regression of fathom even if the reference were broken too.
  foreach(family v2-lite v2 v3)
    foreach(dtype ${_fathom_ref_dtypes})
      set(_n ref_golden_${family}_${dtype})
      fathom_ref_test(${_n} ${FATHOM_REF_DIR}/check_goldens.py --fathom $<TARGET_FILE:fathom>
                      --case ${family}-${dtype} --tmp ${FATHOM_REF_TMP}/${_n})
    endforeach()
  endforeach()
endif()
