/*
 * nsscope's exec helper: the tiny static program that execs a container's
 * command, so that the process doing that execve(2) never has a host binary as
 * its /proc/self/exe (CVE-2019-5736). nsscope/exeseal.py loads these bytes into
 * a sealed memfd and fexecve(3)s it; a `#!/proc/self/exe` script or a command
 * that *is* /proc/self/exe then finds this memfd, which nothing can write.
 * The precedents: runc's cloned_binary.c (the memfd clone of runc itself,
 * runc commit 0a8e4117e7f7, the fix of CVE-2019-5736) and runc-dmz
 * (libcontainer/dmz/_dmz.c, runc 1.2 development, PR #3987), a small C binary
 * exec'd from a sealed memfd instead of runc's 10 MB.
 *
 * Two modes, chosen by argv[0] (anything else is refused: run as a script
 * interpreter through /proc/self/exe, argv[0] is the interpreter's path):
 *
 *   nsscope-exec -- CMD ARGS...   execvpe(CMD): CMD looked up in the PATH of
 *                                 the environment (else /bin:/usr/bin), as
 *                                 nsscope.syscalls.execvpe does;
 *   nsscope-init -- CMD ARGS...   the PID 1 of `nsscope run --init`: forks CMD
 *                                 (its own process group, the terminal's
 *                                 foreground one if fd 0 is our terminal),
 *                                 forwards every catchable signal to it, reaps
 *                                 every child and exits with CMD's status
 *                                 (128+N if signal N killed it). Signals are
 *                                 taken with sigtimedwait as tini does: no
 *                                 handler, so a blocked signal is queued even
 *                                 for a pid namespace's init.
 *
 * fd 3, when open, is nsscope run's status pipe: made close-on-exec before the
 * execve (its EOF tells the supervisor CMD runs); if the execve fails, the line
 * "exec-error ERRNO\n" goes there. Without fd 3 the error goes to stderr.
 * Exit status of a failed exec: 127 for ENOENT/ENOTDIR, else 126.
 *
 * Build: `make exeseal` (gcc and aarch64-linux-gnu-gcc, -nostdlib -static),
 * which rewrites the bytes in nsscope/exeseal.py.
 */

typedef unsigned long ulong;
typedef long slong;

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_ioctl 16
#define NR_getpid 39
#define NR_kill 62
#define NR_fcntl 72
#define NR_wait4 61
#define NR_setpgid 109
#define NR_prctl 157
#define NR_rt_sigprocmask 14
#define NR_rt_sigtimedwait 128
#define NR_execve 59
#define NR_exit_group 231
#define NR_clone 56

