"""SIGTERM to a command stops the processes it started first, even those in sessions of their own (tspsis.core.signals):
the shape of `run-notebooks` -> notebook kernel -> training, where the kernel used to leave its trainings running."""
import os
import signal
import subprocess
import sys
import time

import psutil

# The command: a child in a session of its own (the kernel), which starts a grandchild in yet another session (the
# training) and prints the grandchild's pid. SIGTERM's default action would kill the command alone.
COMMAND = """
import subprocess, sys
from tspsis.core.signals import forwarding_signals

KERNEL = '''
import subprocess, sys, time
training = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print(training.pid, flush=True)
time.sleep(600)
'''
with forwarding_signals(grace_s=20):
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL], start_new_session=True, stdout=subprocess.PIPE, text=True)
    print(kernel.pid, kernel.stdout.readline().strip(), flush=True)
    kernel.wait()
"""


def test_sigterm_stops_every_descendant_before_the_command(tmp_path):
    command = subprocess.Popen([sys.executable, "-c", COMMAND], stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        kernel, training = map(int, command.stdout.readline().split())
        assert psutil.pid_exists(training) and psutil.Process(training).ppid() == kernel
        start = time.time()
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=60) == -signal.SIGTERM  # then the signal's own effect on the command
        assert time.time() - start < 15  # the descendants exited on SIGTERM, not after the grace period
        for pid in (kernel, training):
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if command.poll() is None:
            command.kill()
