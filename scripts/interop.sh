#!/usr/bin/env bash
# Interop with the real Linux NVMe/TCP stack: Debian's own kernel booted under qemu (TCG) with a busybox initramfs.
#
#   scripts/interop.sh [target|host|rwtest|all|probe|auth|auth-target|auth-host|prepare]
#
#   target   Linux as the TARGET (nvmet-tcp, memory-backed null_blk namespace), reached on 127.0.0.1:14420 (and a second
#            path on 127.0.0.1:14421); runs nvme-tokio's `linux_interop` test against it.
#   host     Linux as the HOST (nvme-tcp with header and data digests) connecting to our target
#            (`nvme-lab target --listen 127.0.0.1:4420`): writes pattern regions, reads them back, compares.
#   rwtest   the Linux failover test with the Linux HOST against one `nvme-lab target` with two listeners
#            (127.0.0.1:4420 and :4421): two paths with header and data digests, iopolicy round-robin, rw_test
#            (scripts/interop/rw_test.c, built with gcc -static). Three scenarios, each asserted: no fault (every
#            iteration validates); `fopcode 1 2000` on the first controller (the unpatched host retries the held Write
#            on the other path at once: "validation failed" in the first iteration, and the timeline from the target's
#            log, the capture and the guest's kernel log is printed); the same with `--cqt 1` (still corrupted: the
#            host ignores CQT).
#   all      target, then host, then rwtest, then auth (the default; what CI runs).
#   probe    checks the Linux peers and this harness without any of our code: an ICReq to the Linux target must get
#            an ICResp, the Linux host guest's whole test must pass against the Linux target, and the Linux host's
#            ICReq must reach a silent listener on 127.0.0.1:4420.
#   auth     Linux 6.12 (Debian 13's kernel, fetched through a private apt sources list): in-band authentication
#            (DH-HMAC-CHAP) both ways, and the target and host tests above again against 6.12 (run_612 below).
#            auth-target / auth-host: only our host against 6.12 nvmet (with the 6.1 tests) / only the 6.12 host's
#            authentication scenarios against our target.
#   prepare  only installs the packages, fetches the kernel and builds the initramfs.
#
# Facts: /work/shared/interop/linux-nvmet-qemu.md. Every wait is bounded; qemu and servers are killed on exit; a
# guest's console is printed when a step fails. Downloads and builds are cached under target/interop/.
#
# Environment (all optional):
#   NVME_INTEROP_NQN            subsystem NQN (default below)
#   NVME_INTEROP_CACHE          cache directory (default: <repo>/target/interop)
#   NVME_INTEROP_BOOT_TIMEOUT   seconds until the target guest prints READY (default 90)
#   NVME_INTEROP_HOST_TIMEOUT   seconds for the whole host guest run (default 180)
#   NVME_INTEROP_TEST_TIMEOUT   seconds for the nvme-tokio test binary (default 900)
#   NVME_INTEROP_LISTEN_TIMEOUT seconds until our target listens (default 60)
#   NVME_INTEROP_TARGET_CMD     host mode: a shell command that runs the target under test instead of nvme-lab; it
#                               gets NVME_INTEROP_LISTEN (127.0.0.1:4420) and NVME_INTEROP_NQN in its environment
#   NVME_INTEROP_RWTEST_ITERATIONS  rwtest: rw_test's iterations (default 2; the fault scenarios stop at the first)
#   NVME_INTEROP_RWTEST_SCENARIOS   rwtest: which scenarios, in order (default "nofault fopcode cqt")
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${NVME_INTEROP_CACHE:-$REPO/target/interop}
NQN=${NVME_INTEROP_NQN:-nqn.2014-08.org.nvmexpress:nvme-recovery-interop}
HOSTID=5e6f7a8b-0c1d-4e2f-8a3b-4c5d6e7f8091
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$HOSTID
BOOT_TIMEOUT=${NVME_INTEROP_BOOT_TIMEOUT:-90}
HOST_TIMEOUT=${NVME_INTEROP_HOST_TIMEOUT:-180}
TEST_TIMEOUT=${NVME_INTEROP_TEST_TIMEOUT:-900}
LISTEN_TIMEOUT=${NVME_INTEROP_LISTEN_TIMEOUT:-60}
# Forwarded ports of the Linux target (guest 4420 and 4421) and the port our target listens on for the Linux host
# (the guest reaches the development machine's 127.0.0.1 as 10.0.2.2).
TARGET_PORT1=14420
TARGET_PORT2=14421
HOST_PORT=4420
# The second listener of our target in rwtest (the Linux host's second path).
HOST_PORT2=4421
# rwtest: rw_test's iterations in each scenario (with the fault it stops after the first), and how long the fopcode
# scenario waits for the Linux host to reconnect the failed path (its reconnect_delay is 10 s).
RWTEST_ITERATIONS=${NVME_INTEROP_RWTEST_ITERATIONS:-2}
RWTEST_RECONNECT_WAIT=30
# Guest memory: null_blk keeps every written page in guest RAM.
GUEST_MEM=1024

# Modules each guest role loads, in this order (dependencies are added in front by resolve_modules); parameters
# after the name. crc32c_generic serves the digests (the emulated CPU has no SSE4.2), crct10dif_generic and
# crc64_rocksoft_generic are the soft dependencies of crc-t10dif and crc64-rocksoft (t10-pi, needed by nvmet and
# nvme-core). virtio_pci is the bus driver of virtio-net-pci.
TARGET_MODULES=(crct10dif_generic crc64_rocksoft_generic crc32c_generic configfs nvmet nvmet-tcp
	"null_blk memory_backed=1 gb=1" virtio_pci virtio_net)
HOST_MODULES=(crct10dif_generic crc64_rocksoft_generic crc32c_generic "nvme-core admin_timeout=5" nvme-fabrics
	nvme-tcp virtio_pci virtio_net)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n==> interop: %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
check() { printf '    ok: %s\n' "$*"; }
die() {
	printf '\ninterop: FAILED: %s\n' "$*" >&2
	exit 1
}

