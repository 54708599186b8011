/* valgrind 3.19's rt_sigsuspend wrapper removes its own signal from the caller's mask in place; libdispatch's
   _dispatch_sigsuspend (reached through dispatch_main, which Swift's async main calls) passes a `static const`
   mask in read-only memory, so valgrind faults. This preload hands the kernel a writable copy instead. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);
}
