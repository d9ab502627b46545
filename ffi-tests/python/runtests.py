"""Runs every test_*.py here with unittest (Python 2.7 and 3.x, no extra packages).

Prints the usual unittest report, then a last line exactly ``N passed, M failed`` (errors count
as failed; skipped tests are in neither and are listed above it). Exit status 1 on any failure.

    EDGECLASS_LIBRARY=target/release/libedgeclass.so PYTHONPATH=python \
        python ffi-tests/python/runtests.py [test_module.Class.test ...]
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if len(argv) > 1:
        suite = loader.loadTestsFromNames(argv[1:])
    else:
        suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(
        getattr(result, 'unexpectedSuccesses', []))
    skipped = len(getattr(result, 'skipped', []))
    passed = result.testsRun - failed - skipped - len(getattr(result, 'expectedFailures', []))
    for test, reason in getattr(result, 'skipped', []):
        print('skipped: %s: %s' % (test.id(), reason))
    sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
