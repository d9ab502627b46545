#!/usr/bin/env python3
"""Several Lambda processes on one daemon against each loading its own model (issue 17).

    benches/serve/processes.py [--processes 4] [--requests 100] [--models tiny,resnet18]

For each model: P processes x R requests through greengrass_machine_learning_sdk's
invoke_inference_service, first each process with the service in-process (EDGECLASS_SERVICES,
its own copy of the model), then all of them on one `edgeclass serve` (EDGECLASS_SOCKET). Checks
that every answer through the daemon equals the in-process answer for the same image (exit 1
otherwise), and prints per model:
  - peak RSS: the P in-process processes summed, against the daemon's plus its P clients';
  - the socket path's added latency per request: one more client process alternates its
    requests between the service in-process and the daemon (the SDK reads EDGECLASS_SOCKET at
    each call). For each call it takes the round trip minus the classification's own stages
    (wait, decode, preprocess, inference: the result's stats in-process, the answer's
    Server-Timing header through the daemon), which leaves what each path adds around the
    same library call; the socket path's cost is the difference of the two medians. Each
    call's stages are subtracted from its own round trip, so the model's run-to-run noise
    (milliseconds on ResNet-18) cancels, and alternating puts both paths under the same load.
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


def ab_child(requests, sock):
    """The latency client: R requests of each image in turn, each sent in-process and then
    through the daemon at ``sock``; prints JSON with, per path, each call's round trip minus
    its classification stages (seconds), and the in-process round trips."""
    sys.path.insert(0, os.path.join(REPO, 'python'))
    import edgeclass
    import greengrass_machine_learning_sdk as ml
    from greengrass_machine_learning_sdk import daemon
    stats = {}
    plain_invoke = edgeclass.invoke

    def invoke(*args, **kwargs):       # the SDK's in-process call, keeping the result's stats
        result = plain_invoke(*args, **kwargs)
        stats.update(result.stats())
        return result
    edgeclass.invoke = invoke
    client = ml.client('inference')
    bodies = [open(p, 'rb').read() for p in IMAGES]

    def call(k):
        t0 = time.perf_counter()
        resp = client.invoke_inference_service(AlgoType='image-classification',
                                               ServiceName=SERVICE, Body=bodies[k])
        answer = resp['Body'].read()
        return time.perf_counter() - t0, answer

    def in_process_stages():
        return sum(stats[k] for k in ('wait_us', 'decode_us', 'preprocess_us',
                                      'inference_us')) / 1e6

    def daemon_stages():
        timing = daemon._local.conn.fields[b'server-timing'].decode()
        dur = dict((part.split(';dur=')[0].strip(), float(part.split(';dur=')[1]))
                   for part in timing.split(','))
        return sum(dur[k] for k in ('wait', 'decode', 'preprocess', 'inference')) / 1e3

    inproc, through, rtt = [], [], []
    warm = len(bodies)
    for i in range(requests + warm):
        k = i % len(bodies)
        os.environ['EDGECLASS_SOCKET'] = ''
        t_in, a_in = call(k)
        s_in = in_process_stages()
        os.environ['EDGECLASS_SOCKET'] = sock
        t_d, a_d = call(k)
        s_d = daemon_stages()
        if a_in != a_d:
            sys.exit('image %d: the daemon answered otherwise than in-process' % k)
        if i >= warm:
            inproc.append(t_in - s_in)
            through.append(t_d - s_d)
            rtt.append(t_in)
    print(json.dumps({'inproc': inproc, 'daemon': through, 'rtt': rtt}))


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
          'peak RSS | answers equal | socket path adds per request (median) |')
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
            # Latency: one more client, alternating in-process and daemon calls.
            ab_env = dict(base, EDGECLASS_SERVICES=services)
            p = subprocess.Popen([sys.executable, __file__, '--ab', str(args.latency_requests),
                                  sock], env=ab_env, stdout=subprocess.PIPE)
            data, _ = p.communicate()
            if p.returncode != 0:
                sys.exit('the latency client failed (exit %s)' % p.returncode)
            ab = json.loads(data)
        finally:
            daemon.terminate()
            daemon.wait()
        reference = inproc[0]['answers']
        equal = all(r['answers'] == reference for r in inproc + through)
        failed = failed or not equal
        in_rss = sum(r['rss_kib'] for r in inproc)
        d_rss = daemon_rss + sum(r['rss_kib'] for r in through)
        med = lambda xs: statistics.median(xs) * 1e3     # noqa: E731
        print('| %s | %d x %d | %.1f MiB | %.1f MiB (daemon %.1f) | %s | %.3f ms (around the '
              'classification: daemon %.3f, in-process %.3f; in-process round trip %.3f ms) |'
              % (name, args.processes, args.requests, in_rss / 1024.0, d_rss / 1024.0,
                 daemon_rss / 1024.0, 'yes' if equal else 'NO',
                 med(ab['daemon']) - med(ab['inproc']), med(ab['daemon']), med(ab['inproc']),
                 med(ab['rtt'])))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        child(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == '--ab':
        ab_child(int(sys.argv[2]), sys.argv[3])
    else:
        main()
