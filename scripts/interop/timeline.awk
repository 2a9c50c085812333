# The events of one rwtest run with the fault (scripts/interop.sh rwtest), from one source, as lines
#   TIME|SOURCE|WHAT|TEXT        (TIME: seconds on that source's own clock)
# and at the end one line
#   FACTS|SOURCE|key=value ...   (for the harness's assertions).
# Plain POSIX awk (Debian's mawk runs it).
#
#   awk -v src=target -f timeline.awk TARGET_LOG
#       nvme-lab target's log (-v): the fault, the controller's failure, the media writes and reads of LBA 0, the
#       held write landing, the teardown, controllers created afterwards.
#   tshark -r PCAP ... -T fields (the columns listed in interop.sh's rwtest_wire) | awk -F '\t' -v src=wire \
#       -v port1=4420 -v port2=4421 -f timeline.awk
#       the guest's capture: the Write commands with their data, the target's FIN on path 1, the completions, the
#       read's C2HData, the reconnect's ICReq.
#   awk -v src=guest -v value=V -f timeline.awk CONSOLE
#       the guest's kernel log as its console ends (the INTEROP-DMESG lines): rw_test's -v lines and the kernel's
#       nvme messages, from rw_test's write of value V (the held one) on.

function ev(t, what, text) { printf "%.6f|%s|%s|%s\n", t, src, what, text }

# The value of KEY=VALUE in the current line ("" when absent).
# The value of field KEY when it may hold spaces: up to the field NEXT that follows it.
function field_to(key, next_key) {
	if (!match($0, " " key "=.* " next_key "=")) return field(key)
	return substr($0, RSTART + length(key) + 2, RLENGTH - length(key) - length(next_key) - 4)
}

