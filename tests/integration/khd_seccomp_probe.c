/*
 * khd_seccomp_probe - a test program that loads keyholderd's own seccomp
 * filter (khd_harden_seccomp, the very code keyholderd runs) and then makes
 * one system call on purpose, so test_daemon_hardening.sh can prove that a
 * forbidden call kills the process with SIGSYS. keyholderd itself has no
 * way to make one.
 *
 *   khd_seccomp_probe [--syslog] ACTION
 *     allowed       what keyholderd does: pid, a file, a thread -> exit 0
 *     socket-unix   socket(AF_UNIX) (allowed only with --syslog)
 *     socket-inet   socket(AF_INET)      socket-inet6  socket(AF_INET6)
 *     execve        execve("/bin/true")  fork          fork()
 *     ptrace        ptrace(PTRACE_ATTACH) vm-read      process_vm_readv
 *     setuid        setuid(0)            mmap-exec     mmap(PROT_EXEC)
 *     kill          kill(parent, 0)      signal        pidfd_send_signal(URG)
 *     setsockopt    setsockopt(SO_RCVTIMEO) (keyholderd sets no option)
 *   (ptrace, vm-read and signal target the probe itself: harmless if let
 *   through, so a broken filter cannot stop the test shell.)
 *   khd_seccomp_probe attach PID   no filter: PTRACE_ATTACH to PID; exit 0
 *                                  if attached, 1 with the reason if not
 *
 * Exit 3 means the forbidden call returned: the filter let it through.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "khd_harden.h"

static void *probe_thread(void *arg)
{
    return arg;
}

static int probe_allowed(void)
{
    pthread_t t;
    char buf[16];
    int fd;

    if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
        write(fd, "x", 1) != 1 || close(fd) != 0) {
        perror("file");
        return 1;
    }
    if (pthread_create(&t, NULL, probe_thread, NULL) != 0 ||
        pthread_join(t, NULL) != 0) {
        fprintf(stderr, "thread failed\n");
        return 1;
    }
    snprintf(buf, sizeof(buf), "%d", (int)getpid());
    printf("allowed calls work (pid %s)\n", buf);
    return 0;
}

static int probe_attach(pid_t pid)
{
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) {
        printf("cannot attach to %d: %s\n", (int)pid, strerror(errno));
        return 1;
    }
    waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
    printf("attached to %d\n", (int)pid);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned flags = 0;
    const char *a;
    pid_t parent = getppid();
    long r = 0;

    /* Unbuffered: a buffered stdout asks isatty() (ioctl) on first use. */
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && strcmp(argv[1], "attach") == 0) {
        return probe_attach((pid_t)atoi(argv[2]));
    }
    if (argc == 3 && strcmp(argv[1], "--syslog") == 0) {
        flags |= KHD_SECCOMP_SYSLOG;
        argv++;
        argc--;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: khd_seccomp_probe [--syslog] ACTION\n");
        return 2;
    }
    a = argv[1];
    if (khd_harden_seccomp(flags) != 0) {
        return 2;
    }
    if (strcmp(a, "allowed") == 0) {
        return probe_allowed();
    } else if (strcmp(a, "socket-unix") == 0) {
        r = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    } else if (strcmp(a, "socket-inet") == 0) {
        r = socket(AF_INET, SOCK_STREAM, 0);
    } else if (strcmp(a, "socket-inet6") == 0) {
        r = socket(AF_INET6, SOCK_DGRAM, 0);
    } else if (strcmp(a, "execve") == 0) {
        char *args[] = { "/bin/true", NULL };

        r = execve(args[0], args, NULL);
    } else if (strcmp(a, "fork") == 0) {
        if ((r = fork()) == 0) {
            _exit(0);
        }
    } else if (strcmp(a, "ptrace") == 0) {
        r = ptrace(PTRACE_ATTACH, getpid(), NULL, NULL);
    } else if (strcmp(a, "vm-read") == 0) {
        char buf[8];
        struct iovec l = { buf, sizeof(buf) }, rm = { (void *)&r, 8 };

        r = process_vm_readv(getpid(), &l, 1, &rm, 1, 0);
    } else if (strcmp(a, "setuid") == 0) {
        r = setuid(0);
    } else if (strcmp(a, "mmap-exec") == 0) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        r = p == MAP_FAILED ? -1 : 0;
    } else if (strcmp(a, "setsockopt") == 0) {
        /* Once allowed for an idle timeout; now the idle wait is poll's. */
        struct timeval tv = { .tv_sec = 1 };

        r = setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    } else if (strcmp(a, "kill") == 0) {
        r = kill(parent, 0);
    } else if (strcmp(a, "signal") == 0) {
        int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);

        r = syscall(SYS_pidfd_send_signal, pidfd, SIGURG, NULL, 0);
    } else {
        fprintf(stderr, "unknown action %s\n", a);
        return 2;
    }
    printf("%s returned %ld (%s): not filtered\n", a, r,
           r < 0 ? strerror(errno) : "ok");
    return 3;
}
