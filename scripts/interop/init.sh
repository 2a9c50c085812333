#!/bin/busybox sh
# /init of the interop guest (busybox initramfs built by scripts/interop.sh; runs as PID 1 under qemu).
#
# Roles, chosen on the kernel command line (interop_role=...):
#   target  Linux nvmet-tcp target: memory-backed null_blk namespace, ports 4420 and 4421, then prints
#           "INTEROP-READY" and idles until qemu is killed.
#   host    Linux nvme-tcp host: connects to 10.0.2.2:PORT (the development machine's 127.0.0.1:PORT) with header
#           and data digests, writes pattern regions of /dev/nvme0n1, reads them back with O_DIRECT, compares,
#           disconnects, prints "INTEROP-PASS" or "INTEROP-FAIL: why" and powers off.
#   probe   like host, but only attempts the connection (to a silent listener that records the ICReq) and powers off.
#   rwtest  the failover test: Linux nvme-tcp host connected twice to one subsystem (10.0.2.2:PORT and :PORT2, both
#           digests), iopolicy round-robin, checks that both paths carry reads; with interop_arm=1 prints
#           "INTEROP-ARM cntlid=N" (N: the first controller's CNTLID) and waits for the harness to answer on /dev/ttyS1
#           once the target armed fopcode there; runs /bin/rw_test -v for interop_iterations iterations; with
#           interop_reconnect=S waits up to S s for the failed controller to come back; disconnects, prints
#           "INTEROP-RWTEST exit=E" and "INTEROP-PASS ..." (the harness steps worked; the harness judges rw_test's
#           result) or "INTEROP-FAIL: why", and powers off.
#   authtarget  (Linux 6.12) as target, plus a second subsystem NQN-auth (second null_blk device) that admits only
#           the hosts of /auth-target.conf, each with its DH-HMAC-CHAP keys, hash and group; nvmet's authentication
#           debug messages go to the console. Prints "INTEROP-READY" and idles.
#   authhost    (Linux 6.12) as host, once per line of /auth-host.conf: connects to 10.0.2.2:PORT's NQN with that
#           line's host NQN and dhchap_secret= (and dhchap_ctrl_secret=); expected to succeed (then writes, reads back
#           with O_DIRECT, compares, disconnects) or to be refused. Prints "INTEROP-PASS" or "INTEROP-FAIL: why".
# Other parameters: interop_nqn (subsystem NQN); host side: interop_port (the port at 10.0.2.2, default 4420),
# interop_port2 (rwtest's second path), interop_hostnqn, interop_hostid.
# Every line this script prints starts with "interop:" or "INTEROP-"; the host script greps for the latter.

/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp

say() { echo "interop: $*"; }
fail() {
	echo "INTEROP-FAIL: $*"
	echo "interop: last kernel messages:"
	dmesg | tail -n 40
	poweroff -f
	sleep 60
}

# Kernel command line value of interop_NAME (empty when absent).
param() {
	# shellcheck disable=SC2013 # the command line is one line of words
	for word in $(cat /proc/cmdline); do
		case "$word" in "interop_$1="*) echo "${word#*=}" ;; esac
	done
}

role=$(param role)
nqn=$(param nqn)
[ -n "$role" ] || fail "no interop_role= on the kernel command line"
[ -n "$nqn" ] || fail "no interop_nqn= on the kernel command line"
port=$(param port)
port=${port:-4420}
say "role $role, kernel $(uname -r)"

# /modules/ROLE.order: one module a line, dependencies first, optional module parameters after the name.
while read -r mod args; do
	[ -n "$mod" ] || continue
	# shellcheck disable=SC2086 # the parameters are separate words on purpose
	insmod "/modules/$mod.ko" $args || fail "insmod $mod $args"
done <"/modules/$role.order"
say "modules loaded: $(cut -d' ' -f1 "/modules/$role.order" | tr '\n' ' ')"

ip link set lo up
ip link set eth0 up || fail "no eth0"
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
# Without waiting for the carrier the first connection stalls for seconds (interop doc).
n=0
until [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ]; do
	n=$((n + 1))
	[ "$n" -le 200 ] || fail "eth0 has no carrier after 20 s"
	sleep 0.1
done
say "eth0 up (10.0.2.15/24, gateway 10.0.2.2)"

