"""Provisioning against moto's in-process AWS (IAM, EC2, provisioned Redshift) and botocore's
Stubber for Redshift Serverless, which moto lacks (the Stubber validates every request and
response against the real service model)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from infra.__main__ import main
from infra.config import InfraConfig, S3Location, load_config
from infra.policies import s3_access_policy
from infra.stack import Clients, Outcome, Stack
from loader.errors import ConfigError

PASSWORD = "Sparkify-Test-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield Clients(
            boto3.client("iam"),
            boto3.client("ec2", region_name="us-west-2"),
            boto3.client("redshift", region_name="us-west-2"),
            boto3.client("redshift-serverless", region_name="us-west-2"),
        )


def no_lookup() -> str:
    raise AssertionError("tests never look up a public IP")


def make_stack(clients: Clients, tmp_path: Path, **overrides) -> Stack:
    settings = {
        "allowed_cidr": "203.0.113.7/32",
        "admin_password": PASSWORD,
        "env_file": tmp_path / "sparkify.env",
    }
    settings.update(overrides)
    return Stack(
        InfraConfig(**settings),
        clients,
        report=lambda line: None,
        sleep=lambda seconds: None,
        cidr_lookup=no_lookup,
    )


def test_up_creates_a_tagged_least_privilege_stack(aws: Clients, tmp_path: Path) -> None:
    stack = make_stack(aws, tmp_path)
    outcome = stack.up()
    assert outcome.changed and outcome.endpoint and outcome.endpoint[1] == 5439
    role = aws.iam.get_role(RoleName="sparkify-redshift-s3-read")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["Service"] == ["redshift.amazonaws.com"]
    assert aws.iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    policy = aws.iam.get_role_policy(RoleName=role["RoleName"], PolicyName="sparkify-s3-access")[
        "PolicyDocument"
    ]
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    resources = {s["Resource"] for s in policy["Statement"]}
    assert actions == {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
    assert resources == {"arn:aws:s3:::udacity-dend", "arn:aws:s3:::udacity-dend/*"}
    cluster = aws.redshift.describe_clusters(ClusterIdentifier="sparkify-cluster")["Clusters"][0]
    assert cluster["NumberOfNodes"] == 2 and cluster["NodeType"] == "ra3.xlplus"
    assert cluster["Encrypted"] is True and cluster["PubliclyAccessible"] is False
    assert [r["IamRoleArn"] for r in cluster["IamRoles"]] == [role["Arn"]]
    assert {t["Key"] for t in cluster["Tags"]} >= {"sparkify:managed-by", "sparkify:stack"}
    group = aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["sparkify-redshift"]}]
    )["SecurityGroups"][0]
    rules = group["IpPermissions"]
    assert len(rules) == 1 and (rules[0]["FromPort"], rules[0]["ToPort"]) == (5439, 5439)
    assert [r["CidrIp"] for r in rules[0]["IpRanges"]] == ["203.0.113.7/32"]


def test_up_twice_changes_nothing_and_says_so(aws: Clients, tmp_path: Path) -> None:
    stack = make_stack(aws, tmp_path)
    stack.up()
    again = stack.up()
    assert not again.changed
    assert all("unchanged" in line for line in again.lines), again.lines


def test_status_shows_state_and_cost(aws: Clients, tmp_path: Path) -> None:
    stack = make_stack(aws, tmp_path)
    assert any("absent" in line for line in stack.status())
    stack.up()
    lines = stack.status()
    assert any("cluster sparkify-cluster: available, 2 x ra3.xlplus" in line for line in lines)
    assert any("$2.17 per hour" in line for line in lines)


def test_down_deletes_everything_and_is_safe_to_rerun(aws: Clients, tmp_path: Path) -> None:
    stack = make_stack(aws, tmp_path)
    stack.up()
    outcome = stack.down()
    assert outcome.changed
    assert aws.redshift.describe_clusters()["Clusters"] == []
    assert not aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["sparkify-redshift"]}]
    )["SecurityGroups"]
    with pytest.raises(aws.iam.exceptions.NoSuchEntityException):
        aws.iam.get_role(RoleName="sparkify-redshift-s3-read")
    again = stack.down()
    assert not again.changed and all("already gone" in line for line in again.lines)


def test_down_leaves_resources_it_did_not_create(aws: Clients, tmp_path: Path) -> None:
    aws.iam.create_role(RoleName="sparkify-redshift-s3-read", AssumeRolePolicyDocument="{}")
    aws.redshift.create_cluster(
        ClusterIdentifier="sparkify-cluster",
        NodeType="ra3.xlplus",
        ClusterType="multi-node",
        NumberOfNodes=2,
        MasterUsername="x",
        MasterUserPassword=PASSWORD,
    )
    stack = make_stack(aws, tmp_path)
    outcome = stack.down()
    assert not outcome.changed
    assert aws.redshift.describe_clusters()["Clusters"]
    assert aws.iam.get_role(RoleName="sparkify-redshift-s3-read")
    with pytest.raises(ConfigError, match="not created by sparkify-infra"):
        stack.up()


def test_manifest_prefix_adds_write_to_that_prefix_only() -> None:
    config = InfraConfig(
        sources=(S3Location("udacity-dend", "log_data"),),
        manifest_prefix=S3Location("my-bucket", "manifests"),
    )
    statements = s3_access_policy(config)["Statement"]
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [w["Resource"] for w in writes] == ["arn:aws:s3:::my-bucket/manifests/*"]
    listing = next(s for s in statements if s["Sid"] == "ListSource0")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["log_data/*", "log_data"]}}
    assert all("*" not in a for s in statements for a in s["Action"])


def test_open_to_the_world_needs_an_explicit_ask(aws: Clients, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="allow_anywhere"):
        load_config(env={"SPARKIFY_INFRA_ALLOWED_CIDR": "0.0.0.0/0"})
    warnings: list[str] = []
    config = load_config(
        env={"SPARKIFY_INFRA_ALLOWED_CIDR": "0.0.0.0/0", "SPARKIFY_INFRA_ALLOW_ANYWHERE": "true"}
    )
    Stack(
        config, aws, report=warnings.append, sleep=lambda s: None, cidr_lookup=no_lookup
    ).security_group.ensure(Outcome())
    assert any("WARNING" in w and "0.0.0.0/0" in w for w in warnings)


def test_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            env={
                "SPARKIFY_INFRA_MODE": "cloud",
                "SPARKIFY_INFRA_NODE_COUNT": "one",
                "SPARKIFY_INFRA_REGION": "mars",
                "SPARKIFY_INFRA_COLOUR": "red",
                "SPARKIFY_INFRA_SOURCES": "udacity-dend",
            },
            need_password=True,
        )
    message = str(info.value)
    for fragment in (
        "mode",
        "node_count",
        "region",
        "unknown setting 'colour'",
        "sources",
        "DBT_ENV_SECRET_REDSHIFT_PASSWORD",
    ):
        assert fragment in message, fragment


def test_config_file_and_env(tmp_path: Path) -> None:
    path = tmp_path / "infra.toml"
    path.write_text(
        '[infra]\nmode = "serverless"\nbase_capacity = 16\n'
        'sources = ["s3://udacity-dend/log_data", "s3://udacity-dend/song_data"]\n'
    )
    config = load_config(path, env={"SPARKIFY_INFRA_NAME": "music"})
    assert (config.mode, config.base_capacity, config.name) == ("serverless", 16, "music")
    assert [s.prefix for s in config.sources] == ["log_data", "song_data"]


def test_cli_up_writes_the_env_file_without_secrets(
    aws: Clients, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", PASSWORD)
    monkeypatch.setenv("SPARKIFY_INFRA_ALLOWED_CIDR", "198.51.100.4/32")
    monkeypatch.setenv("SPARKIFY_INFRA_ENV_FILE", str(tmp_path / "sparkify.env"))
    monkeypatch.chdir(tmp_path)
    assert main(["up", "--yes"], clients=aws) == 0
    out = capsys.readouterr().out
    env = (tmp_path / "sparkify.env").read_text()
    assert "SPARKIFY_REDSHIFT_HOST=sparkify-cluster." in env
    assert "SPARKIFY_REDSHIFT_IAM_ROLE=arn:aws:iam::" in env
    assert PASSWORD not in env and PASSWORD not in out
    assert "infra down" in out
    assert main(["up", "--yes"], clients=aws) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert main(["status"], clients=aws) == 0
    assert main(["down"], clients=aws) == 0
    assert main(["down"], clients=aws) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_cli_up_without_password_lists_the_problem(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.delenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["up"], clients=Clients(None, None, None)) == 2
    assert "DBT_ENV_SECRET_REDSHIFT_PASSWORD is not set" in capsys.readouterr().err


def test_aws_errors_become_one_clear_message(
    aws: Clients, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", PASSWORD)
    monkeypatch.setenv("SPARKIFY_INFRA_ALLOWED_CIDR", "198.51.100.4/32")
    monkeypatch.chdir(tmp_path)
    stub = Stubber(aws.iam)
    stub.add_client_error(
        "get_role",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform iam:GetRole",
        http_status_code=403,
    )
    with stub:
        assert main(["up", "--yes"], clients=aws) == 1
    err = capsys.readouterr().err
    assert "GetRole failed: AccessDenied" in err and "what to do" in err
    assert "Traceback" not in err


# --- Redshift Serverless through the Stubber ------------------------------------------------

WORKGROUP_ARN = f"arn:aws:redshift-serverless:us-west-2:{ACCOUNT}:workgroup/abc"
NAMESPACE_ARN = f"arn:aws:redshift-serverless:us-west-2:{ACCOUNT}:namespace/def"
TAGS = [
    {"key": "sparkify:managed-by", "value": "sparkify-infra"},
    {"key": "sparkify:stack", "value": "sparkify"},
]


def _workgroup(status: str) -> dict:
    return {
        "workgroup": {
            "workgroupName": "sparkify-workgroup",
            "workgroupArn": WORKGROUP_ARN,
            "namespaceName": "sparkify-namespace",
            "baseCapacity": 8,
            "status": status,
            "endpoint": {
                "address": "sparkify-workgroup.123456789012.us-west-2."
                "redshift-serverless.amazonaws.com",
                "port": 5439,
            },
        }
    }


def _not_found(stub: Stubber, method: str) -> None:
    stub.add_client_error(
        method,
        service_error_code="ResourceNotFoundException",
        service_message="not found",
        http_status_code=404,
    )


def test_serverless_up_creates_namespace_workgroup_and_a_cost_cap(
    aws: Clients, tmp_path: Path
) -> None:
    stack = make_stack(aws, tmp_path, mode="serverless", usage_limit_rpu_hours=12)
    stub = Stubber(aws.serverless)
    _not_found(stub, "get_namespace")
    stub.add_response(
        "create_namespace",
        {
            "namespace": {
                "namespaceName": "sparkify-namespace",
                "namespaceArn": NAMESPACE_ARN,
                "status": "AVAILABLE",
            }
        },
        {
            "namespaceName": "sparkify-namespace",
            "adminUsername": "sparkify",
            "adminUserPassword": PASSWORD,
            "dbName": "dev",
            "iamRoles": [ANY],
            "defaultIamRoleArn": ANY,
            "tags": TAGS,
        },
    )
    _not_found(stub, "get_workgroup")
    stub.add_response(
        "create_workgroup",
        _workgroup("CREATING"),
        {
            "workgroupName": "sparkify-workgroup",
            "namespaceName": "sparkify-namespace",
            "baseCapacity": 8,
            "port": 5439,
            "publiclyAccessible": False,
            "securityGroupIds": [ANY],
            "subnetIds": ANY,
            "tags": TAGS,
        },
    )
    stub.add_response("list_usage_limits", {}, {"resourceArn": WORKGROUP_ARN})  # none: no key
    stub.add_response(
        "create_usage_limit",
        {"usageLimit": {"usageLimitId": "u1", "amount": 12}},
        {
            "resourceArn": WORKGROUP_ARN,
            "usageType": "serverless-compute",
            "amount": 12,
            "period": "daily",
            "breachAction": "deactivate",
        },
    )
    stub.add_response(
        "get_workgroup", _workgroup("CREATING"), {"workgroupName": "sparkify-workgroup"}
    )
    stub.add_response(
        "get_workgroup", _workgroup("AVAILABLE"), {"workgroupName": "sparkify-workgroup"}
    )
    stub.add_response(
        "get_workgroup", _workgroup("AVAILABLE"), {"workgroupName": "sparkify-workgroup"}
    )
    with stub:
        outcome = stack.up()
    stub.assert_no_pending_responses()
    assert outcome.endpoint == (_workgroup("")["workgroup"]["endpoint"]["address"], 5439)
    trust = aws.iam.get_role(RoleName="sparkify-redshift-s3-read")["Role"][
        "AssumeRolePolicyDocument"
    ]
    assert "redshift-serverless.amazonaws.com" in json.dumps(trust)


def test_serverless_down_deletes_only_tagged_resources(aws: Clients, tmp_path: Path) -> None:
    stack = make_stack(aws, tmp_path, mode="serverless")
    stub = Stubber(aws.serverless)
    stub.add_response("get_workgroup", _workgroup("AVAILABLE"))
    stub.add_response("list_tags_for_resource", {"tags": TAGS}, {"resourceArn": WORKGROUP_ARN})
    stub.add_response(
        "list_usage_limits",
        {"usageLimits": [{"usageLimitId": "u1"}]},
        {"resourceArn": WORKGROUP_ARN},
    )
    stub.add_response(
        "delete_usage_limit", {"usageLimit": {"usageLimitId": "u1"}}, {"usageLimitId": "u1"}
    )
    stub.add_response(
        "delete_workgroup", _workgroup("DELETING"), {"workgroupName": "sparkify-workgroup"}
    )
    _not_found(stub, "get_workgroup")
    stub.add_response(
        "get_namespace",
        {"namespace": {"namespaceName": "sparkify-namespace", "namespaceArn": NAMESPACE_ARN}},
    )
    stub.add_response(
        "list_tags_for_resource",
        {"tags": [{"key": "owner", "value": "else"}]},
        {"resourceArn": NAMESPACE_ARN},
    )
    with stub:
        outcome = stack.down()
    stub.assert_no_pending_responses()
    assert "workgroup sparkify-workgroup: deleted" in outcome.lines
    assert "namespace sparkify-namespace: not ours, left alone" in outcome.lines


def cli_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBT_ENV_SECRET_REDSHIFT_PASSWORD", PASSWORD)
    monkeypatch.setenv("SPARKIFY_INFRA_ALLOWED_CIDR", "198.51.100.4/32")
    monkeypatch.setenv("SPARKIFY_INFRA_ENV_FILE", str(tmp_path / "sparkify.env"))
    monkeypatch.chdir(tmp_path)


def test_plan_shows_what_up_would_create_and_its_cost_and_creates_nothing(
    aws: Clients, tmp_path: Path, monkeypatch, capsys
) -> None:
    cli_env(monkeypatch, tmp_path)
    assert main(["plan"], clients=aws) == 0
    out = capsys.readouterr().out
    assert "IAM role sparkify-redshift-s3-read: create (Redshift may read s3://udacity-dend)" in out
    assert "security group sparkify-redshift: create (port 5439 from 198.51.100.4/32)" in out
    assert "cluster sparkify-cluster: create 2 x ra3.xlplus" in out
    assert "cost: about $2.17 per hour while the cluster exists" in out
    assert aws.redshift.describe_clusters()["Clusters"] == []  # plan reads only
    assert aws.iam.list_roles()["Roles"] == []
    assert main(["up", "--yes"], clients=aws) == 0
    capsys.readouterr()
    assert main(["plan"], clients=aws) == 0
    out = capsys.readouterr().out
    assert "cluster sparkify-cluster: exists (available)" in out and "nothing to create" in out


def test_up_asks_before_creating_a_billable_warehouse(
    aws: Clients, tmp_path: Path, monkeypatch, capsys
) -> None:
    cli_env(monkeypatch, tmp_path)
    # nobody at a terminal (cron, CI) and no --yes: refused, nothing created
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["up"], clients=aws) == 2
    assert "creating a billable warehouse needs a yes" in capsys.readouterr().err
    assert aws.iam.list_roles()["Roles"] == [] and not (tmp_path / "sparkify.env").exists()
    # at a terminal: the answer decides
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    questions: list[str] = []
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or "n")
    assert main(["up"], clients=aws) == 2
    assert "about $2.17 per hour" in questions[0]
    assert aws.redshift.describe_clusters()["Clusters"] == []
    monkeypatch.setattr("builtins.input", lambda q: "y")
    assert main(["up"], clients=aws) == 0
    assert len(aws.redshift.describe_clusters()["Clusters"]) == 1
    # everything exists: nothing billable to create, so no question
    monkeypatch.setattr("builtins.input", lambda q: pytest.fail("asked again"))
    assert main(["up"], clients=aws) == 0
