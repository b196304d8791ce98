#include "khd_harden.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <seccomp.h>

#include "khd_log.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4 /* Linux 4.4 */
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/*- File descriptors --------------------------------------------------- */

/* Linux < 5.9 (no close_range): close what /proc/self/fd lists. */
static void khd_close_from_proc(int lowfd)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    long max, fd;

    if (d == NULL) {
        max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536) {
            max = 65536;
        }
        for (fd = lowfd; fd < max; fd++) {
            (void)close((int)fd);
        }
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char *end;

        fd = strtol(de->d_name, &end, 10);
        if (*end == '\0' && end != de->d_name && fd >= lowfd &&
            fd != dirfd(d)) {
            (void)close((int)fd);
        }
    }
    closedir(d);
}

void khd_harden_fds(void)
{
    int fd;

    /*
     * A daemon started with stderr closed would otherwise get data.mdb as
     * fd 2 and write its log lines into the keystore.
     */
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2) {
    }
    if (fd > 2) {
        close(fd);
    }
    if (close_range(3, ~0U, 0) != 0) {
        khd_close_from_proc(3);
    }
}

/*- Core dumps, ptrace, umask ------------------------------------------ */

void khd_harden_process(void)
{
    struct rlimit rl = { 0, 0 };

    if (prctl(PR_SET_DUMPABLE, 0) != 0) {
        khd_warn("PR_SET_DUMPABLE: %s", strerror(errno));
    }
    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        khd_warn("RLIMIT_CORE: %s", strerror(errno));
    }
    umask(077);
}

/*- The user keyholderd runs as ---------------------------------------- */

int khd_harden_lookup_user(const char *name, struct khd_user *u)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    memset(u, 0, sizeof(*u));
    if (name == NULL) {
        u->uid = geteuid();
        u->gid = getegid();
        if (getpwuid_r(u->uid, &pw, buf, sizeof(buf), &res) == 0 &&
            res != NULL) {
            snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
        } else {
            snprintf(u->name, sizeof(u->name), "%u", (unsigned)u->uid);
        }
        return KH_OK;
    }
    if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
        khd_err("--user %s: no such user", name);
        return KH_ERR_INVALID_ARGUMENT;
    }
    snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
    u->uid = res->pw_uid;
    u->gid = res->pw_gid;
    if (geteuid() == 0 && u->uid != 0) {
        u->drop = 1;
    } else if (u->uid != geteuid()) {
        khd_err("--user %s: only root can switch to another user (running "
                "as uid %u)", name, (unsigned)geteuid());
        return KH_ERR_INVALID_ARGUMENT;
    }
    return KH_OK;
}

/*- Locked memory ------------------------------------------------------ */

/* Effective (|eff|) or permitted capability bits 0-63; 0 on error. */
static uint64_t khd_caps(int eff)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) != 0) {
        return 0;
    }
    return eff ? (uint64_t)d[1].effective << 32 | d[0].effective
               : (uint64_t)d[1].permitted << 32 | d[0].permitted;
}

#define KHD_CAP_BIT(c) ((uint64_t)1 << (c))

int khd_harden_mlock(struct khd_user *u, int required)
{
    struct rlimit rl;
    char why[192];

    /*
     * With MCL_FUTURE every later mapping (a thread stack, a malloc arena,
     * the 1 GiB LMDB map) counts against RLIMIT_MEMLOCK unless the process
     * has CAP_IPC_LOCK; a finite limit would make those mappings fail at
     * some connection in the future. The limit is lifted if allowed; it
     * stays lifted after the drop to --user. Else CAP_IPC_LOCK must stay
     * for the whole run, through the drop.
     */
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
        rl.rlim_cur = rl.rlim_max = 0;
    }
    if (rl.rlim_cur != RLIM_INFINITY) {
        struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY };

        if (setrlimit(RLIMIT_MEMLOCK, &inf) == 0) {
            rl = inf;
        }
    }
    u->keep_ipc_lock = 0;
    if (rl.rlim_cur != RLIM_INFINITY &&
        (khd_caps(1) & KHD_CAP_BIT(CAP_IPC_LOCK)) == 0) {
        snprintf(why, sizeof(why),
                 "RLIMIT_MEMLOCK is %llu KiB and CAP_IPC_LOCK is missing",
                 (unsigned long long)rl.rlim_cur / 1024);
    } else if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
        snprintf(why, sizeof(why), "mlockall: %s", strerror(errno));
    } else {
        u->keep_ipc_lock = u->drop && rl.rlim_cur != RLIM_INFINITY;
#ifdef KH_SANITIZE
        /* ASan's mlockall interceptor returns 0 and locks nothing. */
        snprintf(why, sizeof(why), "AddressSanitizer ignores mlockall");
#else
        return KH_OK;
#endif
    }
    if (required) {
        khd_err("cannot lock memory (%s); refusing to start "
                "(--require-mlock)", why);
    } else {
        khd_warn("memory is NOT locked (%s): key material outside the "
                 "secure heap may be swapped out. Set LimitMEMLOCK=infinity "
                 "(ulimit -l unlimited) or grant CAP_IPC_LOCK; "
                 "--require-mlock refuses to start without it", why);
    }
    return KH_ERR_INSECURE_MEMORY;
}