run_target() {
	mount -t configfs none /sys/kernel/config || fail "mount configfs"
	[ -b /dev/nullb0 ] || fail "no /dev/nullb0 (null_blk)"
	cd /sys/kernel/config/nvmet || fail "no nvmet configfs"
	mkdir "subsystems/$nqn" || fail "mkdir subsystem $nqn"
	echo 1 >"subsystems/$nqn/attr_allow_any_host"
	mkdir "subsystems/$nqn/namespaces/1"
	echo /dev/nullb0 >"subsystems/$nqn/namespaces/1/device_path" || fail "namespace device_path"
	echo 1 >"subsystems/$nqn/namespaces/1/enable" || fail "namespace enable"
	for p in 1 2; do
		mkdir "ports/$p"
		echo tcp >"ports/$p/addr_trtype"
		echo ipv4 >"ports/$p/addr_adrfam"
		echo 0.0.0.0 >"ports/$p/addr_traddr"
		echo "442$((p - 1))" >"ports/$p/addr_trsvcid"
		ln -s "/sys/kernel/config/nvmet/subsystems/$nqn" "ports/$p/subsystems/$nqn" || fail "enable port $p"
	done
	cd /
	# From here on the kernel's nvmet messages (controller created, keep-alive expired...) reach the console.
	echo 6 >/proc/sys/kernel/printk
	echo "INTEROP-READY nqn=$nqn ports=4420,4421 namespace=1 device=/dev/nullb0 ($(cat /sys/block/nullb0/size) sectors)"
	while :; do sleep 3600; done
}

# fabrics_connect OPTIONS: writes OPTIONS (secrets inside, never printed) to /dev/nvme-fabrics; sets FABRICS_ANSWER
# (the kernel's "instance=N,cntlid=M"). Returns non-zero when the kernel refuses the connect.
fabrics_connect() {
	exec 3<>/dev/nvme-fabrics || fail "cannot open /dev/nvme-fabrics"
	if ! echo "$1" >&3; then
		exec 3>&-
		return 1
	fi
	read -r FABRICS_ANSWER <&3
	exec 3>&-
}

# connect [PORT]: one controller to 10.0.2.2:PORT (default: interop_port).
connect() {
	hostnqn=$(param hostnqn)
	hostid=$(param hostid)
	opts="transport=tcp,traddr=10.0.2.2,trsvcid=${1:-$port},nqn=$nqn,hostnqn=$hostnqn,hostid=$hostid,hdr_digest,data_digest"
	say "connect: $opts"
	fabrics_connect "$opts" || return 1
	say "connected: $FABRICS_ANSWER"
}

# Compares the bytes at byte offset $1 (multiple of 4096), $2 bytes long, with the file $3.
readback() {
	dd if=/dev/nvme0n1 of=/tmp/back bs=4096 skip=$(($1 / 4096)) count=$(($2 / 4096)) iflag=direct 2>/tmp/dd.err ||
		fail "read of $2 bytes at offset $1: $(cat /tmp/dd.err)"
	cmp /tmp/back "$3" || fail "data read back at offset $1 ($2 bytes) differs from what was written"
}

