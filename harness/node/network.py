"""The node's network on this machine: its own bridge, a guard that keeps pod traffic on it, and a clean removal.

Everything here acts on the machine (ip, iptables, sysctl) and needs root. `leftover_rules` and `without_rules` are
pure, so what `down` removes is decided by a function tested with plain text.
"""

import re
import subprocess
from pathlib import Path

from harness.node.config import BRIDGE, NODE_IP, POD_CIDR

GUARD_CHAIN = "BOSUN-GUARD"
# Chains the cluster's parts create: kube-proxy and the kubelet (KUBE-*), ours (BOSUN-*). Its CNI network adds
# none (no masquerading, no port mappings), so CNI-* chains belong to someone else (podman's, say) and stay.
OUR_CHAINS = re.compile(r"^(KUBE|BOSUN)-")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def run(*command: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, input=input)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def bridge_exists() -> bool:
    return run("ip", "link", "show", BRIDGE, check=False).returncode == 0


def create_bridge() -> None:
    """The bridge pods attach to, with the node's address (the control plane binds it before any pod exists)."""
    if not bridge_exists():
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    if NODE_IP not in run("ip", "-4", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    if bridge_exists():
        run("ip", "link", "delete", BRIDGE)


def guard_rules() -> list[list[str]]:
    """Pod traffic may go to pods (same bridge) and to the node itself, never be forwarded anywhere else."""
    return [
        ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"],
        ["-s", POD_CIDR, "-j", "DROP"],
        ["-d", POD_CIDR, "!", "-i", BRIDGE, "-j", "DROP"],
    ]


def install_guard() -> None:
    if run("iptables", "-w", "-t", "filter", "-nL", GUARD_CHAIN, check=False).returncode != 0:
        run("iptables", "-w", "-N", GUARD_CHAIN)
    run("iptables", "-w", "-F", GUARD_CHAIN)
    for rule in guard_rules():
        run("iptables", "-w", "-A", GUARD_CHAIN, *rule)
    if run("iptables", "-w", "-C", "FORWARD", "-j", GUARD_CHAIN, check=False).returncode != 0:
        run("iptables", "-w", "-I", "FORWARD", "1", "-j", GUARD_CHAIN)


def ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def set_ip_forward(value: str) -> None:
    IP_FORWARD.write_text(value + "\n")


def leftover_rules(dump: str) -> list[str]:
    """The lines of an `iptables-save` dump that belong to the cluster (its chains and the jumps into them)."""
    chains = [line for line in dump.splitlines() if line.startswith(":") and OUR_CHAINS.match(line[1:])]
    rules = [line for line in dump.splitlines() if line.startswith("-A ") and _mentions_our_chain(line)]
    return chains + rules


def without_rules(dump: str) -> str:
    """An `iptables-save` dump with the cluster's chains and every rule that touches them removed."""
    ours = set(leftover_rules(dump))
    return "\n".join(line for line in dump.splitlines() if line not in ours) + "\n"


def _mentions_our_chain(line: str) -> bool:
    words = line.split()
    chain = words[1] if len(words) > 1 else ""
    targets = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-j", "-g")]
    return bool(OUR_CHAINS.match(chain)) or any(OUR_CHAINS.match(target) for target in targets)


FAMILIES = ("iptables", "ip6tables")


def remove_rules() -> None:
    """Remove what the cluster added to iptables (kube-proxy, kubelet, CNI, the guard); leave every other rule."""
    for family in FAMILIES:
        dump = run(f"{family}-save").stdout
        if leftover_rules(dump):
            run(f"{family}-restore", "-w", input=without_rules(dump))


def current_rules() -> list[str]:
    """What of the cluster is in iptables right now (empty after `down`)."""
    return [rule for family in FAMILIES for rule in leftover_rules(run(f"{family}-save").stdout)]