/*- The state dir ------------------------------------------------------ */

static const char *khd_who(mode_t mode)
{
    if ((mode & 007) == 0) {
        return "its group";
    }
    return (mode & 070) != 0 ? "its group and others" : "others";
}

static const char *khd_can(mode_t mode)
{
    if ((mode & 044) != 0) {
        return "read";
    }
    return (mode & 022) != 0 ? "write" : "enter";
}

int khd_harden_check_state_dir(const char *dir, const struct khd_user *u)
{
    struct dirent *de;
    struct stat st;
    DIR *d = NULL;
    int fd, r = KH_ERR_INVALID_ARGUMENT;

    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
            0 ||
        fstat(fd, &st) != 0) {
        khd_err("state dir %s: %s", dir,
                errno == ENOTDIR ? "not a directory" : strerror(errno));
        goto out;
    }
    if (st.st_uid != u->uid) {
        khd_err("state dir %s is owned by uid %u, not by %s (uid %u) that "
                "keyholderd runs as; chown %s %s", dir, (unsigned)st.st_uid,
                u->name, (unsigned)u->uid, u->name, dir);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        khd_err("state dir %s is mode 0%03o: %s can %s it; chmod 700 %s",
                dir, (unsigned)(st.st_mode & 07777), khd_who(st.st_mode),
                khd_can(st.st_mode), dir);
        goto out;
    }
    if ((d = fdopendir(fd)) == NULL) {
        khd_err("state dir %s: %s", dir, strerror(errno));
        goto out;
    }
    fd = -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue;
        }
        if (st.st_uid != u->uid) {
            khd_err("state dir %s holds %s owned by uid %u, not by %s (uid "
                    "%u) that keyholderd runs as; chown -R %s %s", dir,
                    de->d_name, (unsigned)st.st_uid, u->name,
                    (unsigned)u->uid, u->name, dir);
            goto out;
        }
        if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
            khd_err("state file %s/%s is mode 0%03o: %s can %s it; chmod "
                    "600 %s/%s", dir, de->d_name,
                    (unsigned)(st.st_mode & 07777), khd_who(st.st_mode),
                    khd_can(st.st_mode), dir, de->d_name);
            goto out;
        }
    }
    r = KH_OK;
out:
    if (d != NULL) {
        closedir(d);
    }
    if (fd >= 0) {
        close(fd);
    }
    return r;
}

int khd_harden_give_dir(const char *dir, const struct khd_user *u)
{
    if (u->drop && chown(dir, u->uid, u->gid) != 0) {
        khd_err("cannot give %s to user %s: %s", dir, u->name,
                strerror(errno));
        return KH_ERR_IO;
    }
    return KH_OK;
}

/*- Privilege drop ----------------------------------------------------- */

/* Leaves |cap| alone in the permitted and effective sets. */
static int khd_keep_only_cap(int cap)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

    memset(d, 0, sizeof(d));
    d[cap / 32].effective = d[cap / 32].permitted = 1u << (cap % 32);
    return (int)syscall(SYS_capset, &h, d);
}