run_host() {
	echo 6 >/proc/sys/kernel/printk
	connect || fail "connect to 10.0.2.2:$port was refused by the kernel (see the nvme messages above)"
	n=0
	until [ -b /dev/nvme0n1 ]; do
		n=$((n + 1))
		[ "$n" -le 200 ] || fail "no /dev/nvme0n1 20 s after connecting"
		sleep 0.1
	done
	c=/sys/class/nvme/nvme0
	say "controller: model '$(cat $c/model)' firmware '$(cat $c/firmware_rev)' cntlid $(cat $c/cntlid)" \
		"subsysnqn $(cat $c/subsysnqn) state $(cat $c/state)"
	sectors=$(cat /sys/block/nvme0n1/size)
	lbs=$(cat /sys/block/nvme0n1/queue/logical_block_size)
	bytes=$((sectors * 512))
	say "namespace: /dev/nvme0n1, $bytes bytes, logical block $lbs bytes"
	[ "$bytes" -ge $((4 * 1024 * 1024)) ] || fail "namespace too small for the test: $bytes bytes, need 4 MiB"
	[ "$lbs" -le 4096 ] || fail "logical block size $lbs > 4096 is not handled by this test"

	# Region A: 1 MiB at 1 MiB, written as one 1 MiB request (R2T-driven H2CData in several PDUs, possibly several
	# commands), read back as 4 KiB requests and then as one 1 MiB request. Region B: the last 4 KiB of the namespace.
	# O_DIRECT on both sides so that the read-back comes from the target, not from the guest's page cache.
	a_off=$((1024 * 1024))
	a_len=$((1024 * 1024))
	b_len=4096
	b_off=$(((bytes / 4096 - 1) * 4096))
	# Test data that differs at every offset, without /dev/urandom: under qemu's TCG the first read of it can make the
	# kernel's CRNG ready and patch its static branch under the reader ("Oops: int3" in urandom_read_iter, seen with
	# Linux 6.12; spec-notes/interop.md).
	seq -w 1 400000 | head -c "$a_len" >/tmp/a
	seq -w 500001 600000 | head -c 4096 >/tmp/b
	say "writing $a_len bytes at offset $a_off and $b_len bytes at offset $b_off (md5 $(md5sum </tmp/a | cut -c1-32)," \
		"$(md5sum </tmp/b | cut -c1-32))"
	dd if=/tmp/a of=/dev/nvme0n1 bs=$a_len seek=$((a_off / a_len)) count=1 oflag=direct conv=fsync 2>/tmp/dd.err ||
		fail "write of region A: $(cat /tmp/dd.err)"
	dd if=/tmp/b of=/dev/nvme0n1 bs=4096 seek=$((b_off / 4096)) oflag=direct conv=fsync 2>/tmp/dd.err ||
		fail "write of region B: $(cat /tmp/dd.err)"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	readback "$a_off" "$a_len" /tmp/a
	readback "$b_off" "$b_len" /tmp/b
	say "read back both regions with O_DIRECT: identical"
	dd if=/dev/nvme0n1 of=/tmp/back bs=$a_len skip=1 count=1 iflag=direct 2>/tmp/dd.err ||
		fail "1 MiB read at offset $a_off: $(cat /tmp/dd.err)"
	cmp /tmp/back /tmp/a || fail "1 MiB read at offset $a_off differs from what was written"
	say "read back region A as one 1 MiB request: identical"

	echo 1 >$c/delete_controller || fail "delete_controller (disconnect) failed"
	say "disconnected"
	# A command the target never answered (the host waited for its timeout), an I/O error or a controller reset is a
	# failure even when the data compared equal: a correct target gives the Linux host none of them.
	bad=$(dmesg | grep -E 'nvme.*(timeout|I/O error|resetting|reconnect|Property Set error)' | head -n 3)
	[ -z "$bad" ] || fail "the kernel reported: $(echo "$bad" | tr '\n' ';')"
	echo "INTEROP-PASS wrote and read back $((a_len + b_len)) bytes over NVMe/TCP with header and data digests"
	poweroff -f
	sleep 60
}

run_probe() {
	if connect; then
		echo "INTEROP-PROBE connect unexpectedly succeeded"
	else
		echo "INTEROP-PROBE connect attempted and failed as expected (silent listener)"
	fi
	poweroff -f
	sleep 60
}

# Reads completed on a path's block device (first field of its stat).
path_reads() { read -r r _ <"/sys/class/block/$1/stat" && echo "$r"; }

