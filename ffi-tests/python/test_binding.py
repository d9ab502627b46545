"""The low-level ``edgeclass`` binding: every C function at least once, the buffer protocol,
errors as exceptions with code and message, handles, the log callback, library lookup."""

import ctypes
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest

import edgeclass
from edgeclass import _native

import helpers


def setUpModule():
    helpers.capture_library_log()


class _Service(object):
    """One tiny-trained service shared by the tests of this module."""
    _service = None
    _name = None

    @classmethod
    def get(cls):
        if cls._service is None:
            cls._name = helpers.unique_name('binding')
            cls._service = edgeclass.Service.open(helpers.parameters(cls._name))
        return cls._service


PNG = os.path.join(helpers.DIGITS, 'digit07_label3_28x28.png')
JPG = os.path.join(helpers.DIGITS, 'digit00_label0_28x28.jpg')


def f32(x):
    """``x`` rounded to float32."""
    import struct
    return struct.unpack('<f', struct.pack('<f', x))[0]


#: Every struct of the header that the binding declares.
STRUCTS = (_native.edgeclass_service_info, _native.edgeclass_call_stats,
           _native.edgeclass_feedback_stats, _native.edgeclass_feedback_sample)


class VersionAndDeclarations(unittest.TestCase):

    def test_version_abi_and_status_names(self):
        self.assertTrue(re.match(r'^\d+\.\d+\.\d+', edgeclass.version()), edgeclass.version())
        self.assertEqual(edgeclass.abi_version(), edgeclass.ABI_VERSION)
        self.assertEqual(len(edgeclass.STATUS_CODES), 27)
        for short, code in edgeclass.STATUS_CODES.items():
            self.assertEqual(edgeclass.status_name(code), 'EDGECLASS_' + short)
        self.assertEqual(edgeclass.status_name(9999), 'EDGECLASS_UNKNOWN_STATUS')

    def test_public_names(self):
        for name in edgeclass.__all__:
            self.assertTrue(hasattr(edgeclass, name), name)
        for short in edgeclass.STATUS_CODES:
            self.assertIn(short, edgeclass.__all__)

    def test_every_header_function_is_declared(self):
        with open(os.path.join(helpers.REPO, 'include', 'edgeclass.h')) as f:
            header = f.read()
        declared = set(re.findall(r'\b(edgeclass_[a-z_]+)\(', header))
        self.assertEqual(declared, set(_native.PROTOTYPES))
        lib = edgeclass.lib()
        for name, (restype, argtypes) in _native.PROTOTYPES.items():
            fn = getattr(lib, name)
            self.assertEqual(fn.restype, restype, name)
            self.assertEqual(list(fn.argtypes), list(argtypes), name)
            # the header's parameter count for this function
            m = re.search(r'\b%s\(([^)]*)\)' % name, header)
            params = [p for p in m.group(1).split(',') if p.strip() not in ('', 'void')]
            self.assertEqual(len(params), len(argtypes), name)

    def test_struct_layout_matches_the_c_compiler(self):
        cc = None
        for candidate in ('cc', 'gcc', 'clang'):
            if any(os.access(os.path.join(d, candidate), os.X_OK)
                   for d in os.environ.get('PATH', '').split(os.pathsep)):
                cc = candidate
                break
        if cc is None:
            self.skipTest('no C compiler to compare struct layouts with')
        lines = []
        for struct in STRUCTS:
            cname = struct.__name__
            lines.append('printf("%s %%zu\\n", sizeof(struct %s));' % (cname, cname))
            for field, _ in struct._fields_:
                lines.append('printf("%s.%s %%zu\\n", offsetof(struct %s, %s));'
                             % (cname, field, cname, field))
        # The struct definitions are taken from the header text rather than by including it,
        # so that this check does not depend on the rest of the header compiling.
        with open(os.path.join(helpers.REPO, 'include', 'edgeclass.h')) as f:
            header = f.read()
        defs = []
        for struct in STRUCTS:
            m = re.search(r'struct %s \{(.*?)\}' % struct.__name__, header, re.S)
            defs.append('struct %s {%s};' % (struct.__name__, m.group(1)))
        src = ('#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n'
               '#include <stdbool.h>\n%s\nint main(void) {\n%s\nreturn 0;\n}\n'
               % ('\n'.join(defs), '\n'.join(lines)))
        tmp = tempfile.mkdtemp()
        c_file, exe = os.path.join(tmp, 'layout.c'), os.path.join(tmp, 'layout')
        with open(c_file, 'w') as f:
            f.write(src)
        subprocess.check_call([cc, c_file, '-o', exe])
        out = subprocess.check_output([exe]).decode('ascii').split('\n')
        expected = {}
        for line in out:
            if line:
                k, v = line.split()
                expected[k] = int(v)
        for struct in STRUCTS:
            cname = struct.__name__
            self.assertEqual(ctypes.sizeof(struct), expected[cname], cname)
            for field, _ in struct._fields_:
                self.assertEqual(getattr(struct, field).offset,
                                 expected['%s.%s' % (cname, field)], field)


