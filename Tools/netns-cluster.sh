#!/usr/bin/env bash
# Two test "hosts" on one machine: Linux network namespaces NAME-a and NAME-b joined by a veth
# pair whose ends (10.231.7.1 and 10.231.7.2) exist only inside them, so MPI traffic between
# ranks placed on them crosses a real network interface over Open MPI's TCP transport.
#
#   Tools/netns-cluster.sh up NAME            make the namespaces and the link (root; iproute2)
#   Tools/netns-cluster.sh run NAME ARGS...   mpirun ARGS with one rank slot on each "host"
#   Tools/netns-cluster.sh bytes NAME         bytes received so far on NAME-a's end of the link
#   Tools/netns-cluster.sh down NAME          remove them
#
# `run` starts mpirun inside NAME-a with a hostfile naming both namespaces; Tools/netns-rsh
# stands in for ssh. Nothing is sent to any address outside 10.231.7.0/24.
set -euo pipefail
command="${1:?usage: netns-cluster.sh up|run|bytes|down NAME [mpirun arguments]}"
name="${2:?a name for the namespace pair}"
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
a="$name-a" b="$name-b"
# Interface names are limited to 15 characters.
link="cx$(printf '%s' "$name" | cksum | cut -c1-8)"
state="${TMPDIR:-/tmp}/cortex-netns-$name"
case "$command" in
  up)
    ip netns add "$a"
    ip netns add "$b"
    ip link add "${link}a" type veth peer name "${link}b"
    ip link set "${link}a" netns "$a"
    ip link set "${link}b" netns "$b"
    ip -n "$a" addr add 10.231.7.1/24 dev "${link}a"
    ip -n "$b" addr add 10.231.7.2/24 dev "${link}b"
    for namespace in "$a" "$b"; do ip -n "$namespace" link set lo up; done
    ip -n "$a" link set "${link}a" up
    ip -n "$b" link set "${link}b" up
    mkdir -p "$state/$a-tmp" "$state/$b-tmp"
    printf '%s slots=1\n%s slots=1\n' "$a" "$b" > "$state/hostfile"
    ;;
  run)
    root=()
    [ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
    # routed=direct: each daemon talks to mpirun itself. The two "hosts" share one /dev/shm
    # and one hwloc topology: gds=hash keeps PMIx's store out of shared memory, and vmhole=none
    # stops each daemon mapping the topology into shared memory (two daemons doing so on one
    # machine crash in hwloc_shmem_topology_write now and then).
    # Real hosts have a /tmp each. Here they would share one, and with one hostname the two
    # daemons' session directories (/tmp/ompi.HOST.UID/jf.N) would be the same path, which one
    # can remove while the other creates it ("mkdir ... File exists", orte_init failed): so
    # each "host" gets its own TMPDIR, and Tools/netns-rsh gives the remote one its own.
    export PMIX_MCA_gds=hash OMPI_MCA_rtc_hwloc_vmhole=none CORTEX_NETNS_STATE="$state" TMPDIR="$state/$a-tmp"
    # mpirun refuses -x beside the mca_base_env_list parameter (Tools/sanitize.sh sets it), so
    # that list's entries become -x entries here.
    forwarded=()
    if [ -n "${OMPI_MCA_mca_base_env_list:-}" ]; then
      IFS=';' read -ra entries <<< "$OMPI_MCA_mca_base_env_list"
      for entry in "${entries[@]}"; do forwarded+=(-x "$entry"); done
      unset OMPI_MCA_mca_base_env_list
    fi
    exec ip netns exec "$a" mpirun "${root[@]}" --hostfile "$state/hostfile" -x PMIX_MCA_gds "${forwarded[@]}" \
      --mca plm_rsh_agent "$here/netns-rsh" --mca routed direct --mca rtc_hwloc_vmhole none \
      --mca btl tcp,self --mca btl_tcp_if_include 10.231.7.0/24 --mca oob_tcp_if_include 10.231.7.0/24 "$@"
    ;;
  bytes)
    ip netns exec "$a" cat "/sys/class/net/${link}a/statistics/rx_bytes"
    ;;
  down)
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$state"
    ;;
  *) echo "unknown command $command (up, run, bytes, down)" >&2; exit 2 ;;
esac
