/*
 * The seccomp tests' probe: makes each system call named on its command line,
 * with harmless arguments chosen so that the kernel itself answers something
 * else than EPERM (a NULL pointer: EFAULT, an unknown command: EINVAL …), and
 * prints "NAME ok" or "NAME ERRNO-NAME" per call. An EPERM (or the ENOSYS of
 * clone3) is then the filter's. Built static by tests/support/seccomp.py with
 * the host's gcc, so it runs in a busybox root and in docker alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_SPEC_PROCESS_KEYRING (-2)
#define KEYCTL_GET_KEYRING_ID 0
#define UFFD_USER_MODE_ONLY 1
#define AF_VSOCK_ 40
#define PER_BSD 6

static long probe(const char *name)
{
	if (!strcmp(name, "getpid"))
		return syscall(SYS_getpid);
	if (!strcmp(name, "unshare-user"))
		return syscall(SYS_unshare, CLONE_NEWUSER);
	if (!strcmp(name, "clone-user")) {
		long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		return pid;
	}
	if (!strcmp(name, "clone-fork")) {
		long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		return pid;
	}
	if (!strcmp(name, "clone3")) /* the kernel: EINVAL for a NULL, 0-sized clone_args */
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(name, "keyctl"))
		return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 1);
	if (!strcmp(name, "add_key"))
		return syscall(SYS_add_key, "user", "nsscope-probe", "x", 1,
			       KEY_SPEC_PROCESS_KEYRING);
	if (!strcmp(name, "request_key")) /* the kernel: ENOKEY */
		return syscall(SYS_request_key, "user", "nsscope-probe-none", NULL, 0);
	if (!strcmp(name, "bpf")) /* the kernel: EINVAL for an unknown command */
		return syscall(SYS_bpf, 9999, NULL, 0);
	if (!strcmp(name, "perf_event_open")) /* the kernel: EFAULT */
		return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
	if (!strcmp(name, "mount")) /* the kernel: EFAULT for the NULL target */
		return syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
	if (!strcmp(name, "umount2")) /* the kernel: EFAULT */
		return syscall(SYS_umount2, NULL, 0);
	if (!strcmp(name, "setns")) /* the kernel: EBADF */
		return syscall(SYS_setns, -1, 0);
	if (!strcmp(name, "userfaultfd")) /* allowed to anyone in user mode only */
		return syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY);
	if (!strcmp(name, "socket-vsock"))
		return syscall(SYS_socket, AF_VSOCK_, 1, 0);
	if (!strcmp(name, "socket-unix"))
		return syscall(SYS_socket, 1, 1, 0);
	if (!strcmp(name, "personality-bsd")) {
		long old = syscall(SYS_personality, PER_BSD);
		if (old >= 0)
			syscall(SYS_personality, old);
		return old;
	}
	if (!strcmp(name, "personality-query"))
		return syscall(SYS_personality, 0xffffffff);
	if (!strcmp(name, "kexec_load"))
		return syscall(SYS_kexec_load, 0, 0, NULL, 0);
	if (!strcmp(name, "init_module"))
		return syscall(SYS_init_module, NULL, 0, "");
	if (!strcmp(name, "open_by_handle_at"))
		return syscall(SYS_open_by_handle_at, -1, NULL, 0);
	if (!strcmp(name, "ptrace-peek")) /* PTRACE_PEEKUSER of no tracee: ESRCH */
		return syscall(SYS_ptrace, 3, 1, 0, 0);
	if (!strcmp(name, "io_uring_setup")) /* the kernel: EFAULT (or EPERM by sysctl) */
		return syscall(SYS_io_uring_setup, 1, NULL);
	errno = ENOENT;
	return -2;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		errno = 0;
		long ret = probe(argv[i]);
		if (ret == -2 && errno == ENOENT) {
			printf("%s unknown-probe\n", argv[i]);
			continue;
		}
		if (ret < 0)
			printf("%s %s\n", argv[i], strerrorname_np(errno));
		else
			printf("%s ok\n", argv[i]);
	}
	return 0;
}
