/* The counters of check.h: one set per program, whichever of its files run checks. */
#include "check.h"

pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
int check_tests_passed, check_tests_failed, check_tests_skipped;
long check_count, check_failures_in_test;
int check_skipped_in_test;
const char *check_test_name = "(none)";