function field(key) {
	if (!match($0, " " key "=[^ ]*")) return ""
	return substr($0, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
}

# Two hex digits to a number.
function hex2(h,   d) {
	d = "0123456789abcdef"
	h = tolower(h)
	return (index(d, substr(h, 1, 1)) - 1) * 16 + index(d, substr(h, 2, 1)) - 1
}

# The log's data summary ("all:09") as text.
function show(data) { return data ~ /^all:/ ? "value " hex2(substr(data, 5)) : "data " data }

# 2026-12-04T18:10:56.963582Z to seconds since 1970 (days from the civil date, then the time of day).
function epoch(ts,   y, m, d, era, yoe, doy, doe, hms) {
	y = substr(ts, 1, 4) + 0
	m = substr(ts, 6, 2) + 0
	d = substr(ts, 9, 2) + 0
	y -= (m <= 2)
	era = int(y / 400)
	yoe = y - era * 400
	doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
	doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
	split(substr(ts, 12, 15), hms, ":")
	return (era * 146097 + doe - 719468) * 86400 + hms[1] * 3600 + hms[2] * 60 + hms[3]
}

# ---- the target's log -------------------------------------------------------------------------------------------
src == "target" && /: media cntlid=/ && field("kind") == "write" && field("slba") == "0" {
	writes[field("cntlid")]++
}
src == "target" && /fault fired: command held/ && !fired {
	fired = 1
	held = field("cntlid")
	hdata = field("data")
	tfired = epoch($1)
	ev(tfired, "held Write", "fopcode fired on controller " held ": its Write (" show(hdata) ", LBA 0) is held " field("delay_ms") " ms")
	next
}
src == "target" && fired && /controller failed/ && field("cntlid") == held && !failed {
	failed = 1
	ev(epoch($1), "ctrl failed", "controller " held " failed (" field_to("cause", "cancelled") "): its connections closed, " field("waiting") " command in its backend")
	next
}
src == "target" && fired && !landed && /: media cntlid=/ && field("kind") == "write" && field("slba") == "0" && field("cntlid") != held {
	t = epoch($1)
	if (!retry && field("data") == hdata) {
		retry = 1
		tretry = t
		rctrl = field("cntlid")
		ev(t, "retry done", "controller " rctrl " wrote " show(hdata) " to LBA 0: the held Write, retried on the other path")
	} else if (retry) {
		last = field("data")
		if (last == "all:09") {
			newest = 1
			tnewest = t
			ev(t, "newest write", "controller " field("cntlid") " wrote value 9 to LBA 0 (rw_test's last write)")
		}
	}
	next
}
src == "target" && /held command reached the media/ && field("cntlid") == held && !landed {
	landed = 1
	tlanded = epoch($1)
	ldata = field("data")
	lms = field("held_ms")
	ev(tlanded, "stale landed", "controller " held "'s held Write (" show(ldata) ") reached the media after " field("held_ms") " ms, over " (last == "" ? "nothing newer" : show(last)))
	next
}
src == "target" && fired && /controller torn down/ && field("cntlid") == held && !torn {
	torn = 1
	ev(epoch($1), "torn down", "controller " held " torn down: its last command executed")
	next
}
src == "target" && landed && !read && /: media cntlid=/ && field("kind") == "read" && field("slba") == "0" {
	read = 1
	tread = epoch($1)
	rdata = field("data")
	ev(tread, "read", "controller " field("cntlid") " read LBA 0: " show(rdata) " (rw_test expects 9)")
	next
}
src == "target" && fired && /controller created/ && !recon {
	recon = 1
	ev(epoch($1), "reconnect", "controller " field("cntlid") " created through " field("listener") ": the host reconnected the failed path")
	next
}

# ---- the guest's capture (tshark columns, tab-separated) ----------------------------------------------------------
# 1 frame, 2 time, 3 stream, 4 srcport, 5 dstport, 6 fin, 7 reset, 8 PDU types, 9 qid, 10 opcodes, 11 command CIDs,
# 12 completion CIDs, 13 PDOs, 14 reassembled data (hex), 15 TCP payload (hex).
function isset(f) { return f == "1" || f == "True" }
function has(list, x) { return index("," list ",", "," x ",") > 0 }
src == "wire" {
	split($8, ty, ",")
	split($13, pdo, ",")
	t = $2 + 0
	data = $14 != "" ? $14 : $15
	v = substr(data, 2 * pdo[1] + 1, 2)
	if (ty[1] == "4" && $10 ~ /0x0*1$|0x0*1,/ && $9 + 0 > 0) {
		# A Write on an I/O queue.
		if (!held && $5 == port1) {
			held = 1
			hv = v
			ev(t, "held Write", "frame " $1 ": Write cid " $11 " (value " hex2(v) ", LBA 0) to 10.0.2.2:" port1 " (path 1)")
		} else if (held && $5 == port2 && !retry && v == hv) {
			retry = 1
			rstream = $3
			rcid = $11
			ev(t, "retry sent", "frame " $1 ": the same Write (value " hex2(v) ") as cid " $11 " to 10.0.2.2:" port2 " (path 2)")
		} else if (retry && $5 == port2 && v == "09") {
			nstream = $3
			ncid = $11
		}
	}
	if (held && !fin && $4 == port1 && (isset($6) || isset($7))) {
		fin = 1
		ev(t, "ctrl failed", "frame " $1 ": the target closes path 1 (" (isset($6) ? "FIN" : "RST") " from 10.0.2.2:" port1 ")")
	}
	if (retry && !rdone && $3 == rstream && $4 == port2 && has($12, rcid)) {
		rdone = 1
		ev(t, "retry done", "frame " $1 ": completion of the retried Write (cid " rcid ") on path 2")
	}
	if (ncid != "" && !ndone && $3 == nstream && $4 == port2 && has($12, ncid)) {
		ndone = 1
		ev(t, "newest write", "frame " $1 ": completion of the Write of value 9 (cid " ncid ") on path 2")
	}
	if (ndone && !read && ty[1] == "7") {
		read = 1
		rv = v
		ev(t, "read", "frame " $1 ": C2HData of the read: value " hex2(v) " (from 10.0.2.2:" $4 ")")
	}
	if (held && !recon && $5 == port1 && ty[1] == "0") {
		recon = 1
		ev(t, "reconnect", "frame " $1 ": ICReq to 10.0.2.2:" port1 ": the host reconnects path 1")
	}
}

# ---- the guest's console ----------------------------------------------------------------------------------------
src == "guest" {
	sub(/\r$/, "")
	if (stop || substr($0, 1, 14) != "INTEROP-DMESG ") next
	$0 = substr($0, 15)
	if (!match($0, /^\[ *[0-9]+\.[0-9]+\] /)) next
	t = substr($0, 2, RLENGTH - 3) + 0
	msg = substr($0, RLENGTH + 1)
	# The guest's own teardown of the test follows (the kernel log orders this mark with the rest): not the failover.
	if (msg == "interop: disconnecting") {
		stop = 1
		next
	}
	if (!held && msg == "rw_test: write of value " value " issued") {
		held = 1
		ev(t, "held Write", msg)
	} else if (held && msg ~ /^nvme/) {
		ev(t, "kernel", msg)
	} else if (held && (index(msg, "rw_test: write of value " value " done") == 1 || index(msg, "rw_test: write of value 9 done") == 1)) {
		ev(t, index(msg, "value 9") ? "newest write" : "retry done", msg)
	} else if (held && msg ~ /^rw_test: (read returned|iteration)/) {
		if (msg ~ /read returned/) {
			read = 1
			rv = msg
			sub(/^rw_test: read returned value /, "", rv)
			sub(/ .*/, "", rv)
		}
		ev(t, "read", msg)
	}
}

END {
	if (src == "target") {
		paths = 0
		for (c in writes) paths++
		order = fired && failed && retry && newest && landed && read && tretry < tnewest && tnewest < tlanded && tlanded < tread
		printf "FACTS|target|fault=%d held=%s held_value=%s failed=%d retry=%d retry_ctrl=%s newest=%d landed=%d landed_value=%s read=%d read_value=%s order=%d write_paths=%d reconnect=%d retry_ms=%d landed_ms=%s\n", fired, held, hdata ~ /^all:/ ? hex2(substr(hdata, 5)) : -1, failed, retry, rctrl, newest, landed, ldata ~ /^all:/ ? hex2(substr(ldata, 5)) : -1, read, rdata ~ /^all:/ ? hex2(substr(rdata, 5)) : -1, order, paths, recon, retry ? int((tretry - tfired) * 1000 + 0.5) : -1, landed ? lms : -1
	} else if (src == "wire") {
		printf "FACTS|wire|held=%d fin=%d retry=%d retry_done=%d newest=%d read=%d read_value=%s reconnect=%d\n", held, fin, retry, rdone, ndone, read, read ? hex2(rv) : -1, recon
	} else if (src == "guest") {
		printf "FACTS|guest|held=%d read=%d read_value=%s\n", held, read, read ? rv : -1
	}
}
