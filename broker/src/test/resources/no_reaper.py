# A parent that reaps nothing but its first child: it becomes the child subreaper (prctl
# PR_SET_CHILD_SUBREAPER), runs the command it is given (a launcher), waits for it, says
# "launcher-exited <status>", and then holds every orphan re-parented to it (the launcher's
# daemon) unreaped until its standard input ends. Like a container's init that reaps late.
import ctypes
import signal
import subprocess
import sys

signal.alarm(60)
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
launcher = subprocess.Popen(sys.argv[1:], stdout=sys.stdout, stdin=subprocess.DEVNULL)
print("launcher-exited %d" % launcher.wait(), flush=True)
sys.stdin.read()
