"""Provision, inspect and tear down the Redshift stack with boto3.

Everything ``up`` creates is tagged ``sparkify:managed-by=sparkify-infra`` and
``sparkify:stack=<name>``; ``down`` checks those tags before deleting anything, so it never removes
a resource it did not create. Both are idempotent: a second ``up`` changes nothing and says so, a
second ``down`` finds nothing left.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.config import InfraConfig
from infra.policies import s3_access_policy, trust_policy
from loader.errors import ConfigError, TransientError

# On-demand list prices in us-west-2 (USD per hour), for `status`; check AWS pricing for yours.
NODE_PRICE = {
    "dc2.large": 0.25,
    "dc2.8xlarge": 4.80,
    "ra3.large": 0.543,
    "ra3.xlplus": 1.086,
    "ra3.4xlarge": 3.26,
    "ra3.16xlarge": 13.04,
}
RPU_HOUR_PRICE = 0.375
POLICY_NAME = "sparkify-s3-access"
CHECKIP_URL = "https://checkip.amazonaws.com"


def caller_cidr() -> str:
    """The caller's public IPv4 address as a /32 (asks AWS's checkip service)."""
    with urllib.request.urlopen(CHECKIP_URL, timeout=10) as response:
        address = response.read().decode().strip()
    return f"{address}/32"


@dataclass
class Clients:
    iam: Any
    ec2: Any
    redshift: Any
    serverless: Any = None  # a boto3 client (only in serverless mode)

    @classmethod
    def create(cls, region: str) -> Clients:
        import boto3

        session = boto3.session.Session(region_name=region)
        return cls(
            session.client("iam"),
            session.client("ec2"),
            session.client("redshift"),
            session.client("redshift-serverless"),
        )


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    changed: bool = False
    endpoint: tuple[str, int] | None = None
    role_arn: str | None = None


@dataclass
class Plan:
    """What ``up`` would do: a line per resource, whether anything is created, and whether
    that costs money (the warehouse itself; the role and security group are free)."""

    lines: list[str] = field(default_factory=list)
    creates: bool = False
    billable: bool = False
    cost: float = 0.0  # USD per hour once it exists (list price, us-west-2)

    def add(self, line: str, create: bool = False, billable: bool = False) -> None:
        self.lines.append(line)
        self.creates |= create
        self.billable |= billable


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class Stack:
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
        self.c = config
        self.aws = clients
        self.report = report
        self.sleep = sleep
        self.cidr_lookup = cidr_lookup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    # --- helpers --------------------------------------------------------------------------

    def _tag_list(self, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        return [{key: k, value: v} for k, v in self.c.tags.items()]

    def _ours(
        self, tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value"
    ) -> bool:
        found = {t[key]: t[value] for t in tags or []}
        return all(found.get(k) == v for k, v in self.c.tags.items())

    def _wait(self, what: str, check: Callable[[], str | None], done: set[str]) -> str | None:
        """Poll ``check`` (returns a status, or None when gone) until it is in ``done``."""
        started = time.monotonic()
        last = ""
        while True:
            status = check()
            if status != last:
                self.report(f"  {what}: {status or 'gone'} ({time.monotonic() - started:.0f}s)")
                last = status or ""
            if (status or "gone") in done:
                return status
            if time.monotonic() - started > self.timeout_seconds:
                raise TransientError(
                    f"timed out after {self.timeout_seconds:.0f}s waiting for "
                    f"{what} (last state {status}); it may still finish: run "
                    "`sparkify-infra status`, then `up` or `down` again"
                )
            self.sleep(self.poll_seconds)

    # --- IAM role ---------------------------------------------------------------------------

    def ensure_role(self, out: Outcome) -> str:
        iam = self.aws.iam
        policy = json.dumps(s3_access_policy(self.c))
        try:
            role = iam.get_role(RoleName=self.c.role_name)["Role"]
            tags = iam.list_role_tags(RoleName=self.c.role_name).get("Tags", [])
            if not self._ours(tags):
                raise ConfigError(
                    f"IAM role {self.c.role_name} exists but was not created by "
                    "sparkify-infra: choose another name (SPARKIFY_INFRA_NAME)"
                )
            current = iam.get_role_policy(RoleName=self.c.role_name, PolicyName=POLICY_NAME)
            if json.loads(json.dumps(current["PolicyDocument"])) != json.loads(policy):
                iam.put_role_policy(
                    RoleName=self.c.role_name, PolicyName=POLICY_NAME, PolicyDocument=policy
                )
                out.lines.append(f"IAM role {self.c.role_name}: S3 policy updated")
                out.changed = True
            else:
                out.lines.append(f"IAM role {self.c.role_name}: exists, unchanged")
            return role["Arn"]
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
        role = iam.create_role(
            RoleName=self.c.role_name,
            AssumeRolePolicyDocument=json.dumps(trust_policy(self.c.mode == "serverless")),
            Description="Lets Redshift COPY read the Sparkify source data (read-only)",
            Tags=self._tag_list(),
        )["Role"]
        iam.put_role_policy(
            RoleName=self.c.role_name, PolicyName=POLICY_NAME, PolicyDocument=policy
        )
        out.lines.append(
            f"IAM role {self.c.role_name}: created (read-only S3 on "
            f"{', '.join(s.bucket for s in self.c.sources)})"
        )
        out.changed = True
        return role["Arn"]

    def delete_role(self, out: Outcome) -> None:
        iam = self.aws.iam
        try:
            tags = iam.list_role_tags(RoleName=self.c.role_name).get("Tags", [])
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                out.lines.append(f"IAM role {self.c.role_name}: already gone")
                return
            raise
        if not self._ours(tags):
            out.lines.append(f"IAM role {self.c.role_name}: not ours (tags differ), left alone")
            return
        for name in iam.list_role_policies(RoleName=self.c.role_name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=self.c.role_name, PolicyName=name)
        iam.delete_role(RoleName=self.c.role_name)
        out.lines.append(f"IAM role {self.c.role_name}: deleted")
        out.changed = True

    # --- network ----------------------------------------------------------------------------

    def default_vpc(self) -> str:
        vpcs = self.aws.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])[
            "Vpcs"
        ]
        if not vpcs:
            raise ConfigError(
                f"no default VPC in {self.c.region}: create one "
                "(aws ec2 create-default-vpc) or use another region"
            )
        return vpcs[0]["VpcId"]

    def _find_group(self) -> dict | None:
        groups = self.aws.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [self.c.security_group_name]}]
        )["SecurityGroups"]
        return groups[0] if groups else None

    def ingress_cidr(self) -> str:
        if self.c.allowed_cidr:
            if self.c.allowed_cidr.endswith("/0"):
                self.report(
                    "WARNING: the warehouse port is open to the whole internet "
                    f"({self.c.allowed_cidr}), as allow_anywhere asked"
                )
            return self.c.allowed_cidr
        try:
            return self.cidr_lookup()
        except OSError as exc:
            raise ConfigError(
                f"cannot find your public IP ({exc}); set SPARKIFY_INFRA_ALLOWED_CIDR=<your-ip>/32"
            ) from None

    def ensure_security_group(self, out: Outcome) -> str:
        ec2 = self.aws.ec2
        cidr = self.ingress_cidr()
        group = self._find_group()
        if group is None:
            group_id = ec2.create_security_group(
                GroupName=self.c.security_group_name,
                VpcId=self.default_vpc(),
                Description=f"Sparkify Redshift: port {self.c.port} from allowed addresses only",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": self._tag_list()}],
            )["GroupId"]
            out.lines.append(f"security group {self.c.security_group_name}: created")
            out.changed = True
            rules: list[dict] = []
        else:
            if not self._ours(group.get("Tags")):
                raise ConfigError(
                    f"security group {self.c.security_group_name} exists but was not "
                    "created by sparkify-infra: choose another name"
                )
            group_id = group["GroupId"]
            rules = group.get("IpPermissions", [])
        present = any(
            r.get("FromPort") == self.c.port
            and r.get("ToPort") == self.c.port
            and any(ip.get("CidrIp") == cidr for ip in r.get("IpRanges", []))
            for r in rules
        )
        if present:
            out.lines.append(f"ingress tcp/{self.c.port} from {cidr}: exists, unchanged")
        else:
            ec2.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": self.c.port,
                        "ToPort": self.c.port,
                        "IpRanges": [{"CidrIp": cidr, "Description": "sparkify warehouse access"}],
                    }
                ],
            )
            out.lines.append(f"ingress tcp/{self.c.port} from {cidr}: added")
            out.changed = True
        return group_id

    def delete_security_group(self, out: Outcome) -> None:
        group = self._find_group()
        if group is None:
            out.lines.append(f"security group {self.c.security_group_name}: already gone")
            return
        if not self._ours(group.get("Tags")):
            out.lines.append(f"security group {self.c.security_group_name}: not ours, left alone")
            return
        self.aws.ec2.delete_security_group(GroupId=group["GroupId"])
        out.lines.append(f"security group {self.c.security_group_name}: deleted")
        out.changed = True

    # --- provisioned cluster ------------------------------------------------------------------

    def _cluster(self) -> dict | None:
        try:
            return self.aws.redshift.describe_clusters(ClusterIdentifier=self.c.cluster_id)[
                "Clusters"
            ][0]
        except ClientError as exc:
            if _code(exc) == "ClusterNotFound":
                return None
            raise

    def ensure_cluster(self, out: Outcome, role_arn: str, group_id: str) -> None:
        cluster = self._cluster()
        if cluster is not None and not self._ours(cluster.get("Tags")):
            raise ConfigError(
                f"cluster {self.c.cluster_id} exists but was not created by "
                "sparkify-infra: choose another name"
            )
        if cluster is None:
            self.aws.redshift.create_cluster(
                ClusterIdentifier=self.c.cluster_id,
                ClusterType="multi-node",
                NodeType=self.c.node_type,
                NumberOfNodes=self.c.node_count,
                DBName=self.c.database,
                Port=self.c.port,
                MasterUsername=self.c.admin_user,
                MasterUserPassword=self.c.admin_password,
                IamRoles=[role_arn],
                VpcSecurityGroupIds=[group_id],
                Encrypted=True,
                PubliclyAccessible=self.c.publicly_accessible,
                Tags=self._tag_list(),
            )
            out.lines.append(
                f"cluster {self.c.cluster_id}: created ({self.c.node_count} x "
                f"{self.c.node_type}, encrypted)"
            )
            out.changed = True
        else:
            out.lines.append(f"cluster {self.c.cluster_id}: exists, unchanged")
        self._wait(
            f"cluster {self.c.cluster_id}",
            lambda: (self._cluster() or {}).get("ClusterStatus"),
            {"available"},
        )
        cluster = self._cluster() or {}
        endpoint = cluster.get("Endpoint", {})
        out.endpoint = (endpoint.get("Address", ""), int(endpoint.get("Port", self.c.port)))

    def delete_cluster(self, out: Outcome) -> None:
        cluster = self._cluster()
        if cluster is None:
            out.lines.append(f"cluster {self.c.cluster_id}: already gone")
            return
        if not self._ours(cluster.get("Tags")):
            out.lines.append(f"cluster {self.c.cluster_id}: not ours, left alone")
            return
        if cluster.get("ClusterStatus") != "deleting":
            kwargs: dict[str, Any] = {"ClusterIdentifier": self.c.cluster_id}
            if self.c.final_snapshot:
                kwargs["FinalClusterSnapshotIdentifier"] = (
                    f"{self.c.cluster_id}-final-{int(time.time())}"
                )
            else:
                kwargs["SkipFinalClusterSnapshot"] = True
            self.aws.redshift.delete_cluster(**kwargs)
        self._wait(
            f"cluster {self.c.cluster_id}",
            lambda: (self._cluster() or {}).get("ClusterStatus"),
            {"gone"},
        )
        out.lines.append(
            f"cluster {self.c.cluster_id}: deleted"
            + (" (final snapshot kept)" if self.c.final_snapshot else "")
        )
        out.changed = True

    # --- serverless -------------------------------------------------------------------------

    def _namespace(self) -> dict | None:
        try:
            return self.aws.serverless.get_namespace(namespaceName=self.c.namespace)["namespace"]
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise

    def _workgroup(self) -> dict | None:
        try:
            return self.aws.serverless.get_workgroup(workgroupName=self.c.workgroup)["workgroup"]
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise

    def _serverless_ours(self, arn: str) -> bool:
        tags = self.aws.serverless.list_tags_for_resource(resourceArn=arn).get("tags", [])
        return self._ours(tags, "key", "value")

    def ensure_serverless(self, out: Outcome, role_arn: str, group_id: str) -> None:
        sls = self.aws.serverless
        namespace = self._namespace()
        if namespace is None:
            sls.create_namespace(
                namespaceName=self.c.namespace,
                adminUsername=self.c.admin_user,
                adminUserPassword=self.c.admin_password,
                dbName=self.c.database,
                iamRoles=[role_arn],
                defaultIamRoleArn=role_arn,
                tags=self._tag_list("key", "value"),
            )
            out.lines.append(f"namespace {self.c.namespace}: created")
            out.changed = True
        elif not self._serverless_ours(namespace["namespaceArn"]):
            raise ConfigError(
                f"namespace {self.c.namespace} exists but was not created by "
                "sparkify-infra: choose another name"
            )
        else:
            out.lines.append(f"namespace {self.c.namespace}: exists, unchanged")
        workgroup = self._workgroup()
        if workgroup is None:
            subnets = [
                s["SubnetId"]
                for s in self.aws.ec2.describe_subnets(
                    Filters=[{"Name": "vpc-id", "Values": [self.default_vpc()]}]
                )["Subnets"]
            ]
            workgroup = sls.create_workgroup(
                workgroupName=self.c.workgroup,
                namespaceName=self.c.namespace,
                baseCapacity=self.c.base_capacity,
                port=self.c.port,
                publiclyAccessible=self.c.publicly_accessible,
                securityGroupIds=[group_id],
                subnetIds=subnets,
                tags=self._tag_list("key", "value"),
            )["workgroup"]
            out.lines.append(f"workgroup {self.c.workgroup}: created ({self.c.base_capacity} RPUs)")
            out.changed = True
        elif not self._serverless_ours(workgroup["workgroupArn"]):
            raise ConfigError(
                f"workgroup {self.c.workgroup} exists but was not created by "
                "sparkify-infra: choose another name"
            )
        else:
            out.lines.append(f"workgroup {self.c.workgroup}: exists, unchanged")
        limits = sls.list_usage_limits(resourceArn=workgroup["workgroupArn"]).get("usageLimits", [])
        if limits:
            out.lines.append(
                f"usage limit: exists ({limits[0].get('amount')} RPU-hours "
                f"{limits[0].get('period')}), unchanged"
            )
        else:
            sls.create_usage_limit(
                resourceArn=workgroup["workgroupArn"],
                usageType="serverless-compute",
                amount=self.c.usage_limit_rpu_hours,
                period=self.c.usage_limit_period,
                breachAction="deactivate",
            )
            out.lines.append(
                f"usage limit: {self.c.usage_limit_rpu_hours} RPU-hours "
                f"{self.c.usage_limit_period}, then the workgroup is deactivated"
            )
            out.changed = True
        self._wait(
            f"workgroup {self.c.workgroup}",
            lambda: (self._workgroup() or {}).get("status"),
            {"AVAILABLE"},
        )
        endpoint = (self._workgroup() or {}).get("endpoint", {})
        out.endpoint = (endpoint.get("address", ""), int(endpoint.get("port", self.c.port)))

    def delete_serverless(self, out: Outcome) -> None:
        sls = self.aws.serverless
        workgroup = self._workgroup()
        if workgroup is None:
            out.lines.append(f"workgroup {self.c.workgroup}: already gone")
        elif not self._serverless_ours(workgroup["workgroupArn"]):
            out.lines.append(f"workgroup {self.c.workgroup}: not ours, left alone")
        else:
            for limit in sls.list_usage_limits(resourceArn=workgroup["workgroupArn"]).get(
                "usageLimits", []
            ):
                sls.delete_usage_limit(usageLimitId=limit["usageLimitId"])
            if workgroup.get("status") != "DELETING":
                sls.delete_workgroup(workgroupName=self.c.workgroup)
            self._wait(
                f"workgroup {self.c.workgroup}",
                lambda: (self._workgroup() or {}).get("status"),
                {"gone"},
            )
            out.lines.append(f"workgroup {self.c.workgroup}: deleted")
            out.changed = True
        namespace = self._namespace()
        if namespace is None:
            out.lines.append(f"namespace {self.c.namespace}: already gone")
        elif not self._serverless_ours(namespace["namespaceArn"]):
            out.lines.append(f"namespace {self.c.namespace}: not ours, left alone")
        else:
            kwargs: dict[str, Any] = {"namespaceName": self.c.namespace}
            if self.c.final_snapshot:
                kwargs["finalSnapshotName"] = f"{self.c.namespace}-final-{int(time.time())}"
            sls.delete_namespace(**kwargs)
            self._wait(
                f"namespace {self.c.namespace}",
                lambda: (self._namespace() or {}).get("status"),
                {"gone"},
            )
            out.lines.append(f"namespace {self.c.namespace}: deleted")
            out.changed = True

    # --- the three commands -------------------------------------------------------------------

    def up(self) -> Outcome:
        out = Outcome()
        role_arn = self.ensure_role(out)
        group_id = self.ensure_security_group(out)
        if self.c.mode == "provisioned":
            self.ensure_cluster(out, role_arn, group_id)
        else:
            self.ensure_serverless(out, role_arn, group_id)
        out.role_arn = role_arn
        return out

    def down(self) -> Outcome:
        out = Outcome()
        if self.c.mode == "provisioned":
            self.delete_cluster(out)
        else:
            self.delete_serverless(out)
        self.delete_security_group(out)
        self.delete_role(out)
        return out

    def plan(self) -> Plan:
        """What ``up`` would create and what it finds already there, with the cost per hour of
        the warehouse once it exists. Reads only; looks up no public IP."""
        plan = Plan()
        c = self.c
        try:
            self.aws.iam.get_role(RoleName=c.role_name)
            plan.add(f"IAM role {c.role_name}: exists")
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            reads = ", ".join(f"s3://{s.bucket}/{s.prefix}".rstrip("/") for s in c.sources)
            plan.add(f"IAM role {c.role_name}: create (Redshift may read {reads})", create=True)
        cidr = c.allowed_cidr or "your public IP/32, looked up when created"
        if self._find_group():
            plan.add(f"security group {c.security_group_name}: exists")
        else:
            plan.add(
                f"security group {c.security_group_name}: create (port {c.port} from {cidr})",
                create=True,
            )
        if c.mode == "provisioned":
            plan.cost = c.node_count * NODE_PRICE.get(c.node_type, 0.0)
            cluster = self._cluster()
            if cluster:
                plan.add(f"cluster {c.cluster_id}: exists ({cluster.get('ClusterStatus')})")
            else:
                plan.add(
                    f"cluster {c.cluster_id}: create {c.node_count} x {c.node_type}"
                    + (", publicly accessible" if c.publicly_accessible else ""),
                    create=True,
                    billable=True,
                )
            plan.add(f"cost: about ${plan.cost:,.2f} per hour while the cluster exists")
        else:
            plan.cost = c.base_capacity * RPU_HOUR_PRICE
            for what, name, found in (
                ("namespace", c.namespace, self._namespace()),
                ("workgroup", c.workgroup, self._workgroup()),
            ):
                if found:
                    plan.add(f"{what} {name}: exists ({found.get('status', '?')})")
                elif what == "namespace":
                    plan.add(f"namespace {name}: create (database {c.database})", create=True)
                else:
                    plan.add(
                        f"workgroup {name}: create {c.base_capacity} RPUs, usage limit "
                        f"{c.usage_limit_rpu_hours} RPU-hours {c.usage_limit_period}",
                        create=True,
                        billable=True,
                    )
            cap = c.usage_limit_rpu_hours * RPU_HOUR_PRICE
            plan.add(
                f"cost: about ${plan.cost:,.2f} per hour while queries run, at most about "
                f"${cap:,.2f} {c.usage_limit_period} (the usage limit)"
            )
        return plan

    def status(self) -> list[str]:
        lines = []
        try:
            role = self.aws.iam.get_role(RoleName=self.c.role_name)["Role"]
            lines.append(f"IAM role {self.c.role_name}: {role['Arn']}")
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            lines.append(f"IAM role {self.c.role_name}: absent")
        group = self._find_group()
        lines.append(
            f"security group {self.c.security_group_name}: "
            + (group["GroupId"] if group else "absent")
        )
        cost = 0.0
        if self.c.mode == "provisioned":
            cluster = self._cluster()
            if cluster:
                nodes = int(cluster.get("NumberOfNodes", self.c.node_count))
                node_type = cluster.get("NodeType", self.c.node_type)
                cost = nodes * NODE_PRICE.get(node_type, 0.0)
                endpoint = cluster.get("Endpoint", {}).get("Address", "-")
                lines.append(
                    f"cluster {self.c.cluster_id}: {cluster.get('ClusterStatus')}, "
                    f"{nodes} x {node_type}, endpoint {endpoint}"
                )
            else:
                lines.append(f"cluster {self.c.cluster_id}: absent")
        else:
            workgroup = self._workgroup()
            namespace = self._namespace()
            lines.append(
                f"namespace {self.c.namespace}: "
                + (namespace.get("status", "?") if namespace else "absent")
            )
            if workgroup:
                capacity = int(workgroup.get("baseCapacity", self.c.base_capacity))
                cost = capacity * RPU_HOUR_PRICE
                lines.append(
                    f"workgroup {self.c.workgroup}: {workgroup.get('status')}, "
                    f"{capacity} RPUs, endpoint "
                    f"{workgroup.get('endpoint', {}).get('address', '-')}"
                )
            else:
                lines.append(f"workgroup {self.c.workgroup}: absent")
        if self.c.mode == "provisioned":
            lines.append(f"cost: about ${cost:,.2f} per hour while it exists")
        else:
            lines.append(
                f"cost: about ${cost:,.2f} per hour while queries run (billed per "
                "RPU-second, capped by the usage limit)"
            )
        return lines
