#!/usr/bin/env python3
"""What the socket path adds to a classification (issue 17: goal under 0.5 ms).

    benches/serve/latency.py SOCKET SERVICE IMAGE [N]

Against a running `edgeclass serve`: N requests (default 500, after 20 warm-up ones) of IMAGE on
one keep-alive connection to SOCKET, then the daemon's own per-stage sums from /metrics. Prints
the client's median and mean round trip, the daemon's mean time from arrival to answer (total)
and of the classification's stages (wait + decode + preprocess + inference), and the two
differences: what HTTP, the body read and the thread handoff add inside the daemon, and what the
whole socket path adds seen from the client. A benchmark, not a test: compare runs on one
machine. Python 3 standard library only.
"""
import http.client
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, 'localhost')
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def metrics(conn, service):
    conn.request('GET', '/metrics')
    text = conn.getresponse().read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        if 'service="%s"' % service not in line:
            continue
        for kind, table in (('_sum{', sums), ('_count{', counts)):
            if line.startswith('edgeclass_request_stage_seconds' + kind):
                stage = line.split('stage="')[1].split('"')[0]
                table[stage] = float(line.rsplit(' ', 1)[1])
    return sums, counts


def main():
    sock, service, image = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    body = open(image, 'rb').read()
    ctype = 'image/png' if image.endswith('.png') else 'image/jpeg'
    conn = UnixConnection(sock)
    path = '/services/%s/invocations' % service
    times = []
    for i in range(n + 20):
        if i == 20:
            # The daemon's figures from here on: the timed requests only (not the warm-up, nor
            # an earlier run against the same daemon).
            s0, c0 = metrics(conn, service)
        t0 = time.perf_counter()
        conn.request('POST', path, body, {'Content-Type': ctype})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit('status %d' % r.status)
        if i >= 20:
            times.append(time.perf_counter() - t0)
    s1, c1 = metrics(conn, service)
    count = c1['total'] - c0['total']
    mean = lambda stage: (s1[stage] - s0.get(stage, 0.0)) / count * 1e3
    stages = sum(mean(s) for s in ('wait', 'decode', 'preprocess', 'inference'))
    total = mean('total')
    rtt = statistics.mean(times) * 1e3
    print('requests: %d (+20 warm-up), %s, %d bytes' % (n, image, len(body)))
    print('client round trip: median %.3f ms, mean %.3f ms' % (statistics.median(times) * 1e3, rtt))
    print('daemon: total %.3f ms, of which the classification stages %.3f ms' % (total, stages))
    print('added inside the daemon (HTTP, body, handoff): %.3f ms' % (total - stages))
    print('added by the socket path, seen from the client: %.3f ms' % (rtt - stages))


if __name__ == '__main__':
    main()
