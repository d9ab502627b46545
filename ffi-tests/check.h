/*
 * A tiny test framework for the edgeclass C tests: no external library, C99 + pthreads.
 *
 *   static void test_x(void) { CHECK(a == b); CHECKF(n > 0, "n = %d", n); }
 *   int main(void) { RUN(test_x); return check_finish(); }
 *
 * A program links check.c once (the counters); any number of its files include this header.
 *
 * A test passes when none of its checks failed; SKIP(reason) ends it as skipped. Checks may run
 * on several threads (failures are counted under a mutex and attributed to the running test).
 * Helpers are static inline so a program that uses only some of them compiles without warnings.
 * check_finish() prints "RESULT passed=N failed=M skipped=K" for run.sh and returns the exit code.
 */
#ifndef EDGECLASS_CHECK_H
#define EDGECLASS_CHECK_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The counters, one set per program (defined in check.c): checks may run in any of its files and
 * on any thread. */
extern pthread_mutex_t check_lock;
extern int check_tests_passed, check_tests_failed, check_tests_skipped;
extern long check_count, check_failures_in_test;
extern int check_skipped_in_test;
extern const char *check_test_name;

/* Record one check; print the failure with its location and an optional printf-style detail. */
static inline int check_record(int ok, const char *expr, const char *file, int line, const char *fmt, ...)
{
    pthread_mutex_lock(&check_lock);
    check_count++;
    if (!ok) {
        check_failures_in_test++;
        fprintf(stderr, "FAIL %s: %s:%d: %s", check_test_name, file, line, expr);
        if (fmt != NULL && fmt[0] != '\0') {
            va_list ap;
            va_start(ap, fmt);
            fputs(": ", stderr);
            vfprintf(stderr, fmt, ap);
            va_end(ap);
        }
        fputc('\n', stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&check_lock);
    return ok;
}

/* CHECK(cond): evaluates to cond's truth, so `if (!CHECK(p != NULL)) return;` guards a test. */
#define CHECK(cond) check_record(!!(cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) check_record(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)

/* Mark the running test skipped (it then counts neither as passed nor failed) and say why. */
#define SKIP(...)                                                        \
    do {                                                                 \
        pthread_mutex_lock(&check_lock);                                 \
        check_skipped_in_test = 1;                                       \
        fprintf(stderr, "SKIP %s: ", check_test_name);                   \
        fprintf(stderr, __VA_ARGS__);                                    \
        fputc('\n', stderr);                                             \
        pthread_mutex_unlock(&check_lock);                               \
        return;                                                          \
    } while (0)

static inline double check_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* FFI_ONLY=substring: run only the tests whose name contains it (the others are not counted). */
static inline void check_run(void (*fn)(void), const char *name)
{
    double t0 = check_now();
    const char *only = getenv("FFI_ONLY");
    if (only != NULL && only[0] != '\0' && strstr(name, only) == NULL)
        return;
    pthread_mutex_lock(&check_lock);
    check_test_name = name;
    check_failures_in_test = 0;
    check_skipped_in_test = 0;
    pthread_mutex_unlock(&check_lock);
    fn();
    pthread_mutex_lock(&check_lock);
    if (check_failures_in_test > 0) {
        check_tests_failed++;
        printf("not ok  %-40s (%ld failed checks)\n", name, check_failures_in_test);
    } else if (check_skipped_in_test) {
        check_tests_skipped++;
        printf("skip    %s\n", name);
    } else {
        check_tests_passed++;
        printf("ok      %-40s %.2f s\n", name, check_now() - t0);
    }
    fflush(stdout);
    check_test_name = "(between tests)";
    pthread_mutex_unlock(&check_lock);
}

#define RUN(fn) check_run(fn, #fn)

static inline int check_finish(void)
{
    printf("RESULT passed=%d failed=%d skipped=%d checks=%ld\n", check_tests_passed,
           check_tests_failed, check_tests_skipped, check_count);
    fflush(stdout);
    return check_tests_failed == 0 ? 0 : 1;
}

#endif