run_rwtest() {
	# The kernel's recovery steps (error recovery, reconnect: level info) and rw_test -v's lines (written to
	# /dev/kmsg, level notice) are read from the kernel log at the end (INTEROP-DMESG), in order and with their time
	# stamps: on the console they would interleave with rw_test's own output character by character. Only errors go
	# to the console meanwhile.
	echo 4 >/proc/sys/kernel/printk
	# Without this the kernel keeps 10 lines per 5 s written to /dev/kmsg.
	echo on >/proc/sys/kernel/printk_devkmsg
	port2=$(param port2)
	iterations=$(param iterations)
	arm=$(param arm)
	reconnect=$(param reconnect)
	[ -n "$port2" ] || fail "rwtest needs interop_port2="
	[ -n "$iterations" ] || fail "rwtest needs interop_iterations="
	connect "$port" || fail "connect to 10.0.2.2:$port was refused by the kernel"
	connect "$port2" || fail "connect to 10.0.2.2:$port2 was refused by the kernel"
	n=0
	until [ -b /dev/nvme0n1 ] && [ -e /sys/class/nvme/nvme1 ]; do
		n=$((n + 1))
		[ "$n" -le 200 ] || fail "no /dev/nvme0n1 and nvme1 20 s after connecting"
		sleep 0.1
	done
	# One subsystem with both controllers: the multipath head nvme0n1 over the paths nvme0c0n1 and nvme0c1n1.
	set -- /sys/class/nvme-subsystem/nvme-subsys*
	[ "$#" -eq 1 ] || fail "expected one NVMe subsystem, found: $*"
	[ -d "$1" ] || fail "no NVMe subsystem in /sys/class/nvme-subsystem"
	subsys=$1
	for c in nvme0 nvme1; do
		[ -e "$subsys/$c" ] || fail "controller $c is not in subsystem $(basename "$subsys") (one subsystem, two paths expected)"
	done
	for c in nvme0 nvme1; do
		say "$c: cntlid $(cat /sys/class/nvme/$c/cntlid) address $(cat /sys/class/nvme/$c/address) state $(cat /sys/class/nvme/$c/state)"
	done
	echo round-robin >"$subsys/iopolicy" || fail "cannot set iopolicy"
	[ "$(cat "$subsys/iopolicy")" = round-robin ] || fail "iopolicy is $(cat "$subsys/iopolicy"), not round-robin"
	say "$(basename "$subsys"): iopolicy round-robin"
	set -- /sys/class/block/nvme0c*n1
	[ "$#" -eq 2 ] || fail "expected two paths under nvme0n1, found: $*"
	p1=$(basename "$1")
	p2=$(basename "$2")
	r1=$(path_reads "$p1")
	r2=$(path_reads "$p2")
	dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=8 iflag=direct 2>/tmp/dd.err || fail "reads: $(cat /tmp/dd.err)"
	r1=$(($(path_reads "$p1") - r1))
	r2=$(($(path_reads "$p2") - r2))
	say "8 reads of 4 KiB (O_DIRECT) through nvme0n1: $r1 on path $p1, $r2 on path $p2"
	[ "$r1" -gt 0 ] || fail "path $p1 carried none of 8 reads with iopolicy round-robin"
	[ "$r2" -gt 0 ] || fail "path $p2 carried none of 8 reads with iopolicy round-robin"
	say "both paths carry I/O"
	if [ "$arm" = 1 ]; then
		stty -F /dev/ttyS1 raw -echo 2>/dev/null || fail "no /dev/ttyS1 (the harness's answer channel)"
		echo "INTEROP-ARM cntlid=$(cat /sys/class/nvme/nvme0/cntlid)"
		answer=""
		# shellcheck disable=SC3045 # busybox ash has read -t
		read -r -t 30 answer </dev/ttyS1 || true
		case "$answer" in
		armed*) say "harness: $answer" ;;
		*) fail "no answer from the harness on /dev/ttyS1 within 30 s (got '$answer')" ;;
		esac
	fi
	say "rw_test -n $iterations -v /dev/nvme0n1"
	rc=0
	/bin/rw_test -n "$iterations" -v /dev/nvme0n1 || rc=$?
	echo "INTEROP-RWTEST exit=$rc"
	if [ -n "$reconnect" ] && [ "$reconnect" -gt 0 ]; then
		n=0
		until [ "$(cat /sys/class/nvme/nvme0/state)" = live ]; do
			n=$((n + 1))
			[ "$n" -le $((reconnect * 10)) ] || fail "nvme0 not live again within $reconnect s (state $(cat /sys/class/nvme/nvme0/state))"
			sleep 0.1
		done
		say "nvme0 live again: cntlid $(cat /sys/class/nvme/nvme0/cntlid)"
	fi
	# The harness's timeline ends here: what follows is the teardown of this test, not the failover. In the kernel
	# log too, where the timeline reads it in order with the kernel's and rw_test's lines.
	say "disconnecting"
	echo "<5>interop: disconnecting" >/dev/kmsg
	for c in nvme0 nvme1; do
		echo 1 >/sys/class/nvme/$c/delete_controller || fail "delete_controller $c failed"
	done
	say "disconnected"
	echo 1 >/proc/sys/kernel/printk
	echo "INTEROP-DMESG-BEGIN"
	dmesg | sed 's/^/INTEROP-DMESG /'
	echo "INTEROP-DMESG-END"
	echo "INTEROP-PASS rw_test ran ($iterations iterations asked, exit $rc)"
	poweroff -f
	sleep 60
}