class Errors(unittest.TestCase):

    def test_last_error_is_per_thread_and_carries_code_and_message(self):
        seen = {}

        def fresh_thread():
            seen['fresh'] = edgeclass.last_error()
        t = threading.Thread(target=fresh_thread)
        t.start()
        t.join()
        self.assertEqual(seen['fresh'], (0, ''))

        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.Service.find('no-such-service')
        e = cm.exception
        self.assertEqual(e.code, edgeclass.UNKNOWN_SERVICE)
        self.assertEqual(e.name, 'EDGECLASS_UNKNOWN_SERVICE')
        self.assertIn('no-such-service', e.message)
        self.assertEqual(str(e), e.message)
        self.assertEqual(edgeclass.last_error(), (edgeclass.UNKNOWN_SERVICE, e.message))

        t = threading.Thread(target=fresh_thread)
        t.start()
        t.join()
        self.assertEqual(seen['fresh'], (0, ''), 'another thread must not see this error')

    def test_check(self):
        self.assertEqual(edgeclass.check(edgeclass.OK), edgeclass.OK)
        lib = edgeclass.lib()
        status = lib.edgeclass_service_find(None, None)   # NULL name
        self.assertEqual(status, edgeclass.INVALID_ARGUMENT)
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.check(status)
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)
        self.assertIn('NULL', cm.exception.message)

    def test_last_error_message_truncates_on_a_short_buffer(self):
        lib = edgeclass.lib()
        with self.assertRaises(edgeclass.EdgeclassError):
            edgeclass.Service.find('zz-missing')
        full = edgeclass.last_error()[1]
        needed = lib.edgeclass_last_error_message(None, 0)
        self.assertEqual(needed, len(full.encode('utf-8')) + 1)
        buf = ctypes.create_string_buffer(6)
        self.assertEqual(lib.edgeclass_last_error_message(buf, 6), needed)
        self.assertEqual(buf.value, full.encode('utf-8')[:5])


class ParamsAndOpen(unittest.TestCase):

    def test_params_set_replace_and_free(self):
        name = helpers.unique_name('params')
        p = edgeclass.Params(helpers.parameters(name, LocalInferenceServiceTimeoutSeconds='0'))
        p.set('LocalInferenceServiceTimeoutSeconds', '5')      # replaces the bad value
        s = edgeclass.Service.open(p)
        self.assertEqual(s.info()['classes'], 10)
        s.close()
        p.free()
        p.free()                                               # twice is fine
        with self.assertRaises(ValueError):
            p.set('a', 'b')
        q = edgeclass.Params()
        with self.assertRaises(ValueError):
            q.set('MLModelDestinationPath', 'a\0b')           # C strings cannot hold NUL
        with self.assertRaises(TypeError):
            q.set('LocalInferenceServiceTimeoutSeconds', 10)

    def test_open_errors(self):
        cases = [
            ({'MLModelDestinationPath': '/nonexistent/model'}, edgeclass.MODEL_NOT_FOUND,
             '/nonexistent/model'),
            ({'LocalInferenceServiceTimeoutSeconds': '0'}, edgeclass.INVALID_PARAMETER,
             'LocalInferenceServiceTimeoutSeconds'),
            ({'LocalInferenceServiceMemoryLimitKB': '10'}, edgeclass.MEMORY_LIMIT, ''),
            ({'GPUAcceleration': 'GPU'}, edgeclass.UNSUPPORTED, 'GPU'),
            ({'LocalInferenceServiceTimeOutSeconds': '3'}, edgeclass.INVALID_PARAMETER,
             'unknown parameter'),
        ]
        for extra, code, text in cases:
            params = helpers.parameters(helpers.unique_name('bad'))
            params.update(extra)
            with self.assertRaises(edgeclass.EdgeclassError) as cm:
                edgeclass.Service.open(params)
            self.assertEqual(cm.exception.code, code, (extra, str(cm.exception)))
            self.assertIn(text, cm.exception.message)

    def test_find_free_close_reopen(self):
        name = helpers.unique_name('handles')
        first = edgeclass.Service.open(helpers.parameters(name))
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.Service.open(helpers.parameters(name))
        self.assertEqual(cm.exception.code, edgeclass.SERVICE_EXISTS)
        second = edgeclass.Service.find(name)
        body = helpers.read(PNG)
        with second.classify(body) as r1, first.classify(body) as r2:
            self.assertEqual(r1.body(), r2.body())
        second.free()                                          # the service stays open
        edgeclass.Service.find(name).free()
        first.close()                                          # unregisters the name
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.Service.find(name)
        self.assertEqual(cm.exception.code, edgeclass.UNKNOWN_SERVICE)
        with self.assertRaises(ValueError):
            first.classify(body)
        with edgeclass.Service.open(helpers.parameters(name)) as again:  # closes on exit
            self.assertEqual(again.info()['classes'], 10)
        with self.assertRaises(edgeclass.EdgeclassError):
            edgeclass.Service.find(name)
        # the C functions accept NULL
        lib = edgeclass.lib()
        lib.edgeclass_service_close(None)
        lib.edgeclass_service_free(None)
        lib.edgeclass_params_free(None)
        lib.edgeclass_request_free(None)
        lib.edgeclass_result_free(None)
        lib.edgeclass_request_cancel(None)
        self.assertEqual(lib.edgeclass_result_classes(None), 0)


