"""Cluster flags of ``actorscope serve`` and the ``actorscope nodes`` command.

``actorscope serve --store postgresql://…`` (or ``ACTORSCOPE_STORE`` in the
environment, which keeps a password off the command line) runs the server
as a node of a cluster on that database; ``--node-id``, ``--advertise-url``
and ``--lease-ms`` tune it. ``actorscope nodes --url http://host:port``
prints the cluster's nodes, their health and leases (``GET /nodes``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from .cluster_boot import ClusterConfig, random_node_id

__all__ = ["STORE_ENV", "add_cluster_arguments", "cluster_config", "register"]

STORE_ENV = "ACTORSCOPE_STORE"
DEFAULT_LEASE_MS = 10_000
_MIN_LEASE_MS = 300


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster (several nodes on one PostgreSQL)")
    group.add_argument(
        "--store",
        default=None,
        metavar="DSN",
        help=f"postgresql://… connection string (or ${STORE_ENV}); without it, "
        "the SQLite file in --data",
    )
    group.add_argument("--node-id", default=None, help="this node's id (default: random)")
    group.add_argument(
        "--advertise-url",
        default=None,
        metavar="URL",
        help="where other nodes forward requests (default: the bound http://host:port)",
    )
    group.add_argument(
        "--lease-ms",
        type=_lease_ms,
        default=DEFAULT_LEASE_MS,
        metavar="MS",
        help=f"actor lease time; a dead node's actors move after about this long "
        f"(default {DEFAULT_LEASE_MS})",
    )


def _lease_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < _MIN_LEASE_MS:
        raise argparse.ArgumentTypeError(f"must be at least {_MIN_LEASE_MS} ms, not {value}")
    return value


def cluster_config(args: argparse.Namespace) -> ClusterConfig | None:
    """The node settings from ``serve``'s arguments; ``None`` for a lone server."""
    dsn = args.store or os.environ.get(STORE_ENV) or None
    if dsn is None:
        return None
    return ClusterConfig(
        dsn=dsn,
        node_id=args.node_id or random_node_id(),
        advertise_url=args.advertise_url,
        lease_ms=args.lease_ms,
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nodes",
        help="show a cluster's nodes, their health and leases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:6420", help="any node of the cluster")
    parser.add_argument(
        "--token", default=os.environ.get("ACTORSCOPE_TOKEN"), help="the server-wide token"
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.set_defaults(handler=_nodes)


def _nodes(args: argparse.Namespace) -> int:
    request = urllib.request.Request(args.url.rstrip("/") + "/nodes")
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        print(
            f"actorscope nodes: {args.url} answered {exc.code}: {exc.read().decode()}",
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError) as exc:
        print(f"actorscope nodes: cannot read {args.url}/nodes: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    print(f"lease {body['leaseMs']} ms; answered by {body['node']}")
    print(f"{'NODE':<20} {'HEALTH':<7} {'LEASES':>6}  ADDRESS")
    for node in body["nodes"]:
        health = "alive" if node["alive"] else "stale"
        print(f"{node['nodeId']:<20} {health:<7} {node['leases']:>6}  {node['address']}")
    metrics = body["metrics"]
    print(
        f"this node: {metrics['held']} held, {metrics['takeovers']} takeovers, "
        f"{metrics['leasesLost']} leases lost"
    )
    return 0
