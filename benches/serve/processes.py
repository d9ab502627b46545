#!/usr/bin/env python3
"""Several Lambda processes on one daemon against each loading its own model (issue 17).

    benches/serve/processes.py [--processes 4] [--requests 100] [--models tiny,resnet18]

For each model: P processes x R requests through greengrass_machine_learning_sdk's
invoke_inference_service, first each process with the service in-process (EDGECLASS_SERVICES,
its own copy of the model), then all of them on one `edgeclass serve` (EDGECLASS_SOCKET). Checks
that every answer through the daemon equals the in-process answer for the same image (exit 1
otherwise), and prints per model:
  - peak RSS: the P in-process processes summed, against the daemon's plus its P clients';
  - the socket path's added latency per request: one more client process through the daemon,
    its mean round trip minus the daemon's own mean classification stages (wait, decode,
    preprocess, inference) for those requests, from /metrics before and after (as latency.py
    does for one connection); and that process's in-process mean for scale.
A benchmark, not a test: run it on a quiet machine and compare within one run. Python 3
standard library; the repository's packages (python/), target/release/libedgeclass.so and
target/release/edgeclass (EDGECLASS_LIBRARY / EDGECLASS_CLI override them); the ResNet-18 model
is tests/fixtures/full/resnet18-224 (scripts/make-full-models.sh).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import latency  # noqa: E402  (its /metrics reader)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures')
MODELS = {
    'tiny': os.path.join(FIXTURES, 'tiny-trained'),
    'resnet18': os.path.join(FIXTURES, 'full', 'resnet18-224'),
}
IMAGES = [os.path.join(FIXTURES, 'photos', 'china.jpg'),
          os.path.join(FIXTURES, 'photos', 'flower.jpg'),
          os.path.join(FIXTURES, 'tiny-trained', 'images', 'digit07_label3_28x28.png'),
          os.path.join(FIXTURES, 'tiny-trained', 'images', 'digit00_label0_28x28.jpg')]
SERVICE = 'bench'


def child(requests, offset):
    """One Lambda process: R requests cycling through the images; prints JSON with its answers
    (by image), its per-request times and its peak RSS."""
    sys.path.insert(0, os.path.join(REPO, 'python'))
    import greengrass_machine_learning_sdk as ml
    client = ml.client('inference')
    bodies = [open(p, 'rb').read() for p in IMAGES]
    answers, times = {}, []
    for i in range(requests):
        k = (i + offset) % len(bodies)
        t0 = time.perf_counter()
        resp = client.invoke_inference_service(AlgoType='image-classification',
                                               ServiceName=SERVICE, Body=bodies[k])
        body = resp['Body'].read()
        times.append(time.perf_counter() - t0)
        answers.setdefault(str(k), body.decode())
        if answers[str(k)] != body.decode():
            sys.exit('image %d answered two ways in one process' % k)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux
    print(json.dumps({'answers': answers, 'times': times, 'rss_kib': rss}))


def run_children(n, requests, env):
    procs = [subprocess.Popen([sys.executable, __file__, '--child', str(requests), str(i)],
                              env=env, stdout=subprocess.PIPE) for i in range(n)]
    out = []
    for p in procs:
        data, _ = p.communicate()
        if p.returncode != 0:
            sys.exit('a client process failed (exit %s)' % p.returncode)
        out.append(json.loads(data))
    return out


def peak_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--processes', type=int, default=4)
    ap.add_argument('--requests', type=int, default=100)
    ap.add_argument('--models', default='tiny,resnet18')
    ap.add_argument('--latency-requests', type=int, default=200)
    args = ap.parse_args()
    lib = os.environ.get('EDGECLASS_LIBRARY') or os.path.join(REPO, 'target', 'release',
                                                              'libedgeclass.so')
    cli = os.environ.get('EDGECLASS_CLI') or os.path.join(REPO, 'target', 'release', 'edgeclass')
    scratch = tempfile.mkdtemp(prefix='edgeclass-bench-')
    failed = False
    print('| model | processes x requests | in-process: summed peak RSS | daemon + clients: '
          'peak RSS | answers equal | socket path adds per request |')
    print('|---|---|---|---|---|---|')
    for name in args.models.split(','):
        services = os.path.join(scratch, '%s.json' % name)
        with open(services, 'w') as f:
            json.dump({'Connectors': [{'Id': 'Bench', 'Parameters': {
                'MLModelDestinationPath': MODELS[name],
                'LocalInferenceServiceName': SERVICE,
                'LocalInferenceServiceTimeoutSeconds': '60',
                'LocalInferenceServiceMemoryLimitKB': '1000000',
                'EdgeclassWorkers': str(args.processes)}}]}, f)
        base = dict(os.environ, EDGECLASS_LIBRARY=lib, PYTHONPATH='')
        base.pop('EDGECLASS_SOCKET', None)
        inproc_env = dict(base, EDGECLASS_SERVICES=services)
        inproc = run_children(args.processes, args.requests, inproc_env)
        sock = os.path.join(scratch, '%s.sock' % name)
        log = open(os.path.join(scratch, '%s.log' % name), 'wb')
        daemon = subprocess.Popen([cli, 'serve', '--config', services, '--socket', sock],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            while not os.path.exists(sock):
                if daemon.poll() is not None:
                    sys.exit('edgeclass serve exited: see %s' % log.name)
                time.sleep(0.05)
            time.sleep(0.2)
            daemon_env = dict(base, EDGECLASS_SOCKET=sock,
                              EDGECLASS_SERVICES=os.path.join(scratch, 'none.json'))
            through = run_children(args.processes, args.requests, daemon_env)
            daemon_rss = peak_rss_kib(daemon.pid)
            # Latency: one more client, against the daemon's own stage times of its requests.
            # (A connection each: the daemon closes one left idle past its header timeout.)
            s0, c0 = latency.metrics(latency.UnixConnection(sock), SERVICE)
            times = run_children(1, args.latency_requests, daemon_env)[0]['times']
            s1, c1 = latency.metrics(latency.UnixConnection(sock), SERVICE)
            count = c1['total'] - c0['total']
            stages = sum(s1[k] - s0[k] for k in ('wait', 'decode', 'preprocess', 'inference'))
            added = [statistics.mean(times) - stages / count]
            inproc_mean = statistics.mean(
                run_children(1, args.latency_requests, inproc_env)[0]['times'][1:])
        finally:
            daemon.terminate()
            daemon.wait()
        reference = inproc[0]['answers']
        equal = all(r['answers'] == reference for r in inproc + through)
        failed = failed or not equal
        in_rss = sum(r['rss_kib'] for r in inproc)
        d_rss = daemon_rss + sum(r['rss_kib'] for r in through)
        print('| %s | %d x %d | %.1f MiB | %.1f MiB (daemon %.1f) | %s | %.3f ms (in-process '
              'mean %.3f ms) |'
              % (name, args.processes, args.requests, in_rss / 1024.0, d_rss / 1024.0,
                 daemon_rss / 1024.0, 'yes' if equal else 'NO', added[0] * 1e3,
                 inproc_mean * 1e3))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