# ---------------------------------------------------------------------------------------------------------------
# In-band authentication (Linux 6.12; scripts/interop.sh auth, auth-target, auth-host). The keys come in files of the
# initramfs, never on the command line, and are never printed.

# The configfs attributes of one nvmet port (NUMBER, guest port).
auth_port() {
	mkdir "ports/$1"
	echo tcp >"ports/$1/addr_trtype"
	echo ipv4 >"ports/$1/addr_adrfam"
	echo 0.0.0.0 >"ports/$1/addr_traddr"
	echo "$2" >"ports/$1/addr_trsvcid"
}

# A subsystem with namespace 1 on DEVICE (NQN, DEVICE, ALLOW_ANY_HOST).
auth_subsystem() {
	mkdir "subsystems/$1" || fail "mkdir subsystem $1"
	echo "$3" >"subsystems/$1/attr_allow_any_host"
	mkdir "subsystems/$1/namespaces/1"
	echo "$2" >"subsystems/$1/namespaces/1/device_path" || fail "namespace device_path of $1"
	echo 1 >"subsystems/$1/namespaces/1/enable" || fail "namespace enable of $1"
}

run_auth_target() {
	mount -t configfs none /sys/kernel/config || fail "mount configfs"
	mount -t debugfs none /sys/kernel/debug || fail "mount debugfs"
	if [ ! -b /dev/nullb0 ] || [ ! -b /dev/nullb1 ]; then fail "no /dev/nullb0 and /dev/nullb1 (null_blk nr_devices=2)"; fi
	[ -f /auth-target.conf ] || fail "no /auth-target.conf in the initramfs"
	cd /sys/kernel/config/nvmet || fail "no nvmet configfs"
	auth_subsystem "$nqn" /dev/nullb0 1
	auth_subsystem "$nqn-auth" /dev/nullb1 0
	# One host entry per line: NQN KEY CTRLKEY HASH DHGROUP ('-' for no controller key), linked to NQN-auth only.
	while read -r h key ctrl hash group; do
		[ -n "$h" ] || continue
		mkdir "hosts/$h" || fail "mkdir hosts/$h"
		echo "$key" >"hosts/$h/dhchap_key" || fail "dhchap_key of $h"
		if [ "$ctrl" != - ]; then echo "$ctrl" >"hosts/$h/dhchap_ctrl_key" || fail "dhchap_ctrl_key of $h"; fi
		echo "hmac($hash)" >"hosts/$h/dhchap_hash" || fail "dhchap_hash hmac($hash) of $h"
		echo "$group" >"hosts/$h/dhchap_dhgroup" || fail "dhchap_dhgroup $group of $h"
		ln -s "/sys/kernel/config/nvmet/hosts/$h" "subsystems/$nqn-auth/allowed_hosts/$h" || fail "allow $h"
		say "host $h: dhchap_key set, dhchap_ctrl_key $([ "$ctrl" = - ] && echo none || echo set), hmac($hash), $group"
	done </auth-target.conf
	for p in 1 2; do
		auth_port "$p" "442$((p - 1))"
		ln -s "/sys/kernel/config/nvmet/subsystems/$nqn" "ports/$p/subsystems/$nqn" || fail "enable port $p"
		ln -s "/sys/kernel/config/nvmet/subsystems/$nqn-auth" "ports/$p/subsystems/$nqn-auth" || fail "port $p auth"
	done
	cd /
	# nvmet's authentication messages, the debug ones too (the transaction steps; not target/auth.c, which prints
	# key bytes).
	echo 'file fabrics-cmd-auth.c +p' >/sys/kernel/debug/dynamic_debug/control || fail "dynamic debug"
	echo 8 >/proc/sys/kernel/printk
	echo "INTEROP-READY nqn=$nqn,$nqn-auth ports=4420,4421 auth-hosts=$(wc -l </auth-target.conf)"
	while :; do sleep 3600; done
}