class ServiceAndResults(unittest.TestCase):

    def test_info_and_labels(self):
        s = _Service.get()
        info = s.info()
        self.assertEqual((info['channels'], info['height'], info['width'], info['classes']),
                         (3, 28, 28, 10))
        self.assertTrue(info['has_labels'])
        self.assertEqual(info['limit_bytes'], 500000 * 1024)
        self.assertEqual(info['workers'], 1)
        self.assertEqual(s.labels(), [str(i) for i in range(10)])
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            s.label(10)
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)
        self.assertIn('10', cm.exception.message)

    def test_classify_result_accessors(self):
        s = _Service.get()
        before = s.info()['requests']
        r = s.classify(helpers.read(PNG), 'image/png')
        self.assertEqual(r.classes, 10)
        probs = r.probabilities()
        self.assertEqual(len(probs), 10)
        self.assertAlmostEqual(sum(probs), 1.0, places=5)
        body = r.body()
        self.assertIsInstance(body, bytes)
        self.assertTrue(body.startswith(b'[') and body.endswith(b']'))
        parsed = [float(x) for x in body[1:-1].split(b',')]
        self.assertEqual([f32(x) for x in parsed], probs)      # shortest round-trip decimals
        top = r.top_k(3)
        self.assertEqual([i for i, _ in top],
                         sorted(range(10), key=lambda i: -probs[i])[:3])
        self.assertEqual(top[0], (3, probs[3]))
        self.assertEqual(r.top_k(0), [])
        self.assertEqual(len(r.top_k(50)), 10)
        stats = r.stats()
        self.assertEqual((stats['decoded_width'], stats['decoded_height']), (28, 28))
        self.assertGreater(stats['inference_us'], 0)
        r.free()
        r.free()
        with self.assertRaises(ValueError):
            r.body()
        self.assertEqual(s.info()['requests'], before + 1)

    def test_buffer_too_small(self):
        lib = edgeclass.lib()
        s = _Service.get()
        with s.classify(helpers.read(PNG)) as r:
            full = r.body()
            needed = ctypes.c_size_t()
            buf = ctypes.create_string_buffer(8)
            status = lib.edgeclass_result_body(r._ptr, buf, 8, ctypes.byref(needed))
            self.assertEqual(status, edgeclass.BUFFER_TOO_SMALL)
            self.assertEqual(needed.value, len(full) + 1)
            self.assertEqual(buf.value, full[:7])                # truncated, NUL-terminated
            with self.assertRaises(edgeclass.EdgeclassError) as cm:
                edgeclass.check(status)
            self.assertEqual(cm.exception.code, edgeclass.BUFFER_TOO_SMALL)
            self.assertIn('%d bytes' % (len(full) + 1), cm.exception.message)

            count = ctypes.c_size_t()
            small = (ctypes.c_float * 3)()
            status = lib.edgeclass_result_probabilities(r._ptr, small, 3, ctypes.byref(count))
            self.assertEqual(status, edgeclass.BUFFER_TOO_SMALL)
            self.assertEqual(count.value, 10)
            self.assertEqual(list(small), [0.0, 0.0, 0.0])      # nothing copied

            label = ctypes.create_string_buffer(1)
            status = lib.edgeclass_service_label(s._ptr, 3, label, 1, ctypes.byref(needed))
            self.assertEqual(status, edgeclass.BUFFER_TOO_SMALL)
            self.assertEqual(needed.value, 2)
            self.assertEqual(label.value, b'')

            # top_k with NULL outputs only counts
            status = lib.edgeclass_result_top_k(r._ptr, 4, None, None, ctypes.byref(count))
            self.assertEqual((status, count.value), (0, 4))

    def test_invoke_by_name(self):
        s = _Service.get()
        body = helpers.read(JPG)
        with s.classify(body, 'image/jpeg') as a:
            with edgeclass.invoke('image-classification', _Service._name, 'image/jpeg',
                                  body) as b:
                self.assertEqual(a.body(), b.body())
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.invoke('object-detection', _Service._name, 'image/jpeg', body)
        self.assertEqual(cm.exception.code, edgeclass.UNKNOWN_SERVICE)
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.invoke('image_classification', _Service._name, 'image/jpeg', body)
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)

    def test_image_errors(self):
        s = _Service.get()
        cases = [
            ('random_bytes.jpg', 'image/jpeg', edgeclass.UNSUPPORTED_IMAGE_FORMAT),
            ('png_truncated.png', 'image/png', edgeclass.CORRUPT_IMAGE),
            ('jpeg_huge_header_30000x30000.jpg', 'image/jpeg', edgeclass.IMAGE_TOO_LARGE),
            ('png_rgb8.png', 'text/plain', edgeclass.UNSUPPORTED_CONTENT_TYPE),
        ]
        for name, ct, code in cases:
            body = helpers.read(os.path.join(helpers.FIXTURES, 'images', name))
            with self.assertRaises(edgeclass.EdgeclassError) as cm:
                s.classify(body, ct)
            self.assertEqual(cm.exception.code, code, (name, str(cm.exception)))
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            s.classify(b'')
        self.assertTrue(2000 < cm.exception.code < 3000, str(cm.exception))
        with self.assertRaises(ValueError):
            s.classify(helpers.read(PNG), 'image/png\0')

    def test_body_types(self):
        s = _Service.get()
        data = helpers.read(JPG)
        with s.classify(data) as r:
            expected = r.body()
        for body in (bytearray(data), memoryview(data), bytes(data)):
            with s.classify(body) as r:
                self.assertEqual(r.body(), expected, type(body))
        if str is not bytes:
            with self.assertRaises(TypeError):
                s.classify(data.decode('latin-1'))
        else:
            with self.assertRaises(TypeError):
                s.classify(data.decode('latin-1'))             # unicode on 2.7
        with self.assertRaises(TypeError):
            s.classify(None)


