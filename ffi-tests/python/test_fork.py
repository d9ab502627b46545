"""A Lambda-style process whose service has answered, then forks (what ``multiprocessing`` does
by default on Linux): the child's first ``invoke_inference_service`` gets the parent's answer
(it hung forever before), and the parent still answers. A child that hangs is killed after 30 s
and the test fails."""

import os
import signal
import time
import unittest

import greengrass_machine_learning_sdk as ml

from test_sdk import PNG, call, shared_service


class Fork(unittest.TestCase):

    def test_a_forked_child_gets_the_parents_answer(self):
        client, name = shared_service()
        parent = call(client, ServiceName=name, ContentType='image/png', Body=PNG)['Body'].read()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:    # the child: answer through the pipe, never return to unittest
            code = 1
            try:
                os.close(r)
                signal.alarm(20)
                body = call(ml.client('inference'), ServiceName=name, ContentType='image/png',
                            Body=PNG)['Body'].read()
                os.write(w, body)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        end = time.time() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.time() > end:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                self.fail('the forked child did not answer in 30 s')
            time.sleep(0.05)
        chunks = []
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                        'child status %r' % status)
        self.assertEqual(b''.join(chunks), parent)
        again = call(client, ServiceName=name, ContentType='image/png', Body=PNG)['Body'].read()
        self.assertEqual(again, parent)


if __name__ == '__main__':
    unittest.main()
