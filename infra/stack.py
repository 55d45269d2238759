"""Provision, inspect and tear down the Redshift stack with boto3.

Everything ``up`` creates is tagged ``sparkify:managed-by=sparkify-infra`` and
``sparkify:stack=<name>``; ``down`` checks those tags before deleting anything, so it never removes
a resource it did not create. Both are idempotent: a second ``up`` changes nothing and says so, a
second ``down`` finds nothing left.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from infra.config import InfraConfig
from infra.resources import (
    Clients,
    Cluster,
    Context,
    Namespace,
    Outcome,
    Plan,
    Resource,
    Role,
    SecurityGroup,
    Workgroup,
)

__all__ = ["Clients", "Outcome", "Plan", "Stack", "caller_cidr"]

CHECKIP_URL = "https://checkip.amazonaws.com"


def caller_cidr() -> str:
    """The caller's public IPv4 address as a /32 (asks AWS's checkip service)."""
    with urllib.request.urlopen(CHECKIP_URL, timeout=10) as response:
        address = response.read().decode().strip()
    return f"{address}/32"


class Stack:
    """The stack of one ``InfraConfig``: the IAM role, the security group, and the warehouse
    (a provisioned cluster, or a Serverless namespace and workgroup)."""

    def __init__(
        self,
        config: InfraConfig,
        clients: Clients,
        *,
        report: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        cidr_lookup: Callable[[], str] = caller_cidr,
        poll_seconds: float = 20,
        timeout_seconds: float = 3600,
    ) -> None:
        self.config = config
        self.context = Context(config, clients, report, sleep, poll_seconds, timeout_seconds)
        self.role = Role(self.context)
        self.security_group = SecurityGroup(self.context, cidr_lookup)
        self.cluster = Cluster(self.context)
        self.namespace = Namespace(self.context)
        self.workgroup = Workgroup(self.context, subnets=self._default_subnets)

    @property
    def provisioned(self) -> bool:
        return self.config.mode == "provisioned"

    def _default_subnets(self) -> list[str]:
        vpc = self.security_group.default_vpc()
        subnets = self.context.aws.ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}]
        )["Subnets"]
        return [subnet["SubnetId"] for subnet in subnets]

    def _warehouse(self) -> list[Resource]:
        """The warehouse's resources, in the order they are created."""
        return [self.cluster] if self.provisioned else [self.namespace, self.workgroup]

    def up(self) -> Outcome:
        out = Outcome()
        role_arn = self.role.ensure(out)["Arn"]
        group_id = self.security_group.ensure(out)["GroupId"]
        self.cluster.role_arn = self.namespace.role_arn = role_arn
        self.cluster.group_id = self.workgroup.group_id = group_id
        for resource in self._warehouse():
            resource.ensure(out)
        out.role_arn = role_arn
        return out

    def down(self) -> Outcome:
        out = Outcome()
        for resource in reversed(self._warehouse()):
            resource.delete(out)
        self.security_group.delete(out)
        self.role.delete(out)
        return out

    def plan(self) -> Plan:
        """What ``up`` would create and what it finds already there, with the cost per hour of
        the warehouse once it exists. Reads only; looks up no public IP."""
        plan = Plan()
        for resource in (self.role, self.security_group, *self._warehouse()):
            resource.plan(plan)
        return plan

    def status(self) -> list[str]:
        lines = [self.role.status(), self.security_group.status()]
        if self.provisioned:
            cluster = self.cluster.find()
            lines.append(self.cluster.status_line(cluster))
            cost = self.cluster.hourly_cost(cluster) if cluster else 0.0
            lines.append(f"cost: about ${cost:,.2f} per hour while it exists")
            return lines
        workgroup = self.workgroup.find()
        lines.append(self.namespace.status())
        lines.append(self.workgroup.status_line(workgroup))
        cost = self.workgroup.hourly_cost(workgroup) if workgroup else 0.0
        lines.append(
            f"cost: about ${cost:,.2f} per hour while queries run (billed per "
            "RPU-second, capped by the usage limit)"
        )
        return lines
