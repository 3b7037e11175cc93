# A daemon not built on the fastbind SDK that takes the listener the broker hands it: connect to
# $FASTBIND_HANDOFF, receive one descriptor with SCM_RIGHTS, answer OK, announce READY on
# $FASTBIND_NOTIFY_SOCKET, then serve: each connection gets "py <pid>\n". Ends itself after 60 s.
import os
import signal
import socket
import sys
import time

signal.alarm(60)
# The broker may still be binding the rendezvous (it does so beside the spawn): keep trying until
# FASTBIND_HANDOFF_PATIENCE_MS runs out, as the protocol says.
deadline = time.monotonic() + int(os.environ.get("FASTBIND_HANDOFF_PATIENCE_MS", "10000")) / 1000
while True:
    rendezvous = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        rendezvous.connect(os.environ["FASTBIND_HANDOFF"])
        break
    except (FileNotFoundError, ConnectionRefusedError):
        rendezvous.close()
        if time.monotonic() > deadline:
            sys.exit(69)
        time.sleep(0.005)
message, fds, _flags, _addr = socket.recv_fds(rendezvous, 8192, 1)
header = message.split(b"\n", 1)[0].decode("utf-8")
if not header.startswith("FASTBIND-LISTENER 1 ") or len(fds) != 1:
    rendezvous.sendall(b"ERR unexpected hand-off\n")
    sys.exit(69)
listener = socket.socket(fileno=fds[0])
rendezvous.sendall(b"OK\n")
rendezvous.close()
notify = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
notify.connect(os.environ["FASTBIND_NOTIFY_SOCKET"])
notify.sendall(("READY v=2 pid=%d instance=%s\n" % (os.getpid(), os.environ["FASTBIND_INSTANCE_ID"])).encode())
notify.close()
while True:
    connection, _ = listener.accept()
    connection.sendall(("py %d\n" % os.getpid()).encode())
    connection.close()
