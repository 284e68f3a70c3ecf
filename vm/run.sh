#!/usr/bin/env bash
# Boot the cgroup-v2 test VM once and run one command inside it.
#
#   vm/run.sh COMMAND [ARG...]      e.g. vm/run.sh vm/pytest-v2.sh -k throttle
#
# The VM: Debian's kernel (vm/build-initramfs.sh picks it) under qemu TCG
# (this machine's /dev/kvm cannot boot a stock kernel), booted with
# cgroup_no_v1=all so every controller is on the unified hierarchy; the host's
# / shared read-only over 9p as the VM's root; tmpfs on /tmp, /run, /dev/shm; a
# writable 9p share (.vm/results here, /run/vm-results inside) for results; no
# network. COMMAND runs as root in the repo (the same path as here), with
# NSSCOPE_IN_V2_VM=1, VM_RESULTS=/run/vm-results and the caller's CI setting.
# Its output goes to the console (stdout here) and .vm/results/console.log;
# the exit status is COMMAND's, read back from the share (124 on timeout).
#
# Environment: NSSCOPE_VM_TIMEOUT (seconds, default 1800: TCG on a loaded 2-core host ran the v2 suite in 6 min alone, past 15 min beside other work), NSSCOPE_VM_MEM
# (default 2G), NSSCOPE_VM_SMP (default 2), NSSCOPE_VM_KERNEL (kernel release),
# NSSCOPE_VM_RESULTS (the host side of the results share, default .vm/results).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)
[ $# -ge 1 ] || { echo "usage: vm/run.sh COMMAND [ARG...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "vm: needs root (apt-get, 9p export of /)" >&2; exit 2; }
case "$REPO/" in
    /dev/*|/proc/*|/sys/*)
        echo "vm: the repo is under ${REPO%/*}, which the VM covers with its own mount;" \
             "clone it elsewhere" >&2
        exit 2 ;;
    *[[:space:]]*)
        echo "vm: the repo's path has white space, which the kernel command line cannot carry" >&2
        exit 2 ;;
esac
# A repo under /tmp or /run (where CI may clone it) is carried over the VM's own
# tmpfs mounts there: /init finds its path on the kernel command line

mkdir -p .vm
# One VM at a time on the machine, whichever checkout starts it: two TCG guests
# on this machine's cores would slow each other (and skew CPU-share measurements).
LOCK=${NSSCOPE_VM_LOCK:-/run/lock/nsscope-vm.lock}
mkdir -p "$(dirname "$LOCK")"
exec 9> "$LOCK"
if ! flock -n 9; then
    echo "vm: another VM run holds $LOCK; waiting" >&2
    flock 9
fi
vm/build-initramfs.sh
KREL=$(cat .vm/kernel-release)
RESULTS=$(realpath -m "${NSSCOPE_VM_RESULTS:-.vm/results}")
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

# The job the VM's /init runs once the host's / is its root: the command with
# its arguments quoted, its exit status written next to it.
{
    echo "cd $(printf '%q' "$REPO") || exit 1"
    # the host's / is read-only in the VM: no .pyc, hypothesis' database in /tmp
    echo "export NSSCOPE_IN_V2_VM=1 VM_RESULTS=/run/vm-results PYTHONDONTWRITEBYTECODE=1" \
         "HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis"
    [ -n "${CI:-}" ] && echo "export CI=$(printf '%q' "$CI")"
    printf '%q ' "$@"
    echo
    echo 'echo $? > /run/vm-results/rc'
} > "$RESULTS/job.sh"
install -m 0755 vm/init "$RESULTS/init"  # stage 2 of the VM's init, after switch_root

TIMEOUT=${NSSCOPE_VM_TIMEOUT:-1800}
echo "vm: booting $KREL (qemu TCG, cgroup_no_v1=all, timeout ${TIMEOUT}s): $*" >&2
start=$(date +%s)
status=0
# -k: if qemu ignores SIGTERM, SIGKILL 10 s later. -nodefaults: no NIC, no
# VGA; the serial console is stdio (stdin closed, no monitor).
# multidevs=remap: the host's / spans several devices, so 9p remaps inode
# numbers to keep them unique (qemu docs, -virtfs).
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg -smp "${NSSCOPE_VM_SMP:-2}" -m "${NSSCOPE_VM_MEM:-2G}" \
    -nodefaults -no-reboot -display none -monitor none -serial stdio \
    -kernel .vm/vmlinuz -initrd .vm/initramfs.cpio \
    -append "console=ttyS0 quiet loglevel=3 cgroup_no_v1=all panic=-1 rdinit=/init nsscope.repo=$REPO" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=${RESULTS//,/,,},mount_tag=results,security_model=none,multidevs=remap" \
    < /dev/null 2>&1 | tee "$RESULTS/console.log" || status=$?
echo "vm: qemu exited after $(( $(date +%s) - start ))s" >&2
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "vm: timed out after ${TIMEOUT}s" >&2
    exit 124
fi
if [ ! -s "$RESULTS/rc" ]; then
    echo "vm: the job did not finish (no exit status in $RESULTS/rc); see $RESULTS/console.log" >&2
    exit 1
fi
exit "$(cat "$RESULTS/rc")"
