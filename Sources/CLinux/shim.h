#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// Glibc's Swift module does not include <sys/epoll.h> or <sys/eventfd.h> and is
// compiled without _GNU_SOURCE (so accept4 is hidden). Do NOT define _GNU_SOURCE
// here: the same system headers would then get different definitions in this
// module and in SwiftGlibc ("'__fds_bits' is not present in definition of 'fd_set'").
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
// getrandom(2): the kernel CSPRNG without a file descriptor (works when fds run out).
#include <sys/random.h>

#include <pthread.h>

#ifndef __USE_GNU
extern int accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);
// A thread's name as `top -H`, `ps -L` and `perf` show it (at most 15 bytes).
extern int pthread_setname_np(pthread_t thread, const char *name);
#endif
#endif
