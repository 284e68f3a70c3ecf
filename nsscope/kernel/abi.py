"""The kernel's names and numbers nsscope uses, and where the host shows them.

A leaf: it imports nothing, so every part (the enter and run fast paths
included) can share one definition instead of keeping copies.
"""

#: where procfs and cgroupfs are mounted on a live host (every reader also takes
#: its own root, so a test can point it at a captured tree)
PROC = "/proc"
CGROUP_ROOT = "/sys/fs/cgroup"

#: the links in /proc/PID/ns: the eight namespace types (lsns's order of -t
#: names), then the two *_for_children (namespaces(7))
NS_LINKS: tuple[str, ...] = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts",
                             "pid_for_children", "time_for_children")
NS_TYPES: tuple[str, ...] = NS_LINKS[:8]

# <linux/sched.h>
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: namespace type (as in /proc/PID/ns) -> CLONE_NEW* flag
CLONE_FLAGS: dict[str, int] = {
    "cgroup": CLONE_NEWCGROUP,
    "ipc": CLONE_NEWIPC,
    "mnt": CLONE_NEWNS,
    "net": CLONE_NEWNET,
    "pid": CLONE_NEWPID,
    "time": CLONE_NEWTIME,
    "user": CLONE_NEWUSER,
    "uts": CLONE_NEWUTS,
}

# <linux/nsfs.h>: _IO(0xb7, n)
NSIO = 0xB7
NS_GET_USERNS = (NSIO << 8) | 0x1
NS_GET_PARENT = (NSIO << 8) | 0x2
NS_GET_NSTYPE = (NSIO << 8) | 0x3
NS_GET_OWNER_UID = (NSIO << 8) | 0x4

# <linux/magic.h>
CGROUP_SUPER_MAGIC = 0x27E0EB
CGROUP2_SUPER_MAGIC = 0x63677270
TMPFS_MAGIC = 0x01021994
NSFS_MAGIC = 0x6E736673

#: PF_KTHREAD in field 9 (flags) of /proc/PID/stat (include/linux/sched.h)
PF_KTHREAD = 0x00200000

#: ioctl(2) making a terminal the caller's controlling one (tty_ioctl(4));
#: <asm-generic/ioctls.h>, which x86 and arm64 use: the termios module (a shared
#: library to load on every ``nsscope run``) only for this number
TIOCSCTTY = 0x540E
