/*
 * khd_harden.h - keyholderd's process hardening: file descriptors, core
 * dumps and ptrace, locked memory, the state dir's ownership and mode, the
 * privilege drop and the seccomp allowlist.
 *
 * khd_main.c calls these in order (see main() there for the why of each
 * step's place):
 *
 *   khd_harden_fds            first: 0-2 open, every inherited fd closed
 *   khd_harden_process        not dumpable, no core, umask 077
 *   khd_harden_lookup_user    --user NAME resolved (before the fork)
 *   khd_harden_mlock          after the fork (locks are not inherited)
 *   khd_harden_check_state_dir
 *   khd_harden_drop           after bind, before LMDB is opened
 *   khd_harden_seccomp        last, once the socket and LMDB are open
 *
 * Every function logs its own reason on failure.
 */
#ifndef KHD_HARDEN_H
#define KHD_HARDEN_H

#include <sys/types.h>

#include "kh_err.h"

#define KHD_USER_NAME_MAX 64

/* The user keyholderd runs as once started (--user, else its own uid). */
struct khd_user {
    char name[KHD_USER_NAME_MAX];
    uid_t uid;
    gid_t gid;
    int drop; /* 1: started as root with --user, setuid to |uid| pending */
    int keep_ipc_lock; /* set by khd_harden_mlock: the drop keeps it */
};

/*
 * Makes sure fds 0, 1 and 2 are open (on /dev/null when they were closed,
 * so no later file becomes "stderr") and closes every other inherited fd
 * (close_range(3, ~0U), else a /proc/self/fd sweep). Call before anything
 * opens a file.
 */
void khd_harden_fds(void);

/* PR_SET_DUMPABLE 0 (no ptrace, no /proc/PID/mem), RLIMIT_CORE 0, umask 077. */
void khd_harden_process(void);

/*
 * Fills |u| with the user keyholderd will run as: |name| (--user) or,
 * when NULL, the current uid. |name| needs root unless it names the
 * current user. Returns 0 or KH_ERR_INVALID_ARGUMENT (logged).
 */
KH_MUST_CHECK int khd_harden_lookup_user(const char *name, struct khd_user *u);

/*
 * mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): every page the daemon
 * ever touches stays in RAM (ONFAULT: mappings are locked as they are
 * used, not populated up front). MCL_FUTURE is only safe when later
 * mappings cannot hit RLIMIT_MEMLOCK: the limit is lifted when allowed
 * (CAP_SYS_RESOURCE), else CAP_IPC_LOCK must last the whole run, so
 * |u->keep_ipc_lock| asks khd_harden_drop to keep that one capability.
 * Without either, locking is skipped rather than risking failed thread
 * stacks later. Returns 0 when locked, KH_ERR_INSECURE_MEMORY (logged as a
 * warning, or as an error when |required|) otherwise.
 */
KH_MUST_CHECK int khd_harden_mlock(struct khd_user *u, int required);

/*
 * Refuses a state dir that is not a directory owned by |u|'s uid with no
 * group/other permission bits, or that holds an entry owned by someone
 * else or a file with group/other bits. Returns 0 or
 * KH_ERR_INVALID_ARGUMENT with a log line naming the fix.
 */
KH_MUST_CHECK int khd_harden_check_state_dir(const char *dir,
                                             const struct khd_user *u);

/*
 * Gives |dir| to |u| (chown) when |u->drop|: for a state dir keyholderd
 * has just created as root. Returns 0 or KH_ERR_IO (logged).
 */
KH_MUST_CHECK int khd_harden_give_dir(const char *dir,
                                      const struct khd_user *u);

/*
 * When |u->drop|: no supplementary groups, setresgid/setresuid to |u|, no
 * capability left but CAP_IPC_LOCK if |u->keep_ipc_lock|, then proves the
 * way back is closed (setuid(0) must fail) and restores the non-dumpable
 * flag that a uid change resets. No-op otherwise.
 * Returns 0 or KH_ERR_INTERNAL (logged: refuse to run).
 */
KH_MUST_CHECK int khd_harden_drop(const struct khd_user *u);

/* khd_harden_seccomp flags */
#define KHD_SECCOMP_SYSLOG 0x1 /* syslog senders may reconnect (AF_UNIX) */

/*
 * Loads the seccomp allowlist (x86_64/aarch64 native ABI only): any other
 * system call kills the whole process with SIGSYS (logged by the kernel's
 * audit as type=SECCOMP). Threads are created only with thread clone
 * flags; socket() only for AF_UNIX and only with KHD_SECCOMP_SYSLOG.
 * Sets no_new_privs. Returns 0 or KH_ERR_INTERNAL (logged).
 */
KH_MUST_CHECK int khd_harden_seccomp(unsigned flags);

#endif /* KHD_HARDEN_H */
