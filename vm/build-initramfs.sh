#!/usr/bin/env bash
# Build the initramfs of the cgroup-v2 test VM from Debian packages.
#
#   vm/build-initramfs.sh            -> .vm/initramfs.cpio, .vm/vmlinuz, .vm/kernel-release
#
# The kernel is Debian's linux-image-amd64 (not the running host kernel): the
# version its meta-package depends on, or $NSSCOPE_VM_KERNEL (e.g. 6.1.0-56-amd64).
# The initramfs holds busybox (busybox-static), vm/init and the modules 9p over
# virtio needs, with their dependencies from modules.dep. Rebuilt only when an
# input is newer than it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.vm

need_packages() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    dpkg-query -W -f '${Status}\n' linux-image-amd64 2>/dev/null | grep -q 'ok installed' \
        || missing+=(linux-image-amd64)
    # the initramfs has no libc: Debian's "busybox" package is dynamically linked
    dpkg-query -W -f '${Status}\n' busybox-static 2>/dev/null | grep -q 'ok installed' \
        || missing+=(busybox-static)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "vm: installing ${missing[*]}" >&2
        # a fresh machine may have no package lists yet: update once and retry
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >/dev/null \
        || { apt-get update -q >/dev/null \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                "${missing[@]}" >/dev/null; }
    fi
}

kernel_release() {
    if [ -n "${NSSCOPE_VM_KERNEL:-}" ]; then
        echo "$NSSCOPE_VM_KERNEL"
        return
    fi
    # "linux-image-6.1.0-56-amd64 (= 6.1.192-2)" -> 6.1.0-56-amd64
    dpkg-query -W -f '${Depends}' linux-image-amd64 \
        | tr ',' '\n' | sed -n 's/^ *linux-image-\([^ ]*\).*/\1/p' | head -n1
}

# Modules in load order: every dependency (modules.dep lists them, deepest
# last) before the module itself, each once.
module_order() {
    local moddir=$1; shift
    local -A seen=()
    local order=()
    visit() {
        local rel=$1 deps d
        [ -n "${seen[$rel]:-}" ] && return
        seen[$rel]=1
        deps=$(sed -n "s|^$rel: *||p" "$moddir/modules.dep")
        for d in $(echo "$deps" | tr ' ' '\n' | tac); do visit "$d"; done
        order+=("$rel")
    }
    local name rel
    for name in "$@"; do
        rel=$(grep -oE "^[^:]*/$name\.ko(\.(xz|zst|gz))?:" "$moddir/modules.dep" | head -n1 | tr -d :)
        if [ -z "$rel" ]; then
            # built into the kernel (modules.builtin): nothing to load
            grep -qE "/$name\.ko$" "$moddir/modules.builtin" && continue
            echo "vm: module $name not found in $moddir" >&2
            exit 1
        fi
        visit "$rel"
    done
    printf '%s\n' "${order[@]}"
}

need_packages
KREL=$(kernel_release)
VMLINUZ=/boot/vmlinuz-$KREL
MODDIR=/lib/modules/$KREL
[ -r "$VMLINUZ" ] && [ -r "$MODDIR/modules.dep" ] || {
    echo "vm: kernel $KREL not installed (no $VMLINUZ or $MODDIR/modules.dep)" >&2
    exit 1
}
mkdir -p "$OUT"
if [ -f "$OUT/initramfs.cpio" ] && [ "$(cat "$OUT/kernel-release" 2>/dev/null)" = "$KREL" ] \
    && [ "$OUT/initramfs.cpio" -nt vm/init ] && [ "$OUT/initramfs.cpio" -nt vm/build-initramfs.sh ] \
    && [ "$OUT/initramfs.cpio" -nt /bin/busybox ] && [ "$OUT/initramfs.cpio" -nt "$MODDIR/modules.dep" ]; then
    exit 0
fi

STAGE=$(mktemp -d "$OUT/initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,dev,proc,sys,host,mods}
cp /bin/busybox "$STAGE/bin/busybox"
install -m 0755 vm/init "$STAGE/init"
# virtio-pci transport, 9p over virtio; on Debian 6.1 these are all modules
: > "$STAGE/mods/order"
for rel in $(module_order "$MODDIR" virtio_pci 9pnet_virtio 9p); do
    base=$(basename "$rel")
    case "$base" in
        *.ko.xz) xz -dc "$MODDIR/$rel" > "$STAGE/mods/${base%.xz}"; base=${base%.xz} ;;
        *.ko.zst) zstd -qdc "$MODDIR/$rel" > "$STAGE/mods/${base%.zst}"; base=${base%.zst} ;;
        *.ko.gz) gzip -dc "$MODDIR/$rel" > "$STAGE/mods/${base%.gz}"; base=${base%.gz} ;;
        *) cp "$MODDIR/$rel" "$STAGE/mods/$base" ;;
    esac
    echo "$base" >> "$STAGE/mods/order"
done
# busybox's own cpio writes the newc format the kernel unpacks
(cd "$STAGE" && find . -mindepth 1 | /bin/busybox cpio -o -H newc 2>/dev/null) > "$OUT/initramfs.cpio.tmp"
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
ln -sf "$VMLINUZ" "$OUT/vmlinuz"
echo "$KREL" > "$OUT/kernel-release"
echo "vm: built $OUT/initramfs.cpio for $KREL ($(tr '\n' ' ' < "$STAGE/mods/order"))" >&2
