"""One small class per AWS resource of the stack, each with ``ensure``, ``delete``, ``status``
and ``plan``.

What every resource shares is here once (``Resource``): ``ensure`` creates what is missing,
refuses a resource of that name that ``sparkify-infra`` did not create (its tags say so), and
keeps one that is ours; ``delete`` removes only what is ours and waits until it is gone. A
resource says how to find, create, update and remove itself, and nothing else.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
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
    """What ``up`` or ``down`` did: a line per resource, and whether anything changed."""

    lines: list[str] = field(default_factory=list)
    changed: bool = False
    endpoint: tuple[str, int] | None = None
    role_arn: str | None = None

    def did(self, line: str) -> None:
        """A change made (created, updated, deleted)."""
        self.lines.append(line)
        self.changed = True


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


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


@dataclass
class Context:
    """What every resource needs: the settings, the AWS clients, and how to wait."""

    config: InfraConfig
    aws: Clients
    report: Callable[[str], None]
    sleep: Callable[[float], None]
    poll_seconds: float
    timeout_seconds: float

    def tag_list(self, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        return [{key: k, value: v} for k, v in self.config.tags.items()]

    def has_our_tags(
        self, tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value"
    ) -> bool:
        found = {t[key]: t[value] for t in tags or []}
        return all(found.get(k) == v for k, v in self.config.tags.items())

    def wait(self, what: str, check: Callable[[], str | None], done: set[str]) -> str | None:
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


def missing_on(exc: ClientError, code: str) -> None:
    """Return quietly when ``exc`` says the resource does not exist; raise it otherwise."""
    if error_code(exc) != code:
        raise exc


class Resource(ABC):
    kind: str  # how lines name it: "IAM role", "security group", "cluster", ...
    waits_for_deletion = True  # whether delete waits until AWS says it is gone

    def __init__(self, context: Context) -> None:
        self.context = context
        self.config = context.config

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    @abstractmethod
    def find(self) -> dict | None:
        """The resource as AWS describes it, or None when it does not exist."""

    @abstractmethod
    def is_ours(self, found: dict) -> bool:
        """Whether ``sparkify-infra`` created it (its tags)."""

    @abstractmethod
    def create(self, out: Outcome) -> dict:
        """Create it (recording the line in ``out``); return it as AWS describes it."""

    def update(self, found: dict, out: Outcome) -> None:
        """Bring a resource that is ours to the settings (nothing to change by default)."""
        out.lines.append(f"{self.label}: exists, unchanged")

    @abstractmethod
    def remove(self, found: dict) -> None:
        """Ask AWS to delete it."""

    def gone_status(self) -> str | None:
        """Its status while it is being deleted (None once gone): deletion is waited for."""
        return None

    def deleted_line(self) -> str:
        return f"{self.label}: deleted"

    def ensure(self, out: Outcome) -> dict:
        found = self.find()
        if found is None:
            return self.create(out)
        if not self.is_ours(found):
            raise ConfigError(
                f"{self.label} exists but was not created by sparkify-infra: choose another "
                "name (SPARKIFY_INFRA_NAME)"
            )
        self.update(found, out)
        return found

    def delete(self, out: Outcome) -> None:
        found = self.find()
        if found is None:
            out.lines.append(f"{self.label}: already gone")
            return
        if not self.is_ours(found):
            out.lines.append(f"{self.label}: not ours, left alone")
            return
        self.remove(found)
        if self.waits_for_deletion:
            self.context.wait(self.label, self.gone_status, {"gone"})
        out.did(self.deleted_line())

    def status(self) -> str:
        """One line: what exists now (``absent`` when nothing does)."""
        return self.status_line(self.find())

    def status_line(self, found: dict | None) -> str:
        """The status line of the resource as ``find`` gave it (None: absent)."""
        return f"{self.label}: " + (self.describe(found) if found else "absent")

    def describe(self, found: dict) -> str:
        """What ``status`` says of a resource that exists."""
        return str(found.get("status", "?"))

    billable = False  # whether it costs money while it exists

    @abstractmethod
    def to_create(self) -> str:
        """What ``up`` would create, for ``plan``."""

    def plan(self, plan: Plan) -> None:
        """Add what ``up`` would do about it to ``plan`` (reads only)."""
        found = self.find()
        if found is None:
            plan.add(
                f"{self.label}: create {self.to_create()}", create=True, billable=self.billable
            )
        else:
            state = self.state(found)
            plan.add(f"{self.label}: exists" + (f" ({state})" if state else ""))

    def state(self, found: dict) -> str:
        """Its state in ``plan`` ("available", "AVAILABLE"; empty for none)."""
        return str(found.get("status", "?"))


class Role(Resource):
    """The IAM role Redshift assumes to COPY: read-only on the source (and stage) prefixes."""

    kind = "IAM role"
    waits_for_deletion = False

    @property
    def name(self) -> str:
        return self.config.role_name

    def _policy(self) -> str:
        return json.dumps(s3_access_policy(self.config))

    def find(self) -> dict | None:
        iam = self.context.aws.iam
        try:
            role = dict(iam.get_role(RoleName=self.name)["Role"])
        except ClientError as exc:
            missing_on(exc, "NoSuchEntity")
            return None
        role["Tags"] = iam.list_role_tags(RoleName=self.name).get("Tags", [])
        return role

    def is_ours(self, found: dict) -> bool:
        return self.context.has_our_tags(found.get("Tags"))

    def create(self, out: Outcome) -> dict:
        iam = self.context.aws.iam
        role = iam.create_role(
            RoleName=self.name,
            AssumeRolePolicyDocument=json.dumps(trust_policy(self.config.mode == "serverless")),
            Description="Lets Redshift COPY read the Sparkify source data (read-only)",
            Tags=self.context.tag_list(),
        )["Role"]
        iam.put_role_policy(
            RoleName=self.name, PolicyName=POLICY_NAME, PolicyDocument=self._policy()
        )
        out.did(
            f"{self.label}: created (read-only S3 on "
            f"{', '.join(s.bucket for s in self.config.sources)})"
        )
        return role

    def update(self, found: dict, out: Outcome) -> None:
        iam = self.context.aws.iam
        policy = self._policy()
        current = iam.get_role_policy(RoleName=self.name, PolicyName=POLICY_NAME)
        if json.loads(json.dumps(current["PolicyDocument"])) != json.loads(policy):
            iam.put_role_policy(RoleName=self.name, PolicyName=POLICY_NAME, PolicyDocument=policy)
            out.did(f"{self.label}: S3 policy updated")
        else:
            out.lines.append(f"{self.label}: exists, unchanged")

    def remove(self, found: dict) -> None:
        iam = self.context.aws.iam
        for policy in iam.list_role_policies(RoleName=self.name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=self.name, PolicyName=policy)
        iam.delete_role(RoleName=self.name)

    def describe(self, found: dict) -> str:
        return found["Arn"]

    def state(self, found: dict) -> str:
        return ""

    def to_create(self) -> str:
        reads = ", ".join(f"s3://{s.bucket}/{s.prefix}".rstrip("/") for s in self.config.sources)
        return f"(Redshift may read {reads})"


class SecurityGroup(Resource):
    """The security group that opens the warehouse port to the allowed addresses only."""

    kind = "security group"
    waits_for_deletion = False

    def __init__(self, context: Context, cidr_lookup: Callable[[], str]) -> None:
        super().__init__(context)
        self.cidr_lookup = cidr_lookup

    @property
    def name(self) -> str:
        return self.config.security_group_name

    def default_vpc(self) -> str:
        vpcs = self.context.aws.ec2.describe_vpcs(
            Filters=[{"Name": "isDefault", "Values": ["true"]}]
        )["Vpcs"]
        if not vpcs:
            raise ConfigError(
                f"no default VPC in {self.config.region}: create one "
                "(aws ec2 create-default-vpc) or use another region"
            )
        return vpcs[0]["VpcId"]

    def ingress_cidr(self) -> str:
        allowed = self.config.allowed_cidr
        if allowed:
            if allowed.endswith("/0"):
                self.context.report(
                    "WARNING: the warehouse port is open to the whole internet "
                    f"({allowed}), as allow_anywhere asked"
                )
            return allowed
        try:
            return self.cidr_lookup()
        except OSError as exc:
            raise ConfigError(
                f"cannot find your public IP ({exc}); set SPARKIFY_INFRA_ALLOWED_CIDR=<your-ip>/32"
            ) from None

    def find(self) -> dict | None:
        groups = self.context.aws.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [self.name]}]
        )["SecurityGroups"]
        return groups[0] if groups else None

    def is_ours(self, found: dict) -> bool:
        return self.context.has_our_tags(found.get("Tags"))

    def create(self, out: Outcome) -> dict:
        group_id = self.context.aws.ec2.create_security_group(
            GroupName=self.name,
            VpcId=self.default_vpc(),
            Description=f"Sparkify Redshift: port {self.config.port} from allowed addresses only",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": self.context.tag_list()}],
        )["GroupId"]
        out.did(f"{self.label}: created")
        return {"GroupId": group_id, "IpPermissions": []}

    def ensure(self, out: Outcome) -> dict:
        """The group, with an ingress rule for the allowed addresses on the warehouse port."""
        cidr = self.ingress_cidr()
        group = super().ensure(out)
        port = self.config.port
        present = any(
            rule.get("FromPort") == port
            and rule.get("ToPort") == port
            and any(ip.get("CidrIp") == cidr for ip in rule.get("IpRanges", []))
            for rule in group.get("IpPermissions", [])
        )
        if present:
            out.lines.append(f"ingress tcp/{port} from {cidr}: exists, unchanged")
        else:
            self.context.aws.ec2.authorize_security_group_ingress(
                GroupId=group["GroupId"],
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": cidr, "Description": "sparkify warehouse access"}],
                    }
                ],
            )
            out.did(f"ingress tcp/{port} from {cidr}: added")
        return group

    def remove(self, found: dict) -> None:
        self.context.aws.ec2.delete_security_group(GroupId=found["GroupId"])

    def describe(self, found: dict) -> str:
        return found["GroupId"]

    def state(self, found: dict) -> str:
        return ""

    def to_create(self) -> str:
        cidr = self.config.allowed_cidr or "your public IP/32, looked up when created"
        return f"(port {self.config.port} from {cidr})"


class Cluster(Resource):
    """A provisioned Redshift cluster, encrypted, reachable only through the security group."""

    kind = "cluster"

    def __init__(self, context: Context, role_arn: str = "", group_id: str = "") -> None:
        super().__init__(context)
        self.role_arn, self.group_id = role_arn, group_id

    @property
    def name(self) -> str:
        return self.config.cluster_id

    def find(self) -> dict | None:
        try:
            return self.context.aws.redshift.describe_clusters(ClusterIdentifier=self.name)[
                "Clusters"
            ][0]
        except ClientError as exc:
            missing_on(exc, "ClusterNotFound")
            return None

    def is_ours(self, found: dict) -> bool:
        return self.context.has_our_tags(found.get("Tags"))

    def create(self, out: Outcome) -> dict:
        c = self.config
        cluster = self.context.aws.redshift.create_cluster(
            ClusterIdentifier=self.name,
            ClusterType="multi-node",
            NodeType=c.node_type,
            NumberOfNodes=c.node_count,
            DBName=c.database,
            Port=c.port,
            MasterUsername=c.admin_user,
            MasterUserPassword=c.admin_password,
            IamRoles=[self.role_arn],
            VpcSecurityGroupIds=[self.group_id],
            Encrypted=True,
            PubliclyAccessible=c.publicly_accessible,
            Tags=self.context.tag_list(),
        )["Cluster"]
        out.did(f"{self.label}: created ({c.node_count} x {c.node_type}, encrypted)")
        return cluster

    def current_status(self) -> str | None:
        return (self.find() or {}).get("ClusterStatus")

    def ensure(self, out: Outcome) -> dict:
        """The cluster, once available; its endpoint goes to ``out``."""
        super().ensure(out)
        self.context.wait(self.label, self.current_status, {"available"})
        cluster = self.find() or {}
        endpoint = cluster.get("Endpoint", {})
        out.endpoint = (endpoint.get("Address", ""), int(endpoint.get("Port", self.config.port)))
        return cluster

    def remove(self, found: dict) -> None:
        if found.get("ClusterStatus") == "deleting":
            return
        kwargs: dict[str, Any] = {"ClusterIdentifier": self.name}
        if self.config.final_snapshot:
            kwargs["FinalClusterSnapshotIdentifier"] = f"{self.name}-final-{int(time.time())}"
        else:
            kwargs["SkipFinalClusterSnapshot"] = True
        self.context.aws.redshift.delete_cluster(**kwargs)

    gone_status = current_status

    def deleted_line(self) -> str:
        kept = " (final snapshot kept)" if self.config.final_snapshot else ""
        return f"{self.label}: deleted{kept}"

    def hourly_cost(self, found: dict | None = None) -> float:
        found = found or {}
        nodes = int(found.get("NumberOfNodes", self.config.node_count))
        return nodes * NODE_PRICE.get(found.get("NodeType", self.config.node_type), 0.0)

    billable = True

    def describe(self, found: dict) -> str:
        endpoint = found.get("Endpoint", {}).get("Address", "-")
        return (
            f"{found.get('ClusterStatus')}, "
            f"{int(found.get('NumberOfNodes', self.config.node_count))} x "
            f"{found.get('NodeType', self.config.node_type)}, endpoint {endpoint}"
        )

    def state(self, found: dict) -> str:
        return str(found.get("ClusterStatus"))

    def to_create(self) -> str:
        c = self.config
        public = ", publicly accessible" if c.publicly_accessible else ""
        return f"{c.node_count} x {c.node_type}{public}"

    def plan(self, plan: Plan) -> None:
        super().plan(plan)
        plan.cost = self.hourly_cost()
        plan.add(f"cost: about ${plan.cost:,.2f} per hour while the cluster exists")


class ServerlessResource(Resource):
    """A Redshift Serverless resource (``kind`` is "namespace" or "workgroup"): named by the
    setting of that name, read by ``get_<kind>``, tagged through its ARN."""

    @property
    def name(self) -> str:
        return getattr(self.config, self.kind)

    def find(self) -> dict | None:
        get = getattr(self.context.aws.serverless, f"get_{self.kind}")
        try:
            return get(**{f"{self.kind}Name": self.name})[self.kind]
        except ClientError as exc:
            missing_on(exc, "ResourceNotFoundException")
            return None

    def is_ours(self, found: dict) -> bool:
        tags = self.context.aws.serverless.list_tags_for_resource(
            resourceArn=found[f"{self.kind}Arn"]
        ).get("tags", [])
        return self.context.has_our_tags(tags, "key", "value")

    def current_status(self) -> str | None:
        return (self.find() or {}).get("status")

    gone_status = current_status


class Namespace(ServerlessResource):
    """The Serverless namespace: the database, its admin user and the IAM role."""

    kind = "namespace"

    def __init__(self, context: Context, role_arn: str = "") -> None:
        super().__init__(context)
        self.role_arn = role_arn

    def create(self, out: Outcome) -> dict:
        c = self.config
        namespace = self.context.aws.serverless.create_namespace(
            namespaceName=self.name,
            adminUsername=c.admin_user,
            adminUserPassword=c.admin_password,
            dbName=c.database,
            iamRoles=[self.role_arn],
            defaultIamRoleArn=self.role_arn,
            tags=self.context.tag_list("key", "value"),
        )["namespace"]
        out.did(f"{self.label}: created")
        return namespace

    def remove(self, found: dict) -> None:
        kwargs: dict[str, Any] = {"namespaceName": self.name}
        if self.config.final_snapshot:
            kwargs["finalSnapshotName"] = f"{self.name}-final-{int(time.time())}"
        self.context.aws.serverless.delete_namespace(**kwargs)

    def to_create(self) -> str:
        return f"(database {self.config.database})"


class Workgroup(ServerlessResource):
    """The Serverless workgroup (compute), behind the security group, with a usage limit that
    deactivates it once the RPU-hours of a period are spent."""

    kind = "workgroup"

    def __init__(
        self, context: Context, group_id: str = "", subnets: Callable[[], list[str]] = list
    ) -> None:
        super().__init__(context)
        self.group_id, self.subnets = group_id, subnets

    def create(self, out: Outcome) -> dict:
        c = self.config
        workgroup = self.context.aws.serverless.create_workgroup(
            workgroupName=self.name,
            namespaceName=c.namespace,
            baseCapacity=c.base_capacity,
            port=c.port,
            publiclyAccessible=c.publicly_accessible,
            securityGroupIds=[self.group_id],
            subnetIds=self.subnets(),
            tags=self.context.tag_list("key", "value"),
        )["workgroup"]
        out.did(f"{self.label}: created ({c.base_capacity} RPUs)")
        return workgroup

    def ensure(self, out: Outcome) -> dict:
        """The workgroup with its usage limit, once available; its endpoint goes to ``out``."""
        sls, c = self.context.aws.serverless, self.config
        workgroup = super().ensure(out)
        arn = workgroup["workgroupArn"]
        limits = sls.list_usage_limits(resourceArn=arn).get("usageLimits", [])
        if limits:
            out.lines.append(
                f"usage limit: exists ({limits[0].get('amount')} RPU-hours "
                f"{limits[0].get('period')}), unchanged"
            )
        else:
            sls.create_usage_limit(
                resourceArn=arn,
                usageType="serverless-compute",
                amount=c.usage_limit_rpu_hours,
                period=c.usage_limit_period,
                breachAction="deactivate",
            )
            out.did(
                f"usage limit: {c.usage_limit_rpu_hours} RPU-hours "
                f"{c.usage_limit_period}, then the workgroup is deactivated"
            )
        self.context.wait(self.label, self.current_status, {"AVAILABLE"})
        endpoint = (self.find() or {}).get("endpoint", {})
        out.endpoint = (endpoint.get("address", ""), int(endpoint.get("port", c.port)))
        return workgroup

    def remove(self, found: dict) -> None:
        sls = self.context.aws.serverless
        arn = found["workgroupArn"]
        for limit in sls.list_usage_limits(resourceArn=arn).get("usageLimits", []):
            sls.delete_usage_limit(usageLimitId=limit["usageLimitId"])
        if found.get("status") != "DELETING":
            sls.delete_workgroup(workgroupName=self.name)

    def hourly_cost(self, found: dict | None = None) -> float:
        capacity = int((found or {}).get("baseCapacity", self.config.base_capacity))
        return capacity * RPU_HOUR_PRICE

    billable = True

    def describe(self, found: dict) -> str:
        capacity = int(found.get("baseCapacity", self.config.base_capacity))
        return (
            f"{found.get('status')}, {capacity} RPUs, endpoint "
            f"{found.get('endpoint', {}).get('address', '-')}"
        )

    def to_create(self) -> str:
        c = self.config
        return (
            f"{c.base_capacity} RPUs, usage limit {c.usage_limit_rpu_hours} RPU-hours "
            f"{c.usage_limit_period}"
        )

    def plan(self, plan: Plan) -> None:
        c = self.config
        super().plan(plan)
        plan.cost = self.hourly_cost()
        cap = c.usage_limit_rpu_hours * RPU_HOUR_PRICE
        plan.add(
            f"cost: about ${plan.cost:,.2f} per hour while queries run, at most about "
            f"${cap:,.2f} {c.usage_limit_period} (the usage limit)"
        )
