"""Per-call cost of the Python layers over the C call, on an installed edgeclass.

    python bench_overhead.py MODEL_DIR IMAGE [--rounds N]

Opens one service on MODEL_DIR (through a services file, as a Lambda does), then alternates, N
times each: the SDK's ``invoke_inference_service`` + ``Body.read()`` (what a Lambda calls) and the
bare C calls through ctypes (``edgeclass_invoke``, ``edgeclass_result_body``,
``edgeclass_result_free`` on prepared buffers). Prints both medians and the overhead of the
Python packages per call (the median of each round's difference). Runs on Python 2.7 and 3.x; the library is found the
way a user's process finds it (unset ``EDGECLASS_LIBRARY`` to test an installed wheel).
"""
from __future__ import print_function

import argparse
import ctypes
import json
import os
import shutil
import tempfile
import timeit

SERVICE = 'benchOverhead'


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model')
    ap.add_argument('image')
    ap.add_argument('--rounds', type=int, default=300)
    a = ap.parse_args()
    with open(a.image, 'rb') as f:
        data = f.read()
    content_type = 'image/png' if data[:4] == b'\x89PNG' else 'image/jpeg'
    tmp = tempfile.mkdtemp()
    try:
        services = os.path.join(tmp, 'services.json')
        with open(services, 'w') as f:
            json.dump([{'Id': 'bench', 'Parameters': {
                'MLModelDestinationPath': os.path.abspath(a.model),
                'LocalInferenceServiceName': SERVICE,
                'LocalInferenceServiceTimeoutSeconds': '10',
                'LocalInferenceServiceMemoryLimitKB': '500000'}}], f)
        os.environ['EDGECLASS_SERVICES'] = services
        start = timeit.default_timer()
        import edgeclass
        import greengrass_machine_learning_sdk as ml
        from edgeclass import _native
        client = ml.client('inference')

        def sdk_call():
            return client.invoke_inference_service(
                AlgoType='image-classification', ServiceName=SERVICE,
                ContentType=content_type, Body=data)['Body'].read()

        first = sdk_call()
        print('first call (import, library load, service open): %.1f ms from %s'
              % ((timeit.default_timer() - start) * 1e3, edgeclass.library_path()))

        lib = edgeclass.lib()
        image = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        result = ctypes.POINTER(_native.edgeclass_result)()
        body = ctypes.create_string_buffer(1 << 16)
        written = ctypes.c_size_t()
        names = (b'image-classification', SERVICE.encode(), content_type.encode())

        def c_call():
            status = lib.edgeclass_invoke(names[0], names[1], names[2], image, len(data), None,
                                          ctypes.byref(result))
            if status != 0:
                raise RuntimeError('edgeclass_invoke: %d' % status)
            lib.edgeclass_result_body(result, body, len(body), ctypes.byref(written))
            lib.edgeclass_result_free(result)
            return body.raw[:written.value - 1]     # *needed counts the NUL

        if c_call() != first:
            raise SystemExit('the C call and the SDK disagree')
        for _ in range(20):     # warm both paths
            sdk_call()
            c_call()
        sdk, c = [], []
        for _ in range(a.rounds):
            t0 = timeit.default_timer()
            sdk_call()
            t1 = timeit.default_timer()
            c_call()
            t2 = timeit.default_timer()
            sdk.append(t1 - t0)
            c.append(t2 - t1)
        ms_sdk, ms_c = median(sdk) * 1e3, median(c) * 1e3
        print('SDK invoke_inference_service: median %.3f ms, min %.3f ms (%d calls)'
              % (ms_sdk, min(sdk) * 1e3, a.rounds))
        print('C calls through ctypes:       median %.3f ms, min %.3f ms'
              % (ms_c, min(c) * 1e3))
        # Each round's difference, then their median: robust to a noisy machine, whose load
        # moves both calls of a round alike.
        paired = median([s - c_ for s, c_ in zip(sdk, c)]) * 1e3
        print('overhead per call: %.3f ms (median of the rounds\' differences; %.3f ms between '
              'the medians, %.3f ms between the minima)'
              % (paired, ms_sdk - ms_c, (min(sdk) - min(c)) * 1e3))
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