int khd_harden_drop(const struct khd_user *u)
{
    uint64_t keep = u->keep_ipc_lock ? KHD_CAP_BIT(CAP_IPC_LOCK) : 0;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (!u->drop) {
        return KH_OK;
    }
    /* KEEPCAPS only to carry CAP_IPC_LOCK (mlockall) across setuid. */
    if ((keep != 0 && prctl(PR_SET_KEEPCAPS, 1) != 0) ||
        setgroups(0, NULL) != 0 || setresgid(u->gid, u->gid, u->gid) != 0 ||
        setresuid(u->uid, u->uid, u->uid) != 0 ||
        (keep != 0 && (khd_keep_only_cap(CAP_IPC_LOCK) != 0 ||
                       prctl(PR_SET_KEEPCAPS, 0) != 0))) {
        khd_err("cannot switch to user %s (uid %u gid %u): %s", u->name,
                (unsigned)u->uid, (unsigned)u->gid, strerror(errno));
        return KH_ERR_INTERNAL;
    }
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
        ru != u->uid || eu != u->uid || su != u->uid || rg != u->gid ||
        eg != u->gid || sg != u->gid || getgroups(0, NULL) != 0 ||
        khd_caps(0) != keep || khd_caps(1) != keep) {
        khd_err("the switch to user %s did not take; refusing to run",
                u->name);
        return KH_ERR_INTERNAL;
    }
    /* The way back must be closed: a drop that can be undone is none. */
    if (setuid(0) == 0 || seteuid(0) == 0 ||
        (u->gid != 0 && (setgid(0) == 0 || setegid(0) == 0))) {
        khd_err("keyholderd could become root again after switching to %s; "
                "refusing to run", u->name);
        return KH_ERR_INTERNAL;
    }
    /* A uid change resets "dumpable" to fs.suid_dumpable: set it again. */
    if (prctl(PR_SET_DUMPABLE, 0) != 0) {
        khd_err("PR_SET_DUMPABLE after the user switch: %s", strerror(errno));
        return KH_ERR_INTERNAL;
    }
    khd_info("running as user %s (uid %u gid %u), no supplementary groups, "
             "capabilities: %s", u->name, (unsigned)u->uid, (unsigned)u->gid,
             keep != 0 ? "CAP_IPC_LOCK only (RLIMIT_MEMLOCK is finite)"
                       : "none");
    return KH_OK;
}

/*- Seccomp ------------------------------------------------------------ */

/*
 * What keyholderd does once serving, derived by running every test under
 * `strace -f` (README, "Running keyholderd"): accept connections and
 * identify the peer, read and write frames, LMDB reads (mmap) and commits
 * (pwrite, writev, fdatasync), the dev master key file (open, write,
 * fsync, rename), malloc and thread stacks, threads and locks, the stop
 * signal, the DRBG reseeding, and the exit path.
 */
static const int khd_allowed[] = {
    /* connections */
    SCMP_SYS(accept4), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(recvfrom),
    SCMP_SYS(sendto), SCMP_SYS(getsockopt), SCMP_SYS(shutdown),
    SCMP_SYS(close),
    /* the peer's executable: pidfd + /proc/PID/exe */
    SCMP_SYS(pidfd_open), SCMP_SYS(readlink), SCMP_SYS(readlinkat),
    /* LMDB, the dev master key, syslog's /etc/localtime */
    SCMP_SYS(openat), SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(write),
    SCMP_SYS(pwrite64), SCMP_SYS(writev), SCMP_SYS(lseek), SCMP_SYS(fstat),
    SCMP_SYS(newfstatat), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
    SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(unlink),
    SCMP_SYS(unlinkat), SCMP_SYS(fcntl),
    /* memory: malloc, thread stacks, the secure heap */
    SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
    SCMP_SYS(mlock), SCMP_SYS(mlock2), SCMP_SYS(munlock),
    /* threads and locks */
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
    SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(exit),
    SCMP_SYS(exit_group), SCMP_SYS(getpid), SCMP_SYS(gettid),
    /* signals: SIGTERM, glibc's first pthread_create */
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
    SCMP_SYS(restart_syscall),
    /* time (vDSO fallbacks) and entropy (DRBG reseeds) */
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
    SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(getrandom),
};

/*
 * Built with -DKHD_SECCOMP_LOG_ONLY, a call outside the list is allowed and
 * logged by the kernel (audit type=SECCOMP ... syscall=N) instead: how to
 * find what a change needs (README, "Running keyholderd"). Never shipped.
 */
#ifdef KHD_SECCOMP_LOG_ONLY
#define KHD_SECCOMP_DENY SCMP_ACT_LOG
#else
#define KHD_SECCOMP_DENY SCMP_ACT_KILL_PROCESS
#endif

/* Flags every glibc thread has and no fork/namespace/ptrace clone may. */
#define KHD_CLONE_CHECKED                                                   \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |     \
     CLONE_VFORK | CLONE_PTRACE | CLONE_UNTRACED | CLONE_NEWNS |            \
     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |           \
     CLONE_NEWUTS | CLONE_NEWCGROUP)
#define KHD_CLONE_THREAD                                                    \
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD)