# The namespace block device of the controller just connected (native multipath: nvme<subsystem>n1).
auth_namespace() {
	n=0
	while :; do
		for d in /dev/nvme*n1; do
			[ -b "$d" ] && echo "$d" && return 0
		done
		n=$((n + 1))
		[ "$n" -le 200 ] || return 1
		sleep 0.1
	done
}

run_auth_host() {
	echo 6 >/proc/sys/kernel/printk
	[ -f /auth-host.conf ] || fail "no /auth-host.conf in the initramfs"
	hostid=$(param hostid)
	passed=0
	# One scenario per line: NAME HOSTNQN SECRET CTRLSECRET EXPECT (ok | refused; '-' for no controller secret).
	scen=0
	while read -r name h secret ctrl expect; do
		scen=$((scen + 1))
		[ -n "$name" ] || continue
		dmesg -c >/dev/null
		opts="transport=tcp,traddr=10.0.2.2,trsvcid=$port,nqn=$nqn,hostnqn=$h,hostid=$hostid,hdr_digest,data_digest"
		shown="$opts,dhchap_secret=<redacted>"
		opts="$opts,dhchap_secret=$secret"
		if [ "$ctrl" != - ]; then
			opts="$opts,dhchap_ctrl_secret=$ctrl"
			shown="$shown,dhchap_ctrl_secret=<redacted>"
		fi
		say "$name: connect $shown (expect $expect)"
		if fabrics_connect "$opts"; then
			dmesg | grep -E 'nvme' | sed "s/^/interop: $name: kernel: /"
			[ "$expect" = ok ] || fail "$name: connected, but the target should have refused it"
			say "$name: connected: $FABRICS_ANSWER"
			dev=$(auth_namespace) || fail "$name: no namespace 20 s after connecting"
			c=/sys/class/nvme/$(echo "$FABRICS_ANSWER" | sed -n 's/.*instance=\([0-9]*\).*/nvme\1/p')
			[ -d "$c" ] || fail "$name: no $c"
			# Different data in each scenario (a write that silently failed would read back the last one's), and no
			# /dev/urandom (see run_host).
			seq -w $((scen * 1000000 + 1)) $((scen * 1000000 + 400000)) | head -c 1048576 >/tmp/a
			dd if=/tmp/a of="$dev" bs=1048576 seek=1 count=1 oflag=direct conv=fsync 2>/tmp/dd.err ||
				fail "$name: write: $(cat /tmp/dd.err)"
			echo 3 >/proc/sys/vm/drop_caches
			dd if="$dev" of=/tmp/back bs=1048576 skip=1 count=1 iflag=direct 2>/tmp/dd.err ||
				fail "$name: read: $(cat /tmp/dd.err)"
			cmp /tmp/back /tmp/a || fail "$name: 1 MiB read back differs from what was written"
			say "$name: wrote 1 MiB at 1 MiB on $dev, read it back with O_DIRECT: identical"
			echo 1 >"$c/delete_controller" || fail "$name: delete_controller failed"
			n=0
			while [ -e "$dev" ]; do
				n=$((n + 1))
				[ "$n" -le 100 ] || fail "$name: $dev still there 10 s after delete_controller"
				sleep 0.1
			done
			bad=$(dmesg | grep -E 'nvme.*(timeout|I/O error|resetting|reconnect)' | head -n 3)
			[ -z "$bad" ] || fail "$name: the kernel reported: $(echo "$bad" | tr '\n' ';')"
		else
			dmesg | grep -E 'nvme' | sed "s/^/interop: $name: kernel: /"
			[ "$expect" = refused ] || fail "$name: the connect was refused (see the kernel messages above)"
			say "$name: refused, as expected"
		fi
		passed=$((passed + 1))
	done </auth-host.conf
	echo "INTEROP-PASS $passed authentication scenarios as expected (DH-HMAC-CHAP, header and data digests)"
	poweroff -f
	sleep 60
}

case "$role" in
target) run_target ;;
host) run_host ;;
probe) run_probe ;;
rwtest) run_rwtest ;;
authtarget) run_auth_target ;;
authhost) run_auth_host ;;
*) fail "unknown role '$role'" ;;
esac
fail "role $role returned"
