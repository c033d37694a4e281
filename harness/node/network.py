"""The node's network on this machine: its own bridge, guards that keep pod traffic on it and strangers off the
node's address, and a clean removal.

Everything here acts on the machine (ip, iptables, sysctl) and needs root. `leftover_rules` and `removal_commands`
are pure, so what `down` removes is decided by functions tested with plain text.
"""

import re
import shlex
import subprocess
from pathlib import Path

from harness.node.config import BRIDGE, NODE_IP, POD_CIDR

GUARD_CHAIN = "BOSUN-GUARD"
INPUT_GUARD_CHAIN = "BOSUN-INPUT"
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


def input_guard_rules() -> list[list[str]]:
    """The node's address answers the node itself and its pods, nobody who routes it here from outside."""
    return [
        ["-d", NODE_IP, "-i", "lo", "-j", "RETURN"],
        ["-d", NODE_IP, "-i", BRIDGE, "-j", "RETURN"],
        ["-d", NODE_IP, "-j", "DROP"],
    ]


def install_guard() -> None:
    for chain, builtin, rules in (
        (GUARD_CHAIN, "FORWARD", guard_rules()),
        (INPUT_GUARD_CHAIN, "INPUT", input_guard_rules()),
    ):
        if run("iptables", "-w", "-t", "filter", "-nL", chain, check=False).returncode != 0:
            run("iptables", "-w", "-N", chain)
        run("iptables", "-w", "-F", chain)
        for rule in rules:
            run("iptables", "-w", "-A", chain, *rule)
        if run("iptables", "-w", "-C", builtin, "-j", chain, check=False).returncode != 0:
            run("iptables", "-w", "-I", builtin, "1", "-j", chain)


def ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def set_ip_forward(value: str) -> None:
    IP_FORWARD.write_text(value + "\n")


def leftover_rules(dump: str) -> list[str]:
    """The lines of an `iptables-save` dump that belong to the cluster (its chains and the jumps into them)."""
    chains = [line for line in dump.splitlines() if line.startswith(":") and OUR_CHAINS.match(line[1:])]
    rules = [line for line in dump.splitlines() if line.startswith("-A ") and _mentions_our_chain(line)]
    return chains + rules


def removal_commands(dump: str) -> list[list[str]]:
    """The iptables arguments that remove the cluster's chains from a dump's tables, and every jump into them.

    One rule at a time (`-D`, then `-F` and `-X` of our chains): rules others add meanwhile are never touched, as a
    restore of the whole table would.
    """
    commands: list[list[str]] = []
    flushes: list[list[str]] = []
    table = "filter"
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and OUR_CHAINS.match(line[1:]):
            chain = line[1:].split()[0]
            flushes.append(["-t", table, "-F", chain])
            commands.append(["-t", table, "-X", chain])
        elif line.startswith("-A ") and _mentions_our_chain(line) and not OUR_CHAINS.match(line.split()[1]):
            commands.insert(0, ["-t", table, "-D", *shlex.split(line)[1:]])
    jumps = [c for c in commands if c[2] == "-D"]
    deletions = [c for c in commands if c[2] == "-X"]
    return jumps + flushes + deletions


def _mentions_our_chain(line: str) -> bool:
    words = line.split()
    chain = words[1] if len(words) > 1 else ""
    targets = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-j", "-g")]
    return bool(OUR_CHAINS.match(chain)) or any(OUR_CHAINS.match(target) for target in targets)


FAMILIES = ("iptables", "ip6tables")


def remove_rules() -> None:
    """Remove what the cluster added to iptables (kube-proxy, the kubelet, the guards); leave every other rule."""
    for family in FAMILIES:
        for command in removal_commands(run(f"{family}-save").stdout):
            run(family, "-w", *command, check=False)  # already gone (kube-proxy --cleanup) is fine


def current_rules() -> list[str]:
    """What of the cluster is in iptables right now (empty after `down`)."""
    return [rule for family in FAMILIES for rule in leftover_rules(run(f"{family}-save").stdout)]