#ifdef KH_SANITIZE
/*
 * AddressSanitizer builds only (found with -DKHD_SECCOMP_LOG_ONLY over the
 * whole ASan test suite): LeakSanitizer checks for leaks at exit from a
 * tracer task that shares the address space (clone without CLONE_THREAD,
 * getppid), makes the process dumpable for the while (prctl), lists
 * /proc/self/task (open, getdents), ptrace-attaches to every thread and
 * waits for them (wait4); ASan gives each thread a sigaltstack. A
 * production build allows none of it.
 */
#define KHD_LSAN_CLONE (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)

static int khd_seccomp_sanitizer(scmp_filter_ctx sc)
{
    static const int plain[] = {
        SCMP_SYS(ptrace),  SCMP_SYS(wait4),    SCMP_SYS(getppid),
        SCMP_SYS(open),    SCMP_SYS(getdents), SCMP_SYS(sigaltstack),
    };
    static const int prctls[] = {
        PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_PDEATHSIG,
    };
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < sizeof(plain) / sizeof(plain[0]); i++) {
        rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, plain[i], 0);
        if (plain[i] < 0) {
            rc = 0; /* not a system call of this architecture */
        }
    }
    for (i = 0; rc == 0 && i < sizeof(prctls) / sizeof(prctls[0]); i++) {
        rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctls[i]));
    }
    if (rc == 0) {
        rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, KHD_CLONE_CHECKED,
                                      KHD_LSAN_CLONE));
    }
    return rc;
}
#endif

int khd_harden_seccomp(unsigned flags)
{
    scmp_filter_ctx sc;
    const char *what = "init";
    size_t i;
    int rc = 0;

    /*
     * Kill the whole process on anything else: a system call outside
     * this list means a bug or an exploit; failing it with EPERM would let
     * an exploit probe on. SIGSYS leaves no core (RLIMIT_CORE 0), the
     * kernel's audit log names the call (type=SECCOMP ... syscall=N).
     */
    if ((sc = seccomp_init(KHD_SECCOMP_DENY)) == NULL) {
        khd_err("seccomp_init failed");
        return KH_ERR_INTERNAL;
    }
    if ((rc = seccomp_attr_set(sc, SCMP_FLTATR_ACT_BADARCH,
                               SCMP_ACT_KILL_PROCESS)) != 0 ||
        (rc = seccomp_attr_set(sc, SCMP_FLTATR_CTL_NNP, 1)) != 0) {
        what = "attributes";
        goto out;
    }
    /* Binary search instead of a linear scan: this runs on every call. */
    (void)seccomp_attr_set(sc, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    what = "rules";
    for (i = 0; i < sizeof(khd_allowed) / sizeof(khd_allowed[0]); i++) {
        /* A call this architecture lacks (negative pseudo number) is fine. */
        if ((rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, khd_allowed[i], 0)) !=
                0 &&
            khd_allowed[i] >= 0) {
            goto out;
        }
    }
    /* Mappings never executable: no code is loaded once serving. */
    if ((rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) !=
            0 ||
        (rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) !=
            0) {
        goto out;
    }
    /*
     * Threads only. clone3 passes its flags in memory, out of the filter's
     * reach: ENOSYS makes glibc fall back to clone, whose flags it checks.
     */
    if ((rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, KHD_CLONE_CHECKED,
                                       KHD_CLONE_THREAD))) != 0 ||
        (rc = seccomp_rule_add(sc, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
                               0)) != 0) {
        goto out;
    }
    /* Signal 0 only (is the peer alive?); abort() of this process only. */
    if ((rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(pidfd_send_signal),
                               1, SCMP_A1(SCMP_CMP_EQ, 0))) != 0 ||
        (rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                               SCMP_A0(SCMP_CMP_EQ,
                                       (scmp_datum_t)getpid()))) != 0) {
        goto out;
    }
    /*
     * glibc's syslog() (daemon mode) and the audit trail's syslog sender
     * (--syslog, khd_syslog.c) reconnect when syslogd restarts: a Unix
     * datagram socket. No other socket() ever: no AF_INET/AF_INET6.
     */
    if ((flags & KHD_SECCOMP_SYSLOG) != 0 &&
        ((rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) != 0 ||
         (rc = seccomp_rule_add(sc, SCMP_ACT_ALLOW, SCMP_SYS(connect), 0)) !=
             0)) {
        goto out;
    }
#ifdef KH_SANITIZE
    if ((rc = khd_seccomp_sanitizer(sc)) != 0) {
        goto out;
    }
#endif
    what = "load";
    rc = seccomp_load(sc);
out:
    seccomp_release(sc);
    if (rc != 0) {
        khd_err("seccomp filter (%s): %s", what, strerror(-rc));
        return KH_ERR_INTERNAL;
    }
    return KH_OK;
}