class Reload(unittest.TestCase):

    def test_reload_swaps_the_model_and_a_failed_one_keeps_the_old(self):
        slim = os.path.join(helpers.FIXTURES, 'slim', 'r18-slim')
        photo = helpers.read(os.path.join(helpers.FIXTURES, 'photos', 'china.jpg'))
        # The references: services opened on each model directly.
        with edgeclass.Service.open(helpers.parameters(helpers.unique_name('ref'), slim)) as ref:
            want = ref.classify(photo).probabilities()
        with edgeclass.Service.open(helpers.parameters(helpers.unique_name('reload'))) as s:
            before = s.classify(photo).probabilities()
            self.assertEqual((s.generation, len(before)), (1, 10))
            hostile = os.path.join(helpers.FIXTURES, 'hostile-models', 'symbol-unknown-op')
            with self.assertRaises(edgeclass.EdgeclassError) as cm:
                s.reload(hostile)
            self.assertEqual(cm.exception.code, edgeclass.UNSUPPORTED_OPERATOR)
            self.assertIn('the current model serves on', cm.exception.message)
            self.assertEqual(s.generation, 1)
            self.assertEqual(s.classify(photo).probabilities(), before)
            s.reload(slim)
            self.assertEqual(s.generation, 2)
            self.assertEqual(s.classify(photo).probabilities(), want)
            self.assertEqual(s.info()['height'], 64)
            s.reload()
            self.assertEqual(s.generation, 3)
            self.assertEqual(s.classify(photo).probabilities(), want)


class Requests(unittest.TestCase):

    def test_request_cancel_timeout_free(self):
        s = _Service.get()
        body = helpers.read(PNG)
        req = edgeclass.Request()
        req.set_timeout_ms(0)                                  # the service's own deadline
        with s.classify(body, request=req) as r:
            self.assertEqual(r.classes, 10)
        req.cancel()
        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            s.classify(body, request=req)
        self.assertEqual(cm.exception.code, edgeclass.CANCELLED)
        with self.assertRaises(ValueError):
            req.set_timeout_ms(-1)
        req.free()
        req.free()
        with self.assertRaises(ValueError):
            s.classify(body, request=req)
        with self.assertRaises(TypeError):
            s.classify(body, request=object())
        self.assertEqual(edgeclass.lib().edgeclass_request_set_timeout_ms(None, 5),
                         edgeclass.INVALID_ARGUMENT)


