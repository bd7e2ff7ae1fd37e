# cmake/ZayaHip.cmake - the HIP plugin, built two ways from the same sources (docs/HIP.md):
#   zaya_hip_emu_plugin  libzaya-hip-emu.so: the device kernels run by our CPU emulation. Always
#                        built (no ROCm needed); the test_hip* tests load it through the real
#                        dlopen path of the core.
#   zaya_hip_plugin      libzaya-hip.so for AMD GPUs, with -DZAYA_BACKEND_HIP=ON: Debian's hipcc,
#                        one code object per arch in ZAYA_HIP_ARCHS. The core never links it.

option(ZAYA_BACKEND_HIP "Build the AMD GPU plugin libzaya-hip.so with hipcc" OFF)
set(ZAYA_HIP_ARCHS "gfx90a;gfx1030" CACHE STRING "GPU archs of libzaya-hip.so (';'-separated, e.g. gfx90a;gfx942;gfx1100)")

set(ZAYA_HIP_HOST_SOURCES src/hip/plugin/ops.cpp src/hip/plugin/device_forward.cpp src/hip/plugin/entry.cpp)
file(GLOB ZAYA_HIP_HEADERS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/hip/*/*.h ${CMAKE_CURRENT_SOURCE_DIR}/include/zaya/*.h)

# ---- emulated plugin (tests) ----------------------------------------------------------------------
add_library(zaya_hip_emu_plugin MODULE ${ZAYA_HIP_HOST_SOURCES} src/hip/plugin/runtime.cpp)
set_target_properties(zaya_hip_emu_plugin PROPERTIES OUTPUT_NAME zaya-hip-emu PREFIX lib
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR} CXX_VISIBILITY_PRESET hidden)
target_include_directories(zaya_hip_emu_plugin PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_compile_definitions(zaya_hip_emu_plugin PRIVATE ZAYA_HIP_EMULATED_PLUGIN=1)
target_link_libraries(zaya_hip_emu_plugin PRIVATE zaya_hip_emulation)
target_link_options(zaya_hip_emu_plugin PRIVATE -Wl,--no-undefined)
target_compile_options(zaya_hip_emu_plugin PRIVATE ${ZAYA_WARNINGS})

if(ZAYA_BUILD_TESTS)
  foreach(test_source ${ZAYA_TEST_SOURCES})
    get_filename_component(test_name ${test_source} NAME_WE)
    if(test_name MATCHES "^test_hip")
      add_dependencies(${test_name} zaya_hip_emu_plugin)
      target_compile_definitions(${test_name} PRIVATE ZAYA_HIP_EMU_PLUGIN="$<TARGET_FILE:zaya_hip_emu_plugin>")
      target_link_libraries(${test_name} PRIVATE zaya_hip_emulation zaya_hip_loader)
    endif()
  endforeach()
endif()

# ---- GPU plugin (hipcc) -----------------------------------------------------------------------------
# hipcc compiles the two TUs that need HIP (the kernel launchers and the runtime calls), one code
# object per arch; the host-only TUs are ordinary C++ of the project's compiler.
if(ZAYA_BACKEND_HIP)
  find_program(ZAYA_HIPCC hipcc REQUIRED)
  find_library(ZAYA_AMDHIP64 amdhip64 REQUIRED)
  string(REPLACE ";" "," hip_archs_csv "${ZAYA_HIP_ARCHS}")
  set(hip_flags -std=c++20 -O2 -DNDEBUG -fPIC -fvisibility=hidden -DZAYA_HIP_ARCHS_STRING="${hip_archs_csv}"
      -I${CMAKE_CURRENT_SOURCE_DIR}/src -I${CMAKE_CURRENT_SOURCE_DIR}/include
      # The project's warnings, spelled for clang (ZAYA_WARNINGS may carry GCC-only flags).
      -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
      -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(ZAYA_WERROR)
    list(APPEND hip_flags -Werror)
  endif()
  foreach(arch ${ZAYA_HIP_ARCHS})
    list(APPEND hip_flags --offload-arch=${arch})
  endforeach()
  set(hip_objects)
  foreach(src src/hip/plugin/launchers_hip.cpp src/hip/plugin/runtime.cpp)
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/zaya-hip/${stem}.o)
    add_custom_command(OUTPUT ${obj}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/zaya-hip
        COMMAND ${ZAYA_HIPCC} ${hip_flags} -x hip -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
        DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${ZAYA_HIP_HEADERS}
        COMMENT "hipcc ${src} (${ZAYA_HIP_ARCHS})" VERBATIM COMMAND_EXPAND_LISTS)
    list(APPEND hip_objects ${obj})
  endforeach()
  set_source_files_properties(${hip_objects} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  add_library(zaya_hip_plugin MODULE ${ZAYA_HIP_HOST_SOURCES} ${hip_objects})
  set_target_properties(zaya_hip_plugin PROPERTIES OUTPUT_NAME zaya-hip PREFIX lib
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR} CXX_VISIBILITY_PRESET hidden)
  target_include_directories(zaya_hip_plugin PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_compile_definitions(zaya_hip_plugin PRIVATE ZAYA_HIP_ARCHS_STRING="${hip_archs_csv}")
  target_link_libraries(zaya_hip_plugin PRIVATE ${ZAYA_AMDHIP64} fmt::fmt)
  target_link_options(zaya_hip_plugin PRIVATE -Wl,--no-undefined)
  target_compile_options(zaya_hip_plugin PRIVATE ${ZAYA_WARNINGS})
endif()
