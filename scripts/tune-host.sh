#!/usr/bin/env bash
# Tune a Linux host to hold 60,000+ long-lived connections, as an hbctl agent
# or server host. Prints every change it makes; --dry-run only prints.
#
#   sudo scripts/tune-host.sh [--dry-run] [--role agent|server|both] [--reserve-ports 1025,7070,7071,8989] [--install-units]
#
# --install-units also installs hbctl's systemd units (deploy/systemd:
# hbctl-server, hbctl-coordinator, hbctl-agent@) into /etc/systemd/system and
# their environment files into /etc/hbctl (existing ones are kept); the units
# run /usr/local/bin/hbctl. Kubernetes: deploy/kubernetes and docs/deploy.md.
#
# What it sets, and why:
#   fs.file-max, fs.nr_open          room for one descriptor per connection, system-wide and per process
#   nofile in limits.d               soft/hard open-file limits for new sessions (hbctl raises soft to hard itself)
#   net.ipv4.ip_local_port_range     1024-65535: an agent source address then holds ~64k outgoing connections
#   net.ipv4.ip_local_reserved_ports the server, coordinator and admin ports: a wide ephemeral range otherwise
#                                    lets an outgoing connection take local port 1025 and the server cannot listen
#   net.core.somaxconn, tcp_max_syn_backlog   accept bursts of 20,000 connects a second without SYN drops
#   net.ipv4.tcp_mem/rmem/wmem       modest per-socket buffers so a million idle sockets fit in memory
#   net.netfilter.nf_conntrack_max   when conntrack is loaded, a table that holds every connection
set -euo pipefail

dry=0
role=both
reserve=1025,7070,7071,8989
units=0
while [ $# -gt 0 ]; do
	case "$1" in
	--dry-run) dry=1 ;;
	--role) role=$2; shift ;;
	--reserve-ports) reserve=$2; shift ;;
	--install-units) units=1 ;;
	-h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
	*) echo "tune-host: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$role" in agent|server|both) ;; *) echo "tune-host: --role is agent, server or both" >&2; exit 2 ;; esac
if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
	echo "tune-host: must run as root to change kernel settings (or use --dry-run to see them)" >&2
	exit 1
fi

set_sysctl() { # key value
	local key=$1 want=$2 path have
	path=/proc/sys/${key//.//}
	if [ ! -e "$path" ]; then
		echo "  skip  $key (not on this kernel)"
		return
	fi
	have=$(tr -s '[:space:]' ' ' <"$path" | sed 's/ $//')
	if [ "$have" = "$(printf '%s' "$want" | tr -s '[:space:]' ' ')" ]; then
		echo "  keep  $key = $want"
		return
	fi
	echo "  set   $key: $have -> $want"
	[ "$dry" = 1 ] || sysctl -q -w "$key=$want"
}

echo "file limits:"
set_sysctl fs.file-max 4194304
set_sysctl fs.nr_open 2097152
limits=/etc/security/limits.d/90-hbctl.conf
echo "  write $limits: nofile 1048576 (soft and hard) for new sessions"
if [ "$dry" = 0 ]; then
	printf '* soft nofile 1048576\n* hard nofile 1048576\nroot soft nofile 1048576\nroot hard nofile 1048576\n' >"$limits"
fi

echo "ports:"
if [ "$role" != server ]; then
	set_sysctl net.ipv4.ip_local_port_range "1024	65535"
fi
# Reserve the listening ports so outgoing connections never take them.
set_sysctl net.ipv4.ip_local_reserved_ports "$reserve"
set_sysctl net.ipv4.tcp_tw_reuse 1

echo "backlog:"
set_sysctl net.core.somaxconn 65535
set_sysctl net.ipv4.tcp_max_syn_backlog 65535
set_sysctl net.core.netdev_max_backlog 65535

echo "tcp memory (pages) and per-socket buffers (bytes):"
set_sysctl net.ipv4.tcp_mem "786432	1048576	1572864"
set_sysctl net.ipv4.tcp_rmem "4096	8192	4194304"
set_sysctl net.ipv4.tcp_wmem "4096	8192	4194304"

if [ -e /proc/sys/net/netfilter/nf_conntrack_max ]; then
	echo "conntrack:"
	set_sysctl net.netfilter.nf_conntrack_max 2097152
fi
if [ "$units" = 1 ]; then
	src=$(cd "$(dirname "$0")/../deploy/systemd" && pwd)
	echo "systemd units (from $src):"
	for unit in "$src"/*.service; do
		echo "  install /etc/systemd/system/${unit##*/}"
		[ "$dry" = 1 ] || install -m 0644 "$unit" /etc/systemd/system/
	done
	for env in "$src"/*.env; do
		dst=/etc/hbctl/${env##*/}
		if [ -e "$dst" ]; then
			echo "  keep  $dst"
			continue
		fi
		echo "  write $dst (mode 0600): set the addresses and tokens in it"
		[ "$dry" = 1 ] || install -D -m 0600 "$env" "$dst"
	done
	if [ "$dry" = 0 ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
	fi
	[ -x /usr/local/bin/hbctl ] || echo "  note: the units run /usr/local/bin/hbctl: sudo install -m 0755 bin/hbctl /usr/local/bin/hbctl"
	echo "  start them: systemctl enable --now hbctl-server, hbctl-coordinator, or hbctl-agent@NAME (docs/deploy.md)"
fi
[ "$dry" = 1 ] && echo "dry run: nothing changed"
echo "done. Keep clocks in sync with chrony on every host (hbctl also measures each agent's offset)."