static slong sys6(slong n, slong a, slong b, slong c, slong d, slong e, slong f)
{
	slong ret;
	register slong r10 __asm__("r10") = d;
	register slong r8 __asm__("r8") = e;
	register slong r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

__asm__(".text\n.global _start\n_start:\n"
	"  xor %rbp, %rbp\n"
	"  mov %rsp, %rdi\n"
	"  and $-16, %rsp\n"
	"  call stub_main\n"
	"  hlt\n");

#elif defined(__aarch64__)
#define NR_read 63
#define NR_write 64
#define NR_close 57
#define NR_ioctl 29
#define NR_getpid 172
#define NR_kill 129
#define NR_fcntl 25
#define NR_wait4 260
#define NR_setpgid 154
#define NR_prctl 167
#define NR_rt_sigprocmask 135
#define NR_rt_sigtimedwait 137
#define NR_execve 221
#define NR_exit_group 94
#define NR_clone 220

static slong sys6(slong n, slong a, slong b, slong c, slong d, slong e, slong f)
{
	register slong x8 __asm__("x8") = n;
	register slong x0 __asm__("x0") = a;
	register slong x1 __asm__("x1") = b;
	register slong x2 __asm__("x2") = c;
	register slong x3 __asm__("x3") = d;
	register slong x4 __asm__("x4") = e;
	register slong x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}

__asm__(".text\n.global _start\n_start:\n"
	"  mov x29, #0\n"
	"  mov x30, #0\n"
	"  mov x0, sp\n"
	"  bl stub_main\n"
	"  brk #0\n");
#else
#error "no exec helper for this architecture (nsscope refuses to exec containers there)"
#endif

#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (slong)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (slong)(a), (slong)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (slong)(a), (slong)(b), (slong)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (slong)(a), (slong)(b), (slong)(c), (slong)(d), 0, 0)
#define sys5(n, a, b, c, d, e) \
	sys6(n, (slong)(a), (slong)(b), (slong)(c), (slong)(d), (slong)(e), 0)

#define ENOENT 2
#define EINTR 4
#define ECHILD 10
#define EACCES 13
#define ENOTDIR 20
#define F_SETFD 2
#define FD_CLOEXEC 1
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define SIGCHLD 17
#define WNOHANG 1
#define PR_SET_NAME 15
#define PR_SET_CHILD_SUBREAPER 36
#define TIOCSPGRP 0x5410
#define REPORT_FD 3
#define PATH_MAX 4096

static __attribute__((noreturn)) void die(int code)
{
	for (;;)
		sys1(NR_exit_group, code);
}

static ulong len(const char *s)
{
	ulong n = 0;
	while (s[n])
		n++;
	return n;
}

static int same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static char *utoa(ulong v, char *end)
{
	*--end = 0;
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

static void put(int fd, const char *s)
{
	sys3(NR_write, fd, s, len(s));
}

/* execvpe(3) as nsscope.syscalls.execvpe: returns the errno to report */
static slong execvpe(char **argv, char **envp)
{
	const char *cmd = argv[0], *path = "/bin:/usr/bin";
	char buf[PATH_MAX + 256];
	slong err, first = -ENOENT;
	ulong n = len(cmd), i;

	for (i = 0; cmd[i]; i++)
		if (cmd[i] == '/')
			return sys3(NR_execve, cmd, argv, envp);
	if (n == 0 || n > 255)
		return -ENOENT;
	for (char **e = envp; *e; e++)
		if ((*e)[0] == 'P' && (*e)[1] == 'A' && (*e)[2] == 'T' && (*e)[3] == 'H' &&
		    (*e)[4] == '=')
			path = *e + 5;
	for (const char *p = path;; p++) {
		const char *q = p;
		ulong d = 0;
		while (*q && *q != ':')
			q++;
		if (q == p)
			buf[d++] = '.';
		else if ((ulong)(q - p) < PATH_MAX)
			for (; p < q; p++)
				buf[d++] = *p;
		else
			goto next;
		buf[d++] = '/';
		for (i = 0; i <= n; i++)
			buf[d + i] = cmd[i];
		err = sys3(NR_execve, buf, argv, envp);
		if (err != -ENOENT && err != -ENOTDIR && first == -ENOENT)
			first = err; /* EACCES and the like: remembered, the search goes on */
	next:
		p = q;
		if (!*q)
			break;
	}
	return first;
}

static __attribute__((noreturn)) void exec_cmd(char **argv, char **envp)
{
	char num[24];
	slong err;

	sys3(NR_fcntl, REPORT_FD, F_SETFD, FD_CLOEXEC);
	err = -execvpe(argv, envp);
	if (sys3(NR_fcntl, REPORT_FD, F_SETFD, 0) == 0) {
		const char *prefix = "exec-error ";
		char line[40];
		char *s = utoa((ulong)err, num + sizeof(num));
		ulong at = 0;
		while (*prefix)
			line[at++] = *prefix++;
		while (*s)
			line[at++] = *s++;
		line[at++] = '\n';
		sys3(NR_write, REPORT_FD, line, at);
	} else {
		put(2, "nsscope: cannot execute ");
		put(2, argv[0]);
		put(2, ": errno ");
		put(2, utoa((ulong)err, num + sizeof(num)));
		put(2, "\n");
	}
	die(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

/* signals init does not forward: uncatchable, SIGCHLD (its own), synchronous faults */
#define NOT_FORWARDED                                                                   \
	((1UL << (9 - 1)) | (1UL << (19 - 1)) | (1UL << (17 - 1)) | (1UL << (11 - 1)) | \
	 (1UL << (7 - 1)) | (1UL << (4 - 1)) | (1UL << (8 - 1)) | (1UL << (6 - 1)) |   \
	 (1UL << (5 - 1)) | (1UL << (31 - 1)))

static __attribute__((noreturn)) void init(char **argv, char **envp)
{
	ulong wait_set = (0xFFFFFFFFUL & ~NOT_FORWARDED) | (1UL << (SIGCHLD - 1));
	ulong empty = 0;
	slong child, pid;
	int status;

	if (sys0(NR_getpid) != 1)
		/* not PID 1 (the pid namespace is shared): orphans come to us anyway */
		sys2(NR_prctl, PR_SET_CHILD_SUBREAPER, 1);
	sys2(NR_prctl, PR_SET_NAME, "nsscope-init");
	/* blocked before the fork: a signal arriving before we know the child is kept */
	sys4(NR_rt_sigprocmask, SIG_BLOCK, &wait_set, 0, 8);
	child = sys5(NR_clone, SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		die(1);
	if (child == 0) {
		/* its own process group, the terminal's foreground one (SIGTTOU is still
		 * blocked, so tcsetpgrp from the background is allowed); no tty: ENOTTY */
		int me = (int)sys0(NR_getpid);
		sys2(NR_setpgid, 0, 0);
		sys3(NR_ioctl, 0, TIOCSPGRP, &me);
		sys4(NR_rt_sigprocmask, SIG_SETMASK, &empty, 0, 8);
		exec_cmd(argv, envp);
	}
	/* our copy of the status pipe: its EOF must mean that CMD runs */
	sys1(NR_close, REPORT_FD);
	for (;;) {
		slong sig = sys4(NR_rt_sigtimedwait, &wait_set, 0, 0, 8);
		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			sys2(NR_kill, child, sig);
			continue;
		}
		while ((pid = sys4(NR_wait4, -1, &status, WNOHANG, 0)) > 0)
			if (pid == child)
				die((status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff);
		if (pid == -ECHILD)
			die(1);
	}
}

__attribute__((noreturn, used)) void stub_main(slong *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;

	if (argc < 3 || !same(argv[1], "--")) {
		put(2, "nsscope: the exec helper is not a command\n");
		die(126);
	}
	if (same(argv[0], "nsscope-exec"))
		exec_cmd(argv + 2, envp);
	if (same(argv[0], "nsscope-init"))
		init(argv + 2, envp);
	put(2, "nsscope: the exec helper is not a command\n");
	die(126);
}
