# Compile options every taskd target links: warnings, sanitizers, version.
add_library(taskd_warnings INTERFACE)
target_compile_options(taskd_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(TASKD_WERROR)
  target_compile_options(taskd_warnings INTERFACE -Werror)
endif()

if(TASKD_SANITIZE)
  message(STATUS "taskd: building with -fsanitize=${TASKD_SANITIZE}")
  add_compile_options(-fsanitize=${TASKD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${TASKD_SANITIZE})
  if(TASKD_SANITIZE MATCHES "thread")
    # TSan cannot model Asio's std::atomic_thread_fence (GCC 12 warns -Wtsan);
    # handlers cross threads through Asio's mutex-guarded queues, which TSan
    # does see, so the fence is not needed for correctness under TSan.
    add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
  endif()
endif()

if(TASKD_FUZZ)
  # Coverage for libFuzzer in every object; only the fuzz targets link its main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

# taskd_headers(TARGET SCOPE FOLDER...): puts on TARGET's include path only
# the FOLDERs, each at its own path: build/include/TARGET/FOLDER is a link to
# the source folder. A file can then include another folder's headers only
# when its target links that folder's target, so the build enforces the
# layering of ARCHITECTURE.md, and no target exports the source root.
# SCOPE: PUBLIC for a library, INTERFACE for a header-only one, PRIVATE for
# a program.
function(taskd_headers target scope)
  set(root "${PROJECT_BINARY_DIR}/include/${target}")
  foreach(folder IN LISTS ARGN)
    get_filename_component(parent "${root}/${folder}" DIRECTORY)
    file(MAKE_DIRECTORY "${parent}")
    if(NOT IS_SYMLINK "${root}/${folder}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${folder}" "${root}/${folder}" SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} ${scope} $<BUILD_INTERFACE:${root}>)
endfunction()

# Registers a GoogleTest executable with CTest under a label (unit, integration, e2e).
function(taskd_add_gtest name label)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main taskd_warnings)
  taskd_headers(${name} PRIVATE tests)
  gtest_discover_tests(${name} PROPERTIES LABELS ${label} DISCOVERY_TIMEOUT 60)
endfunction()
