# Warning flags for host code. The freestanding guest kernel sets its own flags.
set(TW_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Wimplicit-fallthrough)
if(TW_WERROR)
    list(APPEND TW_WARNINGS -Werror)
endif()

function(tw_target_warnings target)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${TW_WARNINGS}>)
endfunction()

# tw_test(NAME SOURCES... LIBS ...): a GoogleTest binary registered with ctest.
function(tw_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
    tw_target_warnings(${name})
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}")
endfunction()
