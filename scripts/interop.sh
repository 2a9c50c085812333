#!/usr/bin/env bash
# Interop with the real Linux NVMe/TCP stack: Debian's own kernel booted under qemu (TCG) with a busybox initramfs.
#
#   scripts/interop.sh [target|host|all|probe|prepare]
#
#   target   Linux as the TARGET (nvmet-tcp, memory-backed null_blk namespace), reached on 127.0.0.1:14420 (and a second
#            path on 127.0.0.1:14421); runs nvme-tokio's `linux_interop` test against it.
#   host     Linux as the HOST (nvme-tcp with header and data digests) connecting to our target
#            (`nvme-lab target --listen 127.0.0.1:4420`): writes pattern regions, reads them back, compares.
#   all      target, then host (the default; what CI runs).
#   probe    checks the Linux peers and this harness without any of our code: an ICReq to the Linux target must get
#            an ICResp, the Linux host guest's whole test must pass against the Linux target, and the Linux host's
#            ICReq must reach a silent listener on 127.0.0.1:4420.
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

install_packages() {
	step "packages: qemu-system-x86 and busybox-static"
	local missing=()
	command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
	[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] || missing+=(busybox-static)
	if [ "${#missing[@]}" -gt 0 ]; then
		info "installing ${missing[*]}"
		$SUDO apt-get update -qq
		$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after installing qemu-system-x86"
	[ -x /bin/busybox ] || die "/bin/busybox not found after installing busybox-static"
	check "$(qemu-system-x86_64 --version | head -n 1)"
	check "$(/bin/busybox | head -n 1) (static, from busybox-static)"
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
	step "initramfs: busybox-static, the modules in load order, scripts/interop/init.sh as /init"
	index_modules
	local root=$CACHE/initramfs-$KVER
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
	cp /bin/busybox "$root/bin/busybox"
	install -m 0755 "$REPO/scripts/interop/init.sh" "$root/init"
	write_order "$root/modules/target.order" "${TARGET_MODULES[@]}"
	write_order "$root/modules/host.order" "${HOST_MODULES[@]}"
	cp "$root/modules/host.order" "$root/modules/probe.order"
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
	build_initramfs
}

# ---------------------------------------------------------------------------------------------------------------
# Guests.

# boot_guest ROLE CONSOLE NETDEV_OPTIONS [PORT]: starts qemu in the background; sets QEMU_PID. PORT: where the host and
# probe roles connect (10.0.2.2:PORT is the development machine's 127.0.0.1:PORT). The guest's network traffic (as
# the guest sees it: Ethernet, guest ports) is written to CONSOLE with .pcap for .log.
boot_guest() {
	local role=$1 console=$2 nic=$3 port=${4:-$HOST_PORT}
	rm -f "$console" "${console%.log}.pcap"
	CONSOLES+=("$console")
	local append="console=ttyS0 quiet panic=-1 interop_role=$role interop_nqn=$NQN"
	append+=" interop_port=$port interop_hostnqn=$HOSTNQN interop_hostid=$HOSTID"
	start_bg "$console.qemu" qemu-system-x86_64 -accel tcg -smp 2 -m "$GUEST_MEM" \
		-display none -monitor none -serial "file:$console" -no-reboot \
		-kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$append" \
		-netdev "user,id=n0$nic" -device virtio-net-pci,netdev=n0 \
		-object "filter-dump,id=d0,netdev=n0,file=${console%.log}.pcap"
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
	line=$(grep -aE '^INTEROP-(PASS|FAIL)' "$console" | tail -n 1 | tr -d '\r')
	[ -n "$line" ] || die "the Linux host guest printed neither INTEROP-PASS nor INTEROP-FAIL"
	case "$line" in
	INTEROP-PASS*) check "${line#INTEROP-PASS }" ;;
	*) die "the Linux host reported: ${line#INTEROP-}" ;;
	esac
}

run_host() {
	local console=$CACHE/console-host.log log=$CACHE/target-server.log
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
	local target_pid=$BG_PID start=$SECONDS
	until listening "$HOST_PORT"; do
		kill -0 "$target_pid" 2>/dev/null || die "the target exited before listening on 127.0.0.1:$HOST_PORT"
		[ $((SECONDS - start)) -lt "$LISTEN_TIMEOUT" ] || die "the target is not listening after $LISTEN_TIMEOUT s"
		sleep 0.2
	done
	check "listening on 127.0.0.1:$HOST_PORT (pid $target_pid, log $log)"
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

main() {
	local what=${1:-all}
	case "$what" in
	target | host | all | probe | prepare) ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown mode '$what' (use target, host, all, probe or prepare)" ;;
	esac
	local start=$SECONDS
	prepare
	case "$what" in
	target) run_target ;;
	host) run_host ;;
	all)
		run_target
		run_host
		;;
	probe) run_probe ;;
	esac
	step "interop $what: PASSED in $((SECONDS - start)) s"
}

main "$@"
