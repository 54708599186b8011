#ifndef C_HOOKSTREAM_SYSTEMD_H
#define C_HOOKSTREAM_SYSTEMD_H

#include <stddef.h>

/// Creates a sealable anonymous memory file (memfd_create(2), which Swift's Glibc module does not expose):
/// journald takes log entries too large for one datagram as a sealed memfd. Returns -1 and sets errno on failure.
int hookstream_memfd_create(const char *name);

/// Seals a memfd against any further change (F_ADD_SEALS with SHRINK, GROW, WRITE and SEAL), as journald requires.
int hookstream_memfd_seal(int fd);

/// Sends `fd` over the datagram socket `socket` to the Unix address `path` (of `path_length` bytes, as sockaddr_un
/// wants it; a leading NUL for an abstract address), with no data, as an SCM_RIGHTS control message.
int hookstream_send_fd(int socket, const char *path, size_t path_length, int fd);

#endif