# Background processes and guest consoles of this run, for the exit trap.
PIDS=()
CONSOLES=()
LOGS=()
cleanup() {
	local status=$?
	local pid
	for pid in "${PIDS[@]}"; do
		# Each runs in its own process group (setsid or timeout). CONT: a test may have stopped qemu (a path freeze).
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		kill -CONT -- "-$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		local f
		for f in "${CONSOLES[@]}"; do
			[ -f "$f" ] || continue
			printf '\n---- guest console %s ----\n' "$f" >&2
			tr -d '\r' <"$f" >&2
			printf -- '---- end of guest console ----\n' >&2
		done
		for f in "${LOGS[@]}"; do
			[ -f "$f" ] || continue
			printf '\n---- log %s (last 100 lines) ----\n' "$f" >&2
			tail -n 100 "$f" >&2
			printf -- '---- end of log ----\n' >&2
		done
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts "$@" in the background in its own session (so that its whole process group can be killed); sets BG_PID.
start_bg() {
	local log=$1
	shift
	setsid "$@" </dev/null >"$log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

stop_bg() {
	local pid=$1
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	kill -CONT -- "-$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null || true
	timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------------------
# Preparation: packages, kernel, initramfs.

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

install_packages() {
	step "packages: qemu-system-x86, busybox-static, gcc and libc6-dev (rw_test is linked statically), xz-utils"
	local missing=()
	command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
	installed busybox-static || missing+=(busybox-static)
	command -v gcc >/dev/null 2>&1 || missing+=(gcc)
	installed libc6-dev || missing+=(libc6-dev)
	# xz: the 6.12 kernel's modules are .ko.xz (auth).
	command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
	if [ "${#missing[@]}" -gt 0 ]; then
		info "installing ${missing[*]}"
		$SUDO apt-get update -qq
		$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after installing qemu-system-x86"
	[ -x /bin/busybox ] || die "/bin/busybox not found after installing busybox-static"
	check "$(qemu-system-x86_64 --version | head -n 1)"
	check "$(/bin/busybox | head -n 1) (static, from busybox-static)"
	command -v gcc >/dev/null || die "gcc not found after installing gcc"
	check "$(gcc --version | head -n 1)"
}

# Sets RW_TEST: scripts/interop/rw_test.c built statically (it runs in the guest's busybox initramfs, no libc there).
build_rw_test() {
	RW_TEST=$CACHE/rw_test
	mkdir -p "$CACHE"
	gcc -static -O2 -Wall -Wextra -Werror -o "$RW_TEST.tmp" "$REPO/scripts/interop/rw_test.c" ||
		die "cannot build rw_test: gcc -static scripts/interop/rw_test.c (needs gcc and libc6-dev)"
	mv "$RW_TEST.tmp" "$RW_TEST"
	check "rw_test: $RW_TEST (gcc -static, $(du -k "$RW_TEST" | cut -f1) KiB)"
}

# The kernel package linux-image-amd64 depends on, per the local package lists (empty when there are none).
kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true
}

# apt-get download PKG into $CACHE/dl (as root apt warns that it downloads unsandboxed: not shown).
download_package() {
	local rc=0
	(cd "$CACHE/dl" && apt-get download -q "$1") >"$CACHE/dl/apt.log" 2>&1 || rc=$?
	grep -v 'unsandboxed as root' "$CACHE/dl/apt.log" | sed 's/^/    /' || true
	return "$rc"
}

# Sets KVER, KDIR (the unpacked package: boot/, lib/modules/).
fetch_kernel() {
	step "kernel: the package linux-image-amd64 depends on (downloaded and unpacked, not installed)"
	mkdir -p "$CACHE/dl"
	local pkg
	pkg=$(kernel_package)
	if [ -z "$pkg" ]; then
		# A fresh machine may have no package lists yet; a cached kernel serves without them.
		local cached
		cached=$(find "$CACHE" -maxdepth 2 -name .unpacked -path '*/linux-image-*' 2>/dev/null | sort | tail -n 1)
		if [ -n "$cached" ]; then
			pkg=$(basename "$(dirname "$cached")")
		else
			info "no package lists: apt-get update"
			$SUDO apt-get update -qq
			pkg=$(kernel_package)
		fi
	fi
	[ -n "$pkg" ] || die "cannot tell which kernel package linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
	if [ ! -f "$CACHE/$pkg/.unpacked" ] && [ -z "$(find "$CACHE/dl" -maxdepth 1 -name "${pkg}_*.deb")" ]; then
		info "apt-get download $pkg (about 70 MB)"
		if ! download_package "$pkg"; then
			# Stale package lists name a package the mirror no longer has: refresh them and ask again.
			info "download failed: apt-get update, then once more"
			$SUDO apt-get update -qq
			pkg=$(kernel_package)
			[ -n "$pkg" ] || die "no kernel package for linux-image-amd64 after apt-get update"
			download_package "$pkg" || die "apt-get download $pkg failed (log: $CACHE/dl/apt.log)"
		fi
	fi
	KVER=${pkg#linux-image-}
	KDIR=$CACHE/$pkg
	if [ ! -f "$KDIR/.unpacked" ]; then
		local deb
		deb=$(find "$CACHE/dl" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
		[ -n "$deb" ] || die "apt-get download $pkg produced no .deb in $CACHE/dl"
		info "unpacking $(basename "$deb")"
		rm -rf "$KDIR.tmp"
		mkdir -p "$KDIR.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$KDIR.tmp" ./boot ./lib/modules
		rm -rf "$KDIR"
		mv "$KDIR.tmp" "$KDIR"
		touch "$KDIR/.unpacked"
	fi
	[ -f "$KDIR/boot/vmlinuz-$KVER" ] || die "no $KDIR/boot/vmlinuz-$KVER in the package"
	[ -d "$KDIR/lib/modules/$KVER/kernel" ] || die "no $KDIR/lib/modules/$KVER/kernel in the package"
	check "kernel $KVER ($KDIR)"
}

# Module name (as in `depends=`) to .ko path; '-' and '_' are the same to the kernel.
declare -A MODFILE=()
index_modules() {
	local f n
	while IFS=' ' read -r n f; do
		n=${n%.ko}
		MODFILE[${n//-/_}]=$f
	done < <(find "$KDIR/lib/modules/$KVER/kernel" -name '*.ko' -printf '%f %p\n')
	[ "${#MODFILE[@]}" -gt 0 ] || die "no uncompressed .ko modules under $KDIR/lib/modules/$KVER/kernel"
}

# A field (depends, softdep) of a module's .modinfo section.
modinfo_field() { tr '\0' '\n' <"$1" | grep -a "^$2=" | cut -d= -f2- || true; }

# resolve_modules NAME...: appends NAME's dependencies and then NAME to ORDER (each once).
declare -A SEEN=()
ORDER=()
resolve_module() {
	local name=${1//-/_} dep soft
	if [ -n "${SEEN[$name]:-}" ]; then return 0; fi
	SEEN[$name]=1
	local f=${MODFILE[$name]:-}
	[ -n "$f" ] || die "module $1 is not in kernel $KVER"
	# Soft "pre:" dependencies that are module files themselves (e.g. crc64); aliases such as crct10dif are listed
	# explicitly in the role's module list instead.
	for soft in $(modinfo_field "$f" softdep | sed -n 's/.*pre:\([^:]*\).*/\1/p' | sed 's/post$//'); do
		if [ -n "${MODFILE[${soft//-/_}]:-}" ]; then resolve_module "$soft"; fi
	done
	for dep in $(modinfo_field "$f" depends | tr ',' ' '); do
		resolve_module "$dep"
	done
	ORDER+=("$name")
}

# write_order ROLE_FILE "name args"...: the load order with parameters, one module a line; copies the modules.
write_order() {
	local out=$1 entry name args m
	shift
	SEEN=()
	ORDER=()
	declare -A params=()
	for entry in "$@"; do
		name=${entry%% *}
		args=""
		if [ "$name" != "$entry" ]; then args=${entry#* }; fi
		params[${name//-/_}]=$args
		resolve_module "$name"
	done
	: >"$out"
	for m in "${ORDER[@]}"; do
		cp "${MODFILE[$m]}" "$(dirname "$out")/$m.ko"
		if [ -n "${params[$m]:-}" ]; then echo "$m ${params[$m]}"; else echo "$m"; fi >>"$out"
	done
}

# Sets INITRD. Rebuilt every run (about a second) so that edits of init.sh always count.
build_initramfs() {
	step "initramfs: busybox-static, rw_test, the modules in load order, scripts/interop/init.sh as /init"
	index_modules
	local root=$CACHE/initramfs-$KVER
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
	cp /bin/busybox "$root/bin/busybox"
	install -m 0755 "$RW_TEST" "$root/bin/rw_test"
	install -m 0755 "$REPO/scripts/interop/init.sh" "$root/init"
	write_order "$root/modules/target.order" "${TARGET_MODULES[@]}"
	write_order "$root/modules/host.order" "${HOST_MODULES[@]}"
	cp "$root/modules/host.order" "$root/modules/probe.order"
	cp "$root/modules/host.order" "$root/modules/rwtest.order"
	INITRD=$CACHE/initrd-$KVER.gz
	# The cpio program is not installed and plain find | cpio made empty archives (interop doc): busybox cpio.
	(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp")
	mv "$INITRD.tmp" "$INITRD"
	check "target modules: $(cut -d' ' -f1 "$root/modules/target.order" | tr '\n' ' ')"
	check "host modules:   $(cut -d' ' -f1 "$root/modules/host.order" | tr '\n' ' ')"
	check "$INITRD ($(du -k "$INITRD" | cut -f1) KiB)"
}

prepare() {
	install_packages
	fetch_kernel
	build_rw_test
	build_initramfs
}

# ---------------------------------------------------------------------------------------------------------------
# Guests.

# boot_guest ROLE CONSOLE NETDEV_OPTIONS [PORT]: starts qemu in the background; sets QEMU_PID. PORT: where the host and
# probe roles connect (10.0.2.2:PORT is the development machine's 127.0.0.1:PORT). The guest's network traffic (as
# the guest sees it: Ethernet, guest ports) is written to CONSOLE with .pcap for .log. GUEST_APPEND (more kernel
# command line words) and GUEST_QEMU (more qemu arguments) are added when set.
GUEST_APPEND=""
GUEST_QEMU=()
boot_guest() {
	local role=$1 console=$2 nic=$3 port=${4:-$HOST_PORT}
	rm -f "$console" "${console%.log}.pcap"
	CONSOLES+=("$console")
	local append="console=ttyS0 quiet panic=-1 interop_role=$role interop_nqn=$NQN"
	append+=" interop_port=$port interop_hostnqn=$HOSTNQN interop_hostid=$HOSTID"
	if [ -n "$GUEST_APPEND" ]; then append+=" $GUEST_APPEND"; fi
	start_bg "$console.qemu" qemu-system-x86_64 -accel tcg -smp 2 -m "$GUEST_MEM" \
		-display none -monitor none -serial "file:$console" -no-reboot \
		-kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$append" \
		-netdev "user,id=n0$nic" -device virtio-net-pci,netdev=n0 \
		-object "filter-dump,id=d0,netdev=n0,file=${console%.log}.pcap" "${GUEST_QEMU[@]}"
	QEMU_PID=$BG_PID
	LOGS+=("$console.qemu")
	info "qemu pid $QEMU_PID, role $role, console $console"
}

# wait_console CONSOLE PID TIMEOUT PATTERN: waits for a console line matching PATTERN (grep -E) while PID runs.
wait_console() {
	local console=$1 pid=$2 limit=$3 pattern=$4 start=$SECONDS
	while ! grep -qE "$pattern" "$console" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || die "qemu (pid $pid) exited before the console showed /$pattern/"
		[ $((SECONDS - start)) -lt "$limit" ] || die "no /$pattern/ on the guest console within $limit s"
		sleep 0.2
	done
}

# wait_exit PID TIMEOUT: waits for PID to end.
wait_exit() {
	local pid=$1 limit=$2
	timeout "$limit" tail --pid="$pid" -f /dev/null || die "qemu (pid $pid) still running after $limit s"
}

# An ICReq (PFV 0, HPDA 0, both digests requested) to 127.0.0.1:PORT; the answer must be an ICResp granting them.
probe_icresp() {
	local port=$1 hex
	# 128 bytes: CH type 0x00, flags 0, HLEN 128, PDO 0, PLEN 128; PFV 0, HPDA 0, DGST 3 (HDGSTE|DDGSTE), MAXR2T 0.
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	hex=$(timeout 20 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 2
		printf "\x00\x00\x80\x00\x80\x00\x00\x00\x00\x00\x00\x03" >&3
		head -c 116 /dev/zero >&3
		head -c 128 <&3 | od -An -v -tx1' probe "$port") || die "ICReq to 127.0.0.1:$port: no answer (connect failed or 20 s timeout)"
	local b
	read -r -a b <<<"$(tr '\n' ' ' <<<"$hex")"
	[ "${#b[@]}" -eq 128 ] || die "ICReq to 127.0.0.1:$port: answer is ${#b[@]} bytes, not a 128-byte ICResp: ${b[*]}"
	[ "${b[0]}" = 01 ] || die "ICReq to 127.0.0.1:$port: answer PDU type 0x${b[0]}, not ICResp (0x01)"
	[ "${b[2]}" = 80 ] || die "ICResp from 127.0.0.1:$port: HLEN 0x${b[2]}, not 128"
	[ "${b[4]}${b[5]}${b[6]}${b[7]}" = 80000000 ] || die "ICResp from 127.0.0.1:$port: PLEN not 128"
	[ "${b[11]}" = 03 ] || die "ICResp from 127.0.0.1:$port: DGST 0x${b[11]}, not both digests (0x03)"
	local maxh2c=$((16#${b[15]}${b[14]}${b[13]}${b[12]}))
	check "127.0.0.1:$port answers an ICReq with an ICResp: PFV $((16#${b[9]}${b[8]})), CPDA $((16#${b[10]})), DGST 3, MAXH2CDATA $maxh2c"
}

# Is something listening on 127.0.0.1:PORT (or on every address)? Reads /proc/net/tcp (no ss/netstat needed).
listening() {
	local hexport
	hexport=$(printf '%04X' "$1")
	awk -v p=":$hexport" '$4 == "0A" && ($2 == "0100007F" p || $2 == "00000000" p) { found = 1 } END { exit !found }' \
		/proc/net/tcp
}

# wire_check PCAP STRICT PORT...: decodes the guest's capture with tshark (an independent decoder) with both digest
# checks on, prints the PDU counts, and fails on any bad digest; with STRICT=strict also on any TermReq. Skipped,
# saying so, when tshark is not installed (.ci/run installs it).
wire_check() {
	local pcap=$1 strict=$2
	shift 2
	if ! command -v tshark >/dev/null 2>&1; then
		info "tshark not installed: wire check of $pcap skipped"
		return 0
	fi
	[ -s "$pcap" ] || die "no capture $pcap"
	local args=() port summary
	for port in "$@"; do args+=(-d "tcp.port==$port,nvme-tcp"); done
	summary=$(tshark -r "$pcap" "${args[@]}" -o nvme-tcp.check_hdgst:TRUE -o nvme-tcp.check_ddgst:TRUE -Y nvme-tcp \
		-T fields -E separator=/t -e nvme-tcp.type -e nvme-tcp.hdgst.status -e nvme-tcp.ddgst.status 2>/dev/null |
		awk -F '\t' '
			BEGIN { split("ICReq ICResp H2CTermReq C2HTermReq CapsuleCmd CapsuleResp H2CData C2HData - R2T", name, " ") }
			{
				n = split($1, t, ","); for (i = 1; i <= n; i++) count[t[i]]++
				for (f = 2; f <= 3; f++) { n = split($f, d, ","); for (i = 1; i <= n; i++) if (d[i] != "") dg[d[i]]++ }
			}
			END {
				for (k = 0; k <= 9; k++) if (count[k]) { out = out sep name[k + 1] " " count[k]; sep = ", " }
				printf "%s|%d|%d|%d|%d\n", out, dg[1], dg[0], dg[2], count[2] + count[3]
			}') || die "tshark could not read $pcap"
	local pdus good bad unverified termreqs
	IFS='|' read -r pdus good bad unverified termreqs <<<"$summary"
	[ -n "$pdus" ] || die "tshark decoded no NVMe/TCP PDU in $pcap"
	info "tshark on $(basename "$pcap"): $pdus"
	[ "$bad" -eq 0 ] || die "tshark rated $bad digests Bad in $pcap"
	if [ "$strict" = strict ] && [ "$termreqs" -ne 0 ]; then die "$termreqs TermReq PDUs in $pcap"; fi
	check "tshark: $good digests Good, 0 Bad, $unverified unverified$([ "$strict" = strict ] && echo ', no TermReq')"
}

# wait_listening PID WHAT PORT...: waits until our target (process PID) listens on 127.0.0.1:PORT for every PORT, at
# most $LISTEN_TIMEOUT s, then says "WHAT listening on ..."; dies if the target exits first.
wait_listening() {
	local pid=$1 what=$2 start=$SECONDS port
	shift 2
	for port in "$@"; do
		until listening "$port"; do
			kill -0 "$pid" 2>/dev/null || die "the target exited before listening on 127.0.0.1:$port"
			[ $((SECONDS - start)) -lt "$LISTEN_TIMEOUT" ] || die "the target is not listening after $LISTEN_TIMEOUT s"
			sleep 0.1
		done
	done
	check "$what listening on $(printf '127.0.0.1:%s ' "$@")(pid $pid)"
}

# ---------------------------------------------------------------------------------------------------------------
# Directions.

boot_linux_target() {
	local console=$1
	step "Linux target: boot (TCG), nvmet-tcp on guest ports 4420/4421 forwarded to 127.0.0.1:$TARGET_PORT1/$TARGET_PORT2"
	if listening "$TARGET_PORT1" || listening "$TARGET_PORT2"; then
		die "127.0.0.1:$TARGET_PORT1 or 127.0.0.1:$TARGET_PORT2 is already in use"
	fi
	local start=$SECONDS
	boot_guest target "$console" \
		",restrict=on,hostfwd=tcp:127.0.0.1:$TARGET_PORT1-:4420,hostfwd=tcp:127.0.0.1:$TARGET_PORT2-:4421"
	wait_console "$console" "$QEMU_PID" "$BOOT_TIMEOUT" '^INTEROP-READY'
	check "$(grep -m1 '^INTEROP-READY' "$console" | tr -d '\r') after $((SECONDS - start)) s"
	probe_icresp "$TARGET_PORT1"
	probe_icresp "$TARGET_PORT2"
}

run_target() {
	local console=$CACHE/console-target.log
	step "building nvme-tokio's linux_interop test (before booting, so that the guest waits for nothing)"
	(cd "$REPO" && cargo test --release -p nvme-tokio --test linux_interop --no-run) ||
		die "cannot build: cargo test --release -p nvme-tokio --test linux_interop --no-run"
	boot_linux_target "$console"
	step "nvme-tokio linux_interop test against the Linux target (timeout $TEST_TIMEOUT s)"
	info "NVME_INTEROP_ADDR=127.0.0.1:$TARGET_PORT1 NVME_INTEROP_ADDR2=127.0.0.1:$TARGET_PORT2 NVME_INTEROP_NQN=$NQN" \
		"NVME_INTEROP_QEMU_PID=$QEMU_PID"
	# In the background and waited for, so that Ctrl-C or a TERM reaches the exit trap at once; `timeout` runs in
	# its own process group, which the trap kills.
	(cd "$REPO" && NVME_INTEROP_ADDR=127.0.0.1:$TARGET_PORT1 NVME_INTEROP_ADDR2=127.0.0.1:$TARGET_PORT2 \
		NVME_INTEROP_NQN=$NQN NVME_INTEROP_QEMU_PID=$QEMU_PID \
		exec timeout --kill-after=10 "$TEST_TIMEOUT" \
		cargo test --release -p nvme-tokio --test linux_interop -- --ignored --test-threads=1) &
	local test_pid=$!
	PIDS+=("$test_pid")
	wait "$test_pid" || die "nvme-tokio linux_interop failed against the Linux target (or ran over $TEST_TIMEOUT s)"
	kill -0 "$QEMU_PID" 2>/dev/null || die "the Linux target guest died during the test"
	check "nvme-tokio linux_interop passed against Linux $KVER nvmet-tcp"
	stop_bg "$QEMU_PID"
	# The nvme-tokio tests may inject faults on purpose: TermReqs are reported, not failed.
	wire_check "${console%.log}.pcap" report 4420 4421
}

# Checks the last host guest run: the console verdict.
host_verdict() {
	local console=$1 line
	line=$(grep -aE '^INTEROP-(PASS|FAIL)' "$console" | tail -n 1 | tr -d '\r' || true)
	[ -n "$line" ] || die "the Linux host guest printed neither INTEROP-PASS nor INTEROP-FAIL"
	case "$line" in
	INTEROP-PASS*) check "${line#INTEROP-PASS }" ;;
	*) die "the Linux host reported: ${line#INTEROP-}" ;;
	esac
}

run_host() {
	local console=$CACHE/console-host$CONSOLE_SUFFIX.log log=$CACHE/target-server$CONSOLE_SUFFIX.log
	local -a server
	if [ -n "${NVME_INTEROP_TARGET_CMD:-}" ]; then
		# By hand: any target, e.g. another build of ours or another implementation.
		server=(bash -c "$NVME_INTEROP_TARGET_CMD")
		step "target under test: $NVME_INTEROP_TARGET_CMD (NVME_INTEROP_TARGET_CMD)"
	else
		step "building nvme-lab (our target)"
		(cd "$REPO" && cargo build --release -p nvme-lab) || die "cannot build: cargo build --release -p nvme-lab"
		(cd "$REPO" && cargo run -q --release -p nvme-lab -- target --help >/dev/null 2>&1) ||
			die "nvme-lab has no 'target' subcommand (cargo run --release -p nvme-lab -- target --help failed)"
		# shellcheck disable=SC2016 # $1..$3 are expanded by the inner bash
		server=(bash -c 'cd "$1" && exec cargo run -q --release -p nvme-lab -- target --listen "127.0.0.1:$2" --nqn "$3"'
			target "$REPO" "$HOST_PORT" "$NQN")
		step "target under test: nvme-lab target --listen 127.0.0.1:$HOST_PORT --nqn $NQN"
	fi
	if listening "$HOST_PORT"; then die "127.0.0.1:$HOST_PORT is already in use"; fi
	LOGS+=("$log")
	NVME_INTEROP_LISTEN=127.0.0.1:$HOST_PORT NVME_INTEROP_NQN=$NQN start_bg "$log" "${server[@]}"
	local target_pid=$BG_PID
	wait_listening "$target_pid" "our target (log $log)" "$HOST_PORT"
	step "Linux host: boot (TCG), connect to 10.0.2.2:$HOST_PORT with hdr_digest,data_digest, write, read back, compare"
	boot_guest host "$console" ""
	wait_exit "$QEMU_PID" "$HOST_TIMEOUT"
	grep -a -E '^interop:|\] nvme' "$console" | tr -d '\r' | sed 's/^/    guest /'
	host_verdict "$console"
	wire_check "${console%.log}.pcap" strict "$HOST_PORT"
	kill -0 "$target_pid" 2>/dev/null || die "the target died during the host test"
	check "the target served Linux $KVER nvme-tcp"
	stop_bg "$target_pid"
}

# ---------------------------------------------------------------------------------------------------------------
# rwtest: the failover test with the Linux host against one `nvme-lab target` (spec-notes/interop.md, "rwtest").

# Our target's release binary (built by build_lab).
LAB=${CARGO_TARGET_DIR:-$REPO/target}/release/nvme-lab

build_lab() {
	step "building nvme-lab (our target)"
	(cd "$REPO" && cargo build --release -p nvme-lab) || die "cannot build: cargo build --release -p nvme-lab"
	[ -x "$LAB" ] || die "no $LAB after cargo build --release -p nvme-lab"
}

# start_lab_target LOG ARGS...: `nvme-lab target -v ARGS` listening on 127.0.0.1:HOST_PORT and :HOST_PORT2, its
# standard input a FIFO held open on fd LAB_CTL (control lines: echo LINE >&"$LAB_CTL"), its log in LOG; waits until
# both ports listen. Sets LAB_PID.
start_lab_target() {
	local log=$1
	shift
	local port
	for port in "$HOST_PORT" "$HOST_PORT2"; do
		if listening "$port"; then die "127.0.0.1:$port is already in use"; fi
	done
	local fifo=${log%.log}.ctl
	rm -f "$fifo" "$log"
	mkfifo "$fifo"
	exec {LAB_CTL}<>"$fifo"
	LOGS+=("$log")
	setsid "$LAB" target --listen "127.0.0.1:$HOST_PORT" --listen "127.0.0.1:$HOST_PORT2" --nqn "$NQN" -v "$@" \
		<"$fifo" >"$log" 2>&1 &
	LAB_PID=$!
	LAB_LOG=$log
	PIDS+=("$LAB_PID")
	wait_listening "$LAB_PID" "nvme-lab target -v $* (log $log)" "$HOST_PORT" "$HOST_PORT2"
}

stop_lab_target() {
	exec {LAB_CTL}>&-
	stop_bg "$LAB_PID"
}

# rwtest_guest NAME ARM ITERATIONS RECONNECT_WAIT: boots the rwtest guest against the running target; when ARM is 1,
# answers its INTEROP-ARM request: `fopcode 1 2000 CNTLID` on the target's control input, then "armed" on the
# guest's second serial port (a FIFO pair, qemu's pipe chardev). Waits for the guest to power off. Sets CONSOLE.
rwtest_guest() {
	local name=$1 arm=$2 iterations=$3 reconnect=$4
	CONSOLE=$CACHE/console-rwtest-$name.log
	local serial=$CACHE/rwtest-$name.serial
	rm -f "$serial.in" "$serial.out"
	mkfifo "$serial.in" "$serial.out"
	# Drains what the guest might write on the channel, so that qemu never blocks on it.
	start_bg "$CACHE/rwtest-$name.serial-out" cat "$serial.out"
	GUEST_APPEND="interop_port2=$HOST_PORT2 interop_iterations=$iterations interop_arm=$arm interop_reconnect=$reconnect"
	GUEST_QEMU=(-serial "pipe:$serial")
	boot_guest rwtest "$CONSOLE" ""
	GUEST_APPEND=""
	GUEST_QEMU=()
	local start=$SECONDS armed=0 line cntlid
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$arm" = 1 ] && [ "$armed" = 0 ] && line=$(grep -a -m1 -E '^INTEROP-ARM cntlid=[0-9]+' "$CONSOLE" 2>/dev/null); then
			cntlid=$(tr -d '\r' <<<"${line#INTEROP-ARM cntlid=}")
			echo "fopcode 1 2000 $cntlid" >&"$LAB_CTL"
			local t=$SECONDS
			until grep -q "^ok: fopcode 0x01 2000 ms armed on controller $cntlid\$" "$LAB_LOG"; do
				! grep -q '^error: ' "$LAB_LOG" || die "the target refused 'fopcode 1 2000 $cntlid': $(grep '^error: ' "$LAB_LOG")"
				[ $((SECONDS - t)) -lt 10 ] || die "the target did not answer 'fopcode 1 2000 $cntlid' within 10 s"
				sleep 0.05
			done
			# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
			timeout 5 bash -c 'echo "armed: fopcode 1 2000 on controller $1" >"$2"' answer "$cntlid" "$serial.in" ||
				die "cannot answer the guest on $serial.in"
			info "armed fopcode 1 2000 on controller $cntlid (the guest's nvme0), told the guest"
			armed=1
		fi
		[ $((SECONDS - start)) -lt "$HOST_TIMEOUT" ] || die "the rwtest guest still runs after $HOST_TIMEOUT s"
		sleep 0.1
	done
	# The console, then from the kernel log the nvme messages and rw_test's -v lines (with their time stamps).
	tr -d '\r' <"$CONSOLE" | grep -a -E '^(interop:|INTEROP-(ARM|RWTEST|PASS|FAIL)|iteration|validat|successfully|starting|finished|failed|\[.*\] nvme)' |
		sed 's/^/    guest /' || true
	tr -d '\r' <"$CONSOLE" | sed -n 's/^INTEROP-DMESG \(.*\] \(nvme\|rw_test: \|interop: \).*\)/    guest dmesg \1/p'
	host_verdict "$CONSOLE"
}

# fact FACTS_LINE KEY: the value of KEY in a "FACTS|source|key=value ..." line of timeline.awk.
fact() {
	local line=" ${1#FACTS|*|} "
	line=${line#* "$2"=}
	[ "$line" != " ${1#FACTS|*|} " ] || return 0
	echo "${line%% *}"
}

# rwtest_wire PCAP: the guest's capture as the columns scripts/interop/timeline.awk reads (empty without tshark).
rwtest_wire() {
	command -v tshark >/dev/null 2>&1 || return 0
	tshark -r "$1" -d "tcp.port==$HOST_PORT,nvme-tcp" -d "tcp.port==$HOST_PORT2,nvme-tcp" \
		-Y 'nvme-tcp || tcp.flags.fin==1 || tcp.flags.reset==1' -T fields -E separator=/t \
		-e frame.number -e frame.time_epoch -e tcp.stream -e tcp.srcport -e tcp.dstport -e tcp.flags.fin \
		-e tcp.flags.reset -e nvme-tcp.type -e nvme-tcp.cmd.qid -e nvme.cmd.opc -e nvme.cmd.cid -e nvme.cqe.cid \
		-e nvme-tcp.pdo -e tcp.reassembled.data -e tcp.payload 2>/dev/null |
		awk -F '\t' -v src=wire -v port1="$HOST_PORT" -v port2="$HOST_PORT2" -f "$REPO/scripts/interop/timeline.awk"
}

# rwtest_verdict NAME EXPECT ITERATIONS: checks the run just made (CONSOLE, LAB_LOG) against EXPECT: "valid" (every
# iteration validates, no recovery) or "corrupt" (the stale write: validation failed in the first iteration, and the
# target's log, the capture and the guest's log tell why), and prints what was seen; "corrupt" prints the timeline.
rwtest_verdict() {
	local name=$1 expect=$2 iterations=$3
	local awkf=$REPO/scripts/interop/timeline.awk pcap=${CONSOLE%.log}.pcap
	local rc validated started vfailed
	rc=$(grep -a -m1 '^INTEROP-RWTEST exit=' "$CONSOLE" | tr -d '\r' || true)
	rc=${rc#INTEROP-RWTEST exit=}
	validated=$(grep -a -c '^successfully validated' "$CONSOLE" || true)
	started=$(grep -a -c '^iteration number ' "$CONSOLE" || true)
	vfailed=$(grep -a -c '^validation failed' "$CONSOLE" || true)
	local target_events tf
	target_events=$(awk -v src=target -f "$awkf" "$LAB_LOG")
	tf=$(grep '^FACTS|' <<<"$target_events" || true)
	if [ "$expect" = valid ]; then
		[ "$rc" = 0 ] || die "$name: rw_test exited $rc, expected 0 (every iteration validated)"
		[ "$validated" = "$iterations" ] || die "$name: rw_test validated $validated of $iterations iterations"
		[ "$vfailed" = 0 ] || die "$name: rw_test printed 'validation failed'"
		[ "$(fact "$tf" fault)" = 0 ] || die "$name: a fault fired in the target without being armed"
		[ "$(fact "$tf" write_paths)" = 2 ] ||
			die "$name: rw_test's writes reached $(fact "$tf" write_paths) controller(s), expected both (round-robin)"
		local bad
		bad=$(grep -a -E 'nvme.*(error recovery|Reconnecting|timeout|I/O error|resetting)' "$CONSOLE" | head -n 3 | tr -d '\r' || true)
		[ -z "$bad" ] || die "$name: the guest kernel reported: $bad"
		check "$name: rw_test validated $validated of $iterations iterations; both controllers executed its writes" \
			"(round-robin); no error recovery in the guest"
		wire_check "$pcap" strict "$HOST_PORT" "$HOST_PORT2"
		return 0
	fi
	# The stale write.
	local seen="rw_test exited $rc after $started iteration(s), $validated validated, $vfailed 'validation failed'"
	if [ "$rc" != 1 ] || [ "$vfailed" != 1 ] || [ "$started" != 1 ] || [ "$validated" != 0 ]; then
		die "$name: expected 'validation failed' in iteration 0 and exit status 1; $seen"
	fi
	local held value
	held=$(fact "$tf" held)
	value=$(fact "$tf" held_value)
	[ "$(fact "$tf" fault)" = 1 ] || die "$name: no fault fired in the target's log ($tf)"
	[ "$(fact "$tf" failed)" = 1 ] || die "$name: the held Write's controller did not fail in the target's log ($tf)"
	case "$value" in
	[0-8]) ;;
	*) die "$name: the held Write carried $value, not one of the values 0..8 the test needs ($tf)" ;;
	esac
	[ "$(fact "$tf" retry)" = 1 ] || die "$name: the target's log shows no retry of value $value ($tf)"
	[ "$(fact "$tf" retry_ctrl)" != "$held" ] || die "$name: the retry ran on the held Write's controller ($tf)"
	[ "$(fact "$tf" landed)" = 1 ] || die "$name: the target's log shows no landing of the held Write ($tf)"
	[ "$(fact "$tf" landed_value)" = "$value" ] || die "$name: the landed Write is not the held one ($tf)"
	[ "$(fact "$tf" order)" = 1 ] ||
		die "$name: the target's log does not show retry < value 9 written < held Write landed < read ($tf)"
	[ "$(fact "$tf" read_value)" = "$value" ] ||
		die "$name: the target read back value $(fact "$tf" read_value), expected the stale $value ($tf)"
	local guest_events gf
	guest_events=$(awk -v src=guest -v value="$value" -f "$awkf" "$CONSOLE")
	gf=$(grep '^FACTS|' <<<"$guest_events" || true)
	[ "$(fact "$gf" read_value)" = "$value" ] ||
		die "$name: rw_test read back value $(fact "$gf" read_value), expected $value ($gf)"
	local wire_events="" wf
	if command -v tshark >/dev/null 2>&1; then
		wire_events=$(rwtest_wire "$pcap")
		wf=$(grep '^FACTS|' <<<"$wire_events" || true)
		local k
		for k in held fin retry_done newest; do
			[ "$(fact "$wf" "$k")" = 1 ] ||
				die "$name: the capture lacks '$k' (held Write, path 1 closed, retry completed on path 2, value 9 completed: $wf)"
		done
		[ "$(fact "$wf" read_value)" = "$value" ] || die "$name: the capture's read returned not value $value ($wf)"
	else
		info "tshark not installed: the capture's part of the timeline is skipped"
	fi
	info "timeline: target = nvme-lab's log, wire = the guest's capture, guest = the guest kernel's log with rw_test's"
	info "lines; each on its own clock, 0 where it sees the held Write (fault fired / Write sent / write issued):"
	printf '%s\n%s\n%s\n' "$target_events" "$wire_events" "$guest_events" | awk -F '|' '
		$1 == "FACTS" || NF < 4 { next }
		$3 == "kernel" && $4 ~ /Removing ctrl|I\/O queues|default\/read\/poll/ { next }
		{ n++; t[n] = $1; s[n] = $2; w[n] = $3; x[n] = $4; if ($3 == "held Write" && !($2 in a)) a[$2] = $1 }
		END {
			for (i = 1; i <= n; i++)
				printf "%.6f|%d|%s|%s|%s\n", t[i] - a[s[i]], s[i] == "target" ? 1 : s[i] == "wire" ? 2 : 3, s[i], w[i], x[i]
		}' | sort -t '|' -k1,1g -k2,2n -s | awk -F '|' '{ printf "      %+8.3f s  %-6s  %-12s  %s\n", $1, $3, $4, $5 }'
	check "$name: rw_test printed 'validation failed' in iteration 0 (read back value $value, expected 9): the host" \
		"retried the held Write of value $value on controller $(fact "$tf" retry_ctrl) $(fact "$tf" retry_ms) ms after" \
		"the fault, wrote values up to 9 there, and the held Write landed $(fact "$tf" landed_ms) ms after the fault," \
		"over them"
	wire_check "$pcap" strict "$HOST_PORT" "$HOST_PORT2"
}

# After the cqt scenario: the Linux host was told CQT (our target's log and the Identify data in the capture) and
# corrupted all the same.
rwtest_cqt_seen() {
	grep -q 'target started .* cqt_ms=1 ' "$LAB_LOG" || die "cqt: the target did not start with CQT 1 ms"
	local seen
	seen=$("$LAB" decode --pcap "${CONSOLE%.log}.pcap" 2>/dev/null | grep -c '"identify_controller":{.*"cqt":1,"cqt_reported":true' || true)
	[ "$seen" -ge 2 ] || die "cqt: the capture shows $seen Identify Controller answers with CQT 1, expected one per controller"
	local tf kato
	tf=$(awk -v src=target -f "$REPO/scripts/interop/timeline.awk" "$LAB_LOG" | grep '^FACTS|')
	kato=$(grep -m1 -o 'controller created .* kato_ms=[0-9]*' "$LAB_LOG" | sed 's/.*kato_ms=//')
	check "cqt: the Linux host read CQT 1 ms in Identify Controller ($seen answers in the capture, nvme-lab decode)" \
		"and still retried the held Write on the other path $(fact "$tf" retry_ms) ms after the fault: the data is" \
		"corrupted with CQT set. Linux $KVER has no CQT code; the host side of the recovery series would hold the" \
		"Write (TBKAS ? 3 : 2) x KATO + CQT = 3 x $kato + 1 = $((3 * kato + 1)) ms, past the 2000 ms the target" \
		"holds it, so the CQT promise protects only a host that honours it"
}

run_rwtest() {
	build_lab
	local what t0
	for what in ${NVME_INTEROP_RWTEST_SCENARIOS:-nofault fopcode cqt}; do
		t0=$SECONDS
		case "$what" in
		nofault)
			step "rwtest, no fault: the Linux host, two paths, round-robin, rw_test $RWTEST_ITERATIONS iterations"
			start_lab_target "$CACHE/rwtest-nofault.log"
			rwtest_guest nofault 0 "$RWTEST_ITERATIONS" 0
			rwtest_verdict nofault valid "$RWTEST_ITERATIONS"
			;;
		fopcode)
			step "rwtest, fopcode 1 2000 on the first controller"
			start_lab_target "$CACHE/rwtest-fopcode.log"
			rwtest_guest fopcode 1 "$RWTEST_ITERATIONS" "$RWTEST_RECONNECT_WAIT"
			rwtest_verdict fopcode corrupt "$RWTEST_ITERATIONS"
			;;
		cqt)
			step "rwtest, fopcode 1 2000, our target reporting CQT 1 ms"
			start_lab_target "$CACHE/rwtest-cqt.log" --cqt 1
			rwtest_guest cqt 1 "$RWTEST_ITERATIONS" 0
			rwtest_verdict cqt corrupt "$RWTEST_ITERATIONS"
			rwtest_cqt_seen
			;;
		*) die "unknown rwtest scenario '$what' (NVME_INTEROP_RWTEST_SCENARIOS: nofault fopcode cqt)" ;;
		esac
		stop_lab_target
		info "rwtest $what: $((SECONDS - t0)) s"
	done
}

run_probe() {
	local console=$CACHE/console-probe-target.log
	boot_linux_target "$console"
	local target_qemu=$QEMU_PID

	step "Linux host against the Linux target (10.0.2.2:$TARGET_PORT1): the host guest's test, checked on a known peer"
	console=$CACHE/console-probe-pair.log
	boot_guest host "$console" "" "$TARGET_PORT1"
	wait_exit "$QEMU_PID" "$HOST_TIMEOUT"
	grep -a -E '^interop:|\] nvme' "$console" | tr -d '\r' | sed 's/^/    guest /'
	host_verdict "$console"
	wire_check "${console%.log}.pcap" strict "$TARGET_PORT1"
	kill -0 "$target_qemu" 2>/dev/null || die "the Linux target guest died during the host test"
	stop_bg "$target_qemu"

	step "Linux host: boot (TCG), its ICReq must reach a silent listener on 127.0.0.1:$HOST_PORT"
	if listening "$HOST_PORT"; then die "127.0.0.1:$HOST_PORT is already in use"; fi
	local capture=$CACHE/probe-icreq.bin log=$CACHE/probe-listener.log
	rm -f "$capture"
	LOGS+=("$log")
	# busybox nc: listens on 127.0.0.1 only, records what the guest sends, closes its side at once (stdin is empty),
	# so the kernel sees the connection end without an ICResp and gives up.
	# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
	start_bg "$log" bash -c 'exec /bin/busybox nc -l -p "$1" 127.0.0.1 >"$2"' probe "$HOST_PORT" "$capture"
	local nc_pid=$BG_PID start=$SECONDS
	until listening "$HOST_PORT"; do
		kill -0 "$nc_pid" 2>/dev/null || die "busybox nc exited before listening"
		[ $((SECONDS - start)) -lt 10 ] || die "busybox nc not listening after 10 s"
		sleep 0.1
	done
	console=$CACHE/console-probe-host.log
	boot_guest probe "$console" ""
	wait_exit "$QEMU_PID" "$HOST_TIMEOUT"
	grep -a -E '^(interop:|INTEROP-)|nvme' "$console" | tr -d '\r' | sed 's/^/    guest /'
	stop_bg "$nc_pid"
	local b
	read -r -a b <<<"$(head -c 128 "$capture" | od -An -v -tx1 | tr '\n' ' ')"
	[ "${#b[@]}" -eq 128 ] || die "the listener received ${#b[@]} bytes from the guest, not a 128-byte ICReq"
	if [ "${b[0]}" != 00 ] || [ "${b[2]}" != 80 ] || [ "${b[4]}${b[5]}${b[6]}${b[7]}" != 80000000 ]; then
		die "the guest's first PDU is not an ICReq: ${b[*]:0:16}"
	fi
	[ "${b[11]}" = 03 ] || die "the guest's ICReq asks for DGST 0x${b[11]}, not 0x03 (hdr_digest,data_digest)"
	check "the Linux host sent an ICReq to 10.0.2.2:$HOST_PORT: PFV $((16#${b[9]}${b[8]})), HPDA $((16#${b[10]}))," \
		"DGST 3, MAXR2T $((16#${b[15]}${b[14]}${b[13]}${b[12]}))"
}

# ---------------------------------------------------------------------------------------------------------------
# Linux 6.12 (Debian 13): in-band authentication both ways, and the 6.1 tests again (spec-notes/interop.md,
# "Linux 6.12"). Debian 12's 6.1 is built without NVMe authentication; Debian 13's kernel has it (NVME_HOST_AUTH,
# NVME_TARGET_AUTH, the RFC 7919 groups). Its package comes through a private sources list and package lists under
# the cache (apt-get -o Dir::Etc::SourceList=... -o Dir::State::Lists=...): the system's apt sources are untouched.

K612_SUITE=${NVME_INTEROP_612_SUITE:-trixie}
# 6.12 builds crct10dif and crc64-rocksoft in; virtio_pci is built in too. Two null_blk devices: one namespace for
# the open subsystem (the 6.1 tests), one for the authenticating one.
TARGET_MODULES_612=(crc32c_generic configfs nvmet nvmet-tcp "null_blk memory_backed=1 gb=1 nr_devices=2" virtio_net)
HOST_MODULES_612=(crc32c_generic "nvme-core admin_timeout=5" nvme-fabrics nvme-tcp virtio_net)
# The module directories of the 6.12 package the guests need (kept compressed in the .deb, decompressed here).
K612_MODULE_DIRS=(drivers/nvme drivers/block/null_blk drivers/net/virtio_net.ko.xz drivers/net/net_failover.ko.xz
	net/core/failover.ko.xz fs/configfs crypto lib)
# Host NQNs of the authentication tests (nvmet host entries, our target's --allow-host).
AUTH_HOST_PREFIX=nqn.2014-08.org.nvmexpress:uuid:5e6f7a8b-0c1d-4e2f-8a3b-4c5d6e7f80
AUTH_DIR=""

# apt with the private sources list, package lists and cache of K612_SUITE (and the system's status ignored).
apt612() {
	local a=$CACHE/apt-$K612_SUITE
	apt-get -q -o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/parts" \
		-o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o Dir::State::status=/dev/null \
		-o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false "$@"
}

# The kernel package linux-image-amd64 of K612_SUITE depends on (empty without package lists).
kernel_package_612() {
	local a=$CACHE/apt-$K612_SUITE
	apt-cache -o "Dir::Etc::SourceList=$a/sources.list" -o "Dir::Etc::SourceParts=$a/parts" \
		-o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o Dir::State::status=/dev/null \
		depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true
}

# Sets K612_VER and K612_DIR (boot/ and lib/modules/<ver>/kernel with the needed modules decompressed).
fetch_kernel_612() {
	step "kernel 6.12: linux-image-amd64 of Debian 13 ($K612_SUITE), private sources list (system apt sources untouched)"
	local a=$CACHE/apt-$K612_SUITE dl=$CACHE/dl612 pkg cached
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/parts" "$dl"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $K612_SUITE main" \
		>"$a/sources.list"
	cached=$(find "$CACHE" -maxdepth 2 -name .unpacked -path '*/k612-linux-image-*' 2>/dev/null | sort | tail -n 1)
	pkg=$(kernel_package_612)
	if [ -z "$pkg" ] && [ -n "$cached" ]; then
		pkg=$(basename "$(dirname "$cached")")
		pkg=${pkg#k612-}
	elif [ -z "$pkg" ]; then
		info "apt-get update with $a/sources.list (about 10 MB of package lists)"
		apt612 update >"$dl/update.log" 2>&1 || die "apt-get update for $K612_SUITE failed (log: $dl/update.log)"
		pkg=$(kernel_package_612)
	fi
	[ -n "$pkg" ] || die "cannot tell which kernel package linux-image-amd64 depends on in $K612_SUITE"
	K612_VER=${pkg#linux-image-}
	K612_DIR=$CACHE/k612-$pkg
	if [ ! -f "$K612_DIR/.unpacked" ] && [ -z "$(find "$dl" -maxdepth 1 -name "${pkg}_*.deb")" ]; then
		info "apt-get download $pkg (about 110 MB)"
		if ! (cd "$dl" && apt612 download "$pkg") >"$dl/apt.log" 2>&1; then
			info "download failed: apt-get update, then once more"
			apt612 update >"$dl/update.log" 2>&1 || die "apt-get update for $K612_SUITE failed (log: $dl/update.log)"
			pkg=$(kernel_package_612)
			K612_VER=${pkg#linux-image-}
			K612_DIR=$CACHE/k612-$pkg
			(cd "$dl" && apt612 download "$pkg") >"$dl/apt.log" 2>&1 || die "apt-get download $pkg failed ($dl/apt.log)"
		fi
	fi
	if [ ! -f "$K612_DIR/.unpacked" ]; then
		local deb d want=()
		deb=$(find "$dl" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
		[ -n "$deb" ] || die "apt-get download $pkg produced no .deb in $dl"
		info "unpacking $(basename "$deb"): boot/ and the guests' module directories, .ko.xz decompressed"
		for d in "${K612_MODULE_DIRS[@]}"; do want+=("./usr/lib/modules/$K612_VER/kernel/$d"); done
		rm -rf "$K612_DIR.tmp"
		mkdir -p "$K612_DIR.tmp/lib"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$K612_DIR.tmp" ./boot "${want[@]}"
		mv "$K612_DIR.tmp/usr/lib/modules" "$K612_DIR.tmp/lib/modules"
		rm -rf "$K612_DIR.tmp/usr"
		find "$K612_DIR.tmp/lib/modules" -name '*.ko.xz' -exec xz -d {} +
		rm -rf "$K612_DIR"
		mv "$K612_DIR.tmp" "$K612_DIR"
		touch "$K612_DIR/.unpacked"
	fi
	[ -f "$K612_DIR/boot/vmlinuz-$K612_VER" ] || die "no $K612_DIR/boot/vmlinuz-$K612_VER in the package"
	grep -q '^CONFIG_NVME_TARGET_AUTH=y' "$K612_DIR/boot/config-$K612_VER" ||
		die "kernel $K612_VER is built without CONFIG_NVME_TARGET_AUTH"
	check "kernel $K612_VER ($K612_DIR): $(grep -cE '^CONFIG_NVME_(HOST|TARGET)_AUTH=y' "$K612_DIR/boot/config-$K612_VER") of NVME_HOST_AUTH, NVME_TARGET_AUTH built in"
}

# Appended to the console and log names of the 6.1 roles run again with 6.12 (so that both runs' files stay).
CONSOLE_SUFFIX=""

# Runs "$@" with the 6.12 kernel, its initramfs and its module lists in place of the 6.1 ones.
with_612() {
	local kver=$KVER kdir=$KDIR initrd=${INITRD:-} rc=0
	local tm=("${TARGET_MODULES[@]}") hm=("${HOST_MODULES[@]}")
	KVER=$K612_VER KDIR=$K612_DIR INITRD=$CACHE/initrd-$K612_VER.gz CONSOLE_SUFFIX=-612
	TARGET_MODULES=("${TARGET_MODULES_612[@]}")
	HOST_MODULES=("${HOST_MODULES_612[@]}")
	MODFILE=()
	"$@" || rc=$?
	KVER=$kver KDIR=$kdir INITRD=$initrd CONSOLE_SUFFIX=""
	TARGET_MODULES=("${tm[@]}")
	HOST_MODULES=("${hm[@]}")
	MODFILE=()
	return "$rc"
}

# A fresh DH-HMAC-CHAP secret from our gen-dhchap-key (HMAC id $1, host NQN $2).
gen_key() {
	(cd "$REPO" && cargo run -q --release -p nvme-lab -- gen-dhchap-key --hmac "$1" --nqn "$2")
}

# Fresh keys for this run (target/interop/auth/, mode 0600; never printed) and the guests' configuration files:
# auth-target.conf (nvmet host entries: NQN KEY CTRLKEY HASH DHGROUP), auth-host.conf (the Linux host's scenarios
# against our target: NAME NQN SECRET CTRLSECRET EXPECT), keys.env (for our target).
auth_keys() {
	step "keys: fresh DH-HMAC-CHAP secrets from nvme-lab gen-dhchap-key (kept in $CACHE/auth, never printed)"
	(cd "$REPO" && cargo build -q --release -p nvme-lab) || die "cannot build: cargo build --release -p nvme-lab"
	AUTH_DIR=$CACHE/auth
	rm -rf "$AUTH_DIR"
	mkdir -p "$AUTH_DIR"
	chmod 0700 "$AUTH_DIR"
	local h1=${AUTH_HOST_PREFIX}a1 h2=${AUTH_HOST_PREFIX}a2 h3=${AUTH_HOST_PREFIX}a3 h4=${AUTH_HOST_PREFIX}a4
	local k1 k2 c2 k3 c3 k4 c4 w
	k1=$(gen_key 1 "$h1") k2=$(gen_key 3 "$h2") c2=$(gen_key 2 "$h2") k3=$(gen_key 0 "$h3") c3=$(gen_key 1 "$h3")
	k4=$(gen_key 1 "$h4") c4=$(gen_key 3 "$h4") w=$(gen_key 1 "$h4")
	(
		umask 077
		# nvmet: unidirectional SHA-256 + ffdhe2048; bidirectional SHA-512 + ffdhe8192 (the largest group);
		# bidirectional SHA-384 + NULL.
		printf '%s %s - sha256 ffdhe2048\n%s %s %s sha512 ffdhe8192\n%s %s %s sha384 null\n' \
			"$h1" "$k1" "$h2" "$k2" "$c2" "$h3" "$k3" "$c3" >"$AUTH_DIR/auth-target.conf"
		# The Linux host against our target (keys k4/c4 for h4): both directions, one way, a wrong secret, a wrong
		# controller secret.
		printf '%s\n' "bidirectional $h4 $k4 $c4 ok" "unidirectional $h4 $k4 - ok" "wrong-secret $h4 $w - refused" \
			"wrong-ctrl-secret $h4 $k4 $w refused" >"$AUTH_DIR/auth-host.conf"
		printf 'AUTH_HOST=%s\nAUTH_KEY=%s\nAUTH_CTRL_KEY=%s\n' "$h4" "$k4" "$c4" >"$AUTH_DIR/keys.env"
	)
	check "3 nvmet host entries, 4 Linux host scenarios; secrets: $(grep -c . "$AUTH_DIR/auth-target.conf") + 4 + 1 wrong"
}

# Builds the 6.12 initramfs (build_initramfs with the 6.12 kernel) and appends a second cpio archive with the
# authentication files and the order files of the auth roles (the kernel unpacks concatenated archives in order).
build_initramfs_612() {
	with_612 build_initramfs
	local extra=$CACHE/initramfs-auth-$K612_VER initrd=$CACHE/initrd-$K612_VER.gz
	rm -rf "$extra"
	mkdir -p "$extra/modules"
	cp "$CACHE/initramfs-$K612_VER/modules/target.order" "$extra/modules/authtarget.order"
	cp "$CACHE/initramfs-$K612_VER/modules/host.order" "$extra/modules/authhost.order"
	install -m 0600 "$AUTH_DIR/auth-target.conf" "$AUTH_DIR/auth-host.conf" "$extra/"
	(cd "$extra" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >>"$initrd")
	rm -rf "$extra"
	check "$initrd with /auth-target.conf and /auth-host.conf appended"
}

# Fails when a secret of this run appears in FILE.
no_secrets_in() {
	local f=$1 k payload
	while read -r k; do
		payload=${k:10}
		payload=${payload%:}
		if grep -qF -- "$payload" "$f"; then die "a DH-HMAC-CHAP secret appears in $f"; fi
	done < <(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^DHHC-1:/) print $i }' "$AUTH_DIR"/auth-*.conf | sort -u)
}

# Our host against Linux 6.12 nvmet: the 6.1 tests (open subsystem) and the authentication tests (NQN-auth), one
# boot of role authtarget.
run_auth_target() {
	local console=$CACHE/console-612-target.log
	step "building nvme-tokio's linux_interop and linux_interop_auth tests"
	(cd "$REPO" && cargo test --release -p nvme-tokio --test linux_interop --test linux_interop_auth --no-run) ||
		die "cannot build: cargo test --release -p nvme-tokio --test linux_interop --test linux_interop_auth --no-run"
	step "Linux $K612_VER target: boot (TCG), nvmet-tcp with $NQN (any host) and $NQN-auth (DH-HMAC-CHAP hosts)"
	if listening "$TARGET_PORT1" || listening "$TARGET_PORT2"; then
		die "127.0.0.1:$TARGET_PORT1 or 127.0.0.1:$TARGET_PORT2 is already in use"
	fi
	local start=$SECONDS
	with_612 boot_guest authtarget "$console" \
		",restrict=on,hostfwd=tcp:127.0.0.1:$TARGET_PORT1-:4420,hostfwd=tcp:127.0.0.1:$TARGET_PORT2-:4421"
	wait_console "$console" "$QEMU_PID" "$BOOT_TIMEOUT" '^INTEROP-READY'
	check "$(grep -m1 '^INTEROP-READY' "$console" | tr -d '\r') after $((SECONDS - start)) s"
	grep -a '^interop: host ' "$console" | tr -d '\r' | sed 's/^/    guest /'
	probe_icresp "$TARGET_PORT1"
	step "nvme-tokio linux_interop (the 6.1 tests) against Linux $K612_VER (timeout $TEST_TIMEOUT s)"
	(cd "$REPO" && NVME_INTEROP_ADDR=127.0.0.1:$TARGET_PORT1 NVME_INTEROP_ADDR2=127.0.0.1:$TARGET_PORT2 \
		NVME_INTEROP_NQN=$NQN NVME_INTEROP_QEMU_PID=$QEMU_PID NVME_INTEROP_KERNEL=$K612_VER \
		exec timeout --kill-after=10 "$TEST_TIMEOUT" \
		cargo test --release -p nvme-tokio --test linux_interop -- --ignored --test-threads=1) &
	local test_pid=$!
	PIDS+=("$test_pid")
	wait "$test_pid" || die "nvme-tokio linux_interop failed against Linux $K612_VER nvmet (or ran over $TEST_TIMEOUT s)"
	check "nvme-tokio linux_interop passed against Linux $K612_VER nvmet-tcp"
	step "nvme-tokio linux_interop_auth against Linux $K612_VER nvmet ($NQN-auth; keys from $AUTH_DIR/auth-target.conf)"
	(cd "$REPO" && NVME_INTEROP_ADDR=127.0.0.1:$TARGET_PORT1 NVME_INTEROP_AUTH_NQN=$NQN-auth \
		NVME_INTEROP_AUTH_CONF=$AUTH_DIR/auth-target.conf \
		exec timeout --kill-after=10 "$TEST_TIMEOUT" \
		cargo test --release -p nvme-tokio --test linux_interop_auth -- --ignored --test-threads=1 --nocapture) &
	test_pid=$!
	PIDS+=("$test_pid")
	wait "$test_pid" || die "nvme-tokio linux_interop_auth failed against Linux $K612_VER nvmet"
	kill -0 "$QEMU_PID" 2>/dev/null || die "the Linux $K612_VER target guest died during the tests"
	check "our host authenticated to Linux $K612_VER nvmet with every host entry; wrong keys refused"
	sleep 1
	info "what nvmet logged about authentication:"
	# The admin queues' steps (the I/O queues repeat them), without the challenge and response bytes.
	grep -aE 'nvmet: (creating nvm controller .*DH-HMAC-CHAP|.*qid 0.*(selected DH group|host authenticated|ctrl authenticated|mismatch|failure|status [1-9])|.*fatal error|connect by host .*not allowed)' \
		"$console" | grep -avE '(challenge|response)( [0-9a-f]{2}){4}' | tr -d '\r' | sed 's/^/    guest /' | head -n 60
	grep -aqE 'nvmet.*with DH-HMAC-CHAP' "$console" || die "nvmet never logged a DH-HMAC-CHAP controller"
	grep -aqE 'nvmet.*(host response mismatch|failure1|Failure1)' "$console" ||
		die "nvmet did not log the wrong key's failure"
	no_secrets_in "$console"
	stop_bg "$QEMU_PID"
	wire_check "${console%.log}.pcap" report 4420 4421
	auth_wire_summary "${console%.log}.pcap"
}

# What the DH-HMAC-CHAP messages of a capture say, through our decoder (tshark shows their bytes only).
auth_wire_summary() {
	local pcap=$1
	(cd "$REPO" && cargo run -q --release -p nvme-lab -- decode --pcap "$pcap") 2>/dev/null |
		grep -o '"auth":{"message":"[^"]*"[^}]*' |
		sed -E 's/"auth":\{"message":"([^"]*)".*"hash_id_name":"([^"]*)".*"dh_group_name":"([^"]*)".*/\1 \2 \3/;
			s/"auth":\{"message":"([^"]*)".*"rce_name":"([^"]*)".*/\1 \2/; s/"auth":\{"message":"([^"]*)".*/\1/' |
		sort | uniq -c | sed 's/^ */    decode: /' || true
}

# The Linux 6.12 host against our target with keys: both directions, one way, a wrong secret, a wrong controller
# secret (one boot of role authhost; scenarios from auth-host.conf).
run_auth_host() {
	local console=$CACHE/console-612-authhost.log log=$CACHE/target-612-auth.log
	# shellcheck disable=SC1091 # written by auth_keys
	. "$AUTH_DIR/keys.env"
	step "our target with keys: nvme-lab target --allow-host $AUTH_HOST --dhchap-key <redacted> --dhchap-ctrl-key <redacted>"
	if listening "$HOST_PORT"; then die "127.0.0.1:$HOST_PORT is already in use"; fi
	LOGS+=("$log")
	# shellcheck disable=SC2016 # expanded by the inner bash
	start_bg "$log" bash -c 'cd "$1" && exec cargo run -q --release -p nvme-lab -- target --listen "127.0.0.1:$2" \
		--nqn "$3" --allow-host "$4" --dhchap-key "$5" --dhchap-ctrl-key "$6"' \
		target "$REPO" "$HOST_PORT" "$NQN" "$AUTH_HOST" "$AUTH_KEY" "$AUTH_CTRL_KEY"
	local target_pid=$BG_PID
	wait_listening "$target_pid" "our target (log $log)" "$HOST_PORT"
	step "Linux $K612_VER host: boot (TCG), DH-HMAC-CHAP scenarios against 10.0.2.2:$HOST_PORT"
	with_612 boot_guest authhost "$console" ""
	wait_exit "$QEMU_PID" "$HOST_TIMEOUT"
	grep -a -E '^interop:' "$console" | tr -d '\r' | sed 's/^/    guest /'
	host_verdict "$console"
	info "what our target logged:"
	sed 's/^/    target /' "$log"
	grep -q 'authenticated with hash .*controller authenticated too' "$log" ||
		die "our target logged no bidirectional authentication"
	grep -q 'authentication failed' "$log" || die "our target logged no refused authentication"
	no_secrets_in "$console"
	no_secrets_in "$log"
	wire_check "${console%.log}.pcap" strict "$HOST_PORT"
	auth_wire_summary "${console%.log}.pcap"
	kill -0 "$target_pid" 2>/dev/null || die "the target died during the authentication scenarios"
	stop_bg "$target_pid"
}

# One direction only (by hand, while working on one side): the kernel, keys and initramfs, then $1.
run_612_one() {
	fetch_kernel_612
	auth_keys
	build_initramfs_612
	"$1"
}

# Everything against Linux 6.12: the kernel, keys and initramfs, our host against nvmet (the 6.1 tests and the
# authentication tests), the Linux host against our target (the 6.1 test, then the authentication scenarios).
run_612() {
	fetch_kernel_612
	auth_keys
	build_initramfs_612
	run_auth_target
	step "the Linux host test against our target, with Linux $K612_VER"
	with_612 run_host
	run_auth_host
}

main() {
	local what=${1:-all}
	case "$what" in
	target | host | rwtest | all | probe | prepare | auth | auth-target | auth-host) ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown mode '$what' (use target, host, rwtest, all, probe, auth, auth-target, auth-host or prepare)" ;;
	esac
	local start=$SECONDS
	prepare
	case "$what" in
	target) run_target ;;
	host) run_host ;;
	rwtest) run_rwtest ;;
	all)
		run_target
		run_host
		run_rwtest
		run_612
		;;
	probe) run_probe ;;
	auth) run_612 ;;
	auth-target) run_612_one run_auth_target ;;
	auth-host) run_612_one run_auth_host ;;
	esac
	step "interop $what: PASSED in $((SECONDS - start)) s"
}

main "$@"