class HeapAndLog(unittest.TestCase):

    def test_heap_stats(self):
        _Service.get()
        live, peak = edgeclass.heap_stats()
        self.assertGreater(live, 0)                            # heap accounting is on by default
        self.assertGreaterEqual(peak, live)
        edgeclass.heap_reset_peak()
        live2, peak2 = edgeclass.heap_stats()
        self.assertLessEqual(peak2, peak)

    def test_log_callback(self):
        capture = helpers.capture_library_log()
        s = _Service.get()
        with self.assertRaises(edgeclass.EdgeclassError):
            s.classify(b'not an image at all')
        lines = [m for level, m in capture.lines()
                 if level == edgeclass.LOG_WARN and _Service._name in m and 'not an image' in m]
        self.assertTrue(lines, capture.lines()[-5:])
        self.assertTrue(all(isinstance(m, str) for _, m in capture.lines()))

        with self.assertRaises(edgeclass.EdgeclassError) as cm:
            edgeclass.set_log_callback(capture, 9)
        self.assertEqual(cm.exception.code, edgeclass.INVALID_ARGUMENT)

        raised = []

        def bad_callback(level, message):
            raised.append(message)
            raise RuntimeError('a callback that raises must not break the library')
        saved_stderr = sys.stderr
        try:
            sys.stderr = open(os.devnull, 'w')                 # the printed traceback
            edgeclass.set_log_callback(bad_callback, edgeclass.LOG_WARN)
            with self.assertRaises(edgeclass.EdgeclassError):
                s.classify(b'still not an image')
        finally:
            sys.stderr.close()
            sys.stderr = saved_stderr
            edgeclass.set_log_callback(capture, edgeclass.LOG_INFO)
        self.assertTrue(raised)
        with s.classify(helpers.read(PNG)) as r:               # still working
            self.assertEqual(r.classes, 10)


def _run_python(code, **env):
    """Run ``code`` in a fresh interpreter (the library is loaded once per process)."""
    e = dict(os.environ)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=e, cwd=helpers.HERE)
    out = p.communicate()[0].decode('utf-8', 'replace')
    return p.returncode, out


class LibraryLookup(unittest.TestCase):

    def test_missing_or_wrong_library(self):
        code = ('import edgeclass\n'
                'try:\n'
                '    edgeclass.lib()\n'
                'except edgeclass.LibraryNotFoundError as e:\n'
                '    print("LibraryNotFoundError %s | %s" % (e.code, e))\n')
        rc, out = _run_python(code, EDGECLASS_LIBRARY='/nonexistent/libedgeclass.so')
        self.assertEqual(rc, 0, out)
        self.assertIn('LibraryNotFoundError None', out)
        self.assertIn('/nonexistent/libedgeclass.so', out)
        not_a_library = os.path.join(helpers.temp_dir('notlib'), 'libedgeclass.so')
        with open(not_a_library, 'w') as f:
            f.write('not an ELF file')
        rc, out = _run_python(code, EDGECLASS_LIBRARY=not_a_library)
        self.assertIn('LibraryNotFoundError None', out)
        self.assertIn(not_a_library, out)

    def test_found_without_the_environment_variable(self):
        code = 'import edgeclass; print(edgeclass.library_path()); print(edgeclass.version())'
        if os.environ.get('EDGECLASS_TEST_BUNDLED') == '1':
            # installed with EDGECLASS_BUNDLE_LIBRARY: the copy inside the package
            rc, out = _run_python(code, EDGECLASS_LIBRARY=None)
            self.assertEqual(rc, 0, out)
            package = os.path.dirname(edgeclass.__file__)
            self.assertEqual(os.path.dirname(out.split('\n')[0]), package, out)
        else:
            # through the system's search path
            lib = edgeclass.library_path()
            rc, out = _run_python(code, EDGECLASS_LIBRARY=None,
                                  LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(lib)))
            self.assertEqual(rc, 0, out)
            self.assertEqual(out.split('\n')[1], edgeclass.version())

    def test_installed_package_is_used(self):
        venv = os.environ.get('EDGECLASS_TEST_INSTALLED')
        if not venv:
            self.skipTest('run from a source tree (run.sh tests the installed package)')
        import greengrass_machine_learning_sdk
        for module in (edgeclass, greengrass_machine_learning_sdk):
            self.assertTrue(os.path.realpath(module.__file__).startswith(
                os.path.realpath(venv)), module.__file__)


if __name__ == '__main__':
    unittest.main()
