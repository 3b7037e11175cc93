/*
 * The physical floor for the fastbind benchmarks: the same system calls with no runtime at all.
 *
 *   floor DIR ITERATIONS
 *
 * In DIR (the benchmarks' socket directory) it times, ITERATIONS times each after a warm-up,
 *   bind:    socket + bind + listen(1024) + close + unlink    (the bind cycle)
 *   connect: socket + connect + close to a listener in DIR     (the connect probe)
 * and prints key=value lines in microseconds: p50, p99 and p99.9 of each (nearest rank).
 * The listener is drained by nobody: the kernel's backlog is emptied by accepting in the same loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *sorted, long n, double p) {
  long rank = (long)ceil(p / 100.0 * n);
  if (rank < 1) rank = 1;
  return sorted[rank - 1];
}

static void report(const char *name, double *samples, long n) {
  qsort(samples, n, sizeof *samples, cmp);
  printf("%s_p50_us=%.3f\n%s_p99_us=%.3f\n%s_p999_us=%.3f\n", name, pct(samples, n, 50), name,
         pct(samples, n, 99), name, pct(samples, n, 99.9));
}

static void address(struct sockaddr_un *a, const char *dir, const char *file) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if ((size_t)snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, file) >= sizeof a->sun_path) {
    fprintf(stderr, "socket path too long under %s\n", dir);
    exit(2);
  }
}

static void bind_cycle(const struct sockaddr_un *a) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (bind(fd, (const struct sockaddr *)a, sizeof *a) < 0) die("bind");
  if (listen(fd, 1024) < 0) die("listen");
  close(fd);
  if (unlink(a->sun_path) < 0) die("unlink");
}

static void connect_once(const struct sockaddr_un *a) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) die("connect");
  close(fd);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s DIR ITERATIONS\n", argv[0]);
    return 64;
  }
  const char *dir = argv[1];
  long n = atol(argv[2]);
  if (n < 100) n = 100;
  double *samples = malloc(sizeof(double) * n);
  if (!samples) die("malloc");

  struct sockaddr_un b;
  address(&b, dir, "floor-b.sock");
  unlink(b.sun_path);
  for (long i = 0; i < n / 10; i++) bind_cycle(&b);
  for (long i = 0; i < n; i++) {
    double t0 = now_us();
    bind_cycle(&b);
    samples[i] = now_us() - t0;
  }
  report("bind", samples, n);

  struct sockaddr_un c;
  address(&c, dir, "floor-c.sock");
  unlink(c.sun_path);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  if (bind(listener, (const struct sockaddr *)&c, sizeof c) < 0) die("bind");
  if (listen(listener, 1024) < 0) die("listen");
  for (long i = 0; i < n / 10 + n; i++) {
    double t0 = now_us();
    connect_once(&c);
    double t1 = now_us();
    int accepted = accept(listener, NULL, NULL);
    if (accepted < 0) die("accept");
    close(accepted);
    if (i >= n / 10) samples[i - n / 10] = t1 - t0;
  }
  close(listener);
  unlink(c.sun_path);
  report("connect", samples, n);
  free(samples);
  return 0;
}
