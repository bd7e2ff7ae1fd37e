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
if(ZAYA_BACKEND_HIP)
  find_program(ZAYA_HIPCC hipcc REQUIRED)
  find_library(ZAYA_AMDHIP64 amdhip64 REQUIRED)
  set(hip_flags -std=c++20 -O2 -DNDEBUG -fPIC -fvisibility=hidden
      "-DZAYA_HIP_ARCHS_STRING=\"${ZAYA_HIP_ARCHS}\""
      -I${CMAKE_CURRENT_SOURCE_DIR}/src -I${CMAKE_CURRENT_SOURCE_DIR}/include
      # The project's warnings, spelled for clang (ZAYA_WARNINGS may carry GCC-only flags).
      -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
      -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(ZAYA_WERROR)
    list(APPEND hip_flags -Werror)
  endif()
  set(arch_flags)
  foreach(arch ${ZAYA_HIP_ARCHS})
    list(APPEND arch_flags --offload-arch=${arch})
  endforeach()
  set(hip_objects)
  # Device code: the kernel launchers (the only TU with kernels) and the runtime (HIP API).
  foreach(src src/hip/plugin/launchers_hip.cpp src/hip/plugin/runtime.cpp ${ZAYA_HIP_HOST_SOURCES})
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/zaya-hip/${stem}.o)
    if(src MATCHES "launchers_hip|runtime")
      set(lang -x hip ${arch_flags})
    else()
      set(lang -x c++)
    endif()
    add_custom_command(OUTPUT ${obj}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/zaya-hip
        COMMAND ${ZAYA_HIPCC} ${hip_flags} ${lang} -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
        DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${ZAYA_HIP_HEADERS}
        COMMENT "hipcc ${src} (${ZAYA_HIP_ARCHS})" VERBATIM COMMAND_EXPAND_LISTS)
    list(APPEND hip_objects ${obj})
  endforeach()
  set(plugin ${CMAKE_BINARY_DIR}/libzaya-hip.so)
  add_custom_command(OUTPUT ${plugin}
      COMMAND ${ZAYA_HIPCC} -shared -fPIC ${arch_flags} ${hip_objects} -o ${plugin} -lamdhip64 -lfmt -Wl,--no-undefined
      DEPENDS ${hip_objects}
      COMMENT "linking libzaya-hip.so" VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(zaya_hip_plugin ALL DEPENDS ${plugin})
endif()
