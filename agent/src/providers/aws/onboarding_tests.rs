//! The onboarding templates of `deploy/onboarding/aws` (the CloudFormation template, also
//! deployed as a StackSet, and the Terraform module) grant the read role exactly what the
//! call registry needs, statement by statement the same as the shipped policy, and their
//! trust admits the agent's principal only with the external id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_norway::Value;

use super::calls::tests::{assert_grants_exactly_the_registry, shipped_policy_statements};
use super::config::DEFAULT_ORGANIZATION_ROLE_NAME;

fn onboarding(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/onboarding/aws")
        .join(file)
}

// --- CloudFormation -------------------------------------------------------------------------

fn template() -> Value {
    let path = onboarding("landmeter-read-role.yaml");
    let text = std::fs::read_to_string(&path).expect("template exists");
    serde_norway::from_str(&text).expect("template is YAML")
}

/// A short-form intrinsic function (`!Ref X`, `!Sub "..."`) as (function, argument).
fn intrinsic(value: &Value) -> Option<(String, &str)> {
    match value {
        Value::Tagged(t) => Some((t.tag.to_string(), t.value.as_str()?)),
        _ => None,
    }
}

fn string_or_list(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Sequence(items) => items
            .iter()
            .map(|v| v.as_str().expect("a literal action").to_owned())
            .collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

/// The template's only resource: the role. Anything else (a managed policy, a user, a
/// policy attachment) could grant more than the registry needs.
fn role(template: &Value) -> &Value {
    let resources = template["Resources"].as_mapping().expect("Resources");
    assert_eq!(resources.len(), 1, "the read role is the only resource");
    let role = resources.values().next().expect("one resource");
    assert_eq!(role["Type"], "AWS::IAM::Role");
    role
}

#[test]
fn cloudformation_role_grants_exactly_the_call_registry() {
    let template = template();
    let props = &role(&template)["Properties"];
    for key in ["ManagedPolicyArns", "PermissionsBoundary"] {
        assert!(props.get(key).is_none(), "{key}: the inline policy is all");
    }
    let policies = props["Policies"].as_sequence().expect("Policies");
    assert_eq!(policies.len(), 1, "one inline policy");
    let mut statements = BTreeMap::new();
    for st in policies[0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements")
    {
        assert_eq!(st["Effect"], "Allow");
        assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none());
        let sid = st["Sid"].as_str().expect("Sid").to_owned();
        let actions = string_or_list(&st["Action"]);
        if actions.contains("sts:AssumeRole") {
            // Only the read role of the other accounts, by the same name.
            let (function, arn) = intrinsic(&st["Resource"]).expect("a !Sub resource");
            assert_eq!(function, "!Sub");
            assert!(arn.ends_with(":role/${RoleName}"), "AssumeRole on {arn}");
        } else {
            assert_eq!(st["Resource"], "*");
        }
        assert!(statements.insert(sid, actions).is_none(), "Sid twice");
    }
    assert_eq!(
        statements,
        shipped_policy_statements(),
        "the template's policy and aws-agent-policy.json differ"
    );
    assert_grants_exactly_the_registry("landmeter-read-role.yaml", &statements);
}

#[test]
fn cloudformation_trust_requires_the_external_id() {
    let template = template();
    let props = &role(&template)["Properties"];
    let trust = props["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .expect("trust statements");
    assert_eq!(trust.len(), 1, "one way in");
    let st = &trust[0];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(
        string_or_list(&st["Action"]),
        BTreeSet::from(["sts:AssumeRole".to_owned()])
    );
    let principal = st["Principal"].as_mapping().expect("Principal");
    assert_eq!(principal.len(), 1, "only the agent's principal");
    assert_eq!(
        intrinsic(&st["Principal"]["AWS"]),
        Some(("!Ref".to_owned(), "AgentPrincipalArn"))
    );
    let condition = st["Condition"].as_mapping().expect("Condition");
    assert_eq!(condition.len(), 1);
    assert_eq!(
        intrinsic(&st["Condition"]["StringEquals"]["sts:ExternalId"]),
        Some(("!Ref".to_owned(), "ExternalId"))
    );
    let params = &template["Parameters"];
    assert!(
        params["ExternalId"].get("Default").is_none(),
        "the external id has no default: each deployment chooses one"
    );
    assert!(params["ExternalId"]["MinLength"].as_u64() >= Some(2));
    assert_eq!(
        intrinsic(&props["RoleName"]),
        Some(("!Ref".to_owned(), "RoleName"))
    );
    assert_eq!(
        params["RoleName"]["Default"], DEFAULT_ORGANIZATION_ROLE_NAME,
        "the agent's organization_role_name default is the role the template creates"
    );
}

// --- Terraform ------------------------------------------------------------------------------

/// Every `.tf` file of the module, parsed.
fn module() -> Vec<hcl::Body> {
    let dir = onboarding("terraform");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("module directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).expect("readable");
            bodies.push(hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        }
    }
    assert!(bodies.len() >= 3, "variables, main and outputs");
    bodies
}

/// The top-level blocks `kind "label0" "label1" { ... }` of the module.
fn blocks<'a>(module: &'a [hcl::Body], kind: &str) -> Vec<(Vec<&'a str>, &'a hcl::Body)> {
    module
        .iter()
        .flat_map(|b| b.blocks())
        .filter(|b| b.identifier() == kind)
        .map(|b| (b.labels().iter().map(|l| l.as_str()).collect(), b.body()))
        .collect()
}

fn block<'a>(module: &'a [hcl::Body], kind: &str, labels: &[&str]) -> &'a hcl::Body {
    let found: Vec<_> = blocks(module, kind)
        .into_iter()
        .filter(|(l, _)| l == labels)
        .collect();
    assert_eq!(found.len(), 1, "{kind} {labels:?}");
    found[0].1
}

fn attr<'a>(body: &'a hcl::Body, key: &str) -> &'a hcl::Expression {
    body.attributes()
        .find(|a| a.key() == key)
        .unwrap_or_else(|| panic!("no attribute {key}"))
        .expr()
}

fn strings(expr: &hcl::Expression) -> BTreeSet<String> {
    let hcl::Expression::Array(items) = expr else {
        panic!("not a list: {expr}");
    };
    items
        .iter()
        .map(|e| match e {
            hcl::Expression::String(s) => s.clone(),
            other => panic!("not a literal string: {other}"),
        })
        .collect()
}

/// The one item of a one-item list, as HCL.
fn only(expr: &hcl::Expression) -> String {
    match expr {
        hcl::Expression::Array(items) if items.len() == 1 => items[0].to_string(),
        other => panic!("not a one-item list: {other}"),
    }
}

/// The module's resources, by type: only the role and its inline policy may grant anything.
fn resource_types(module: &[hcl::Body]) -> Vec<&str> {
    blocks(module, "resource")
        .into_iter()
        .map(|(l, _)| l[0])
        .collect()
}

#[test]
fn terraform_module_grants_exactly_the_call_registry() {
    let module = module();
    let mut types = resource_types(&module);
    types.sort_unstable();
    assert_eq!(types, ["aws_iam_role", "aws_iam_role_policy"]);
    let policy = block(&module, "resource", &["aws_iam_role_policy", "read"]);
    assert_eq!(attr(policy, "role").to_string(), "aws_iam_role.read.id");
    assert_eq!(
        attr(policy, "policy").to_string(),
        "data.aws_iam_policy_document.read.json"
    );
    let document = block(&module, "data", &["aws_iam_policy_document", "read"]);
    let mut statements = BTreeMap::new();
    for st in document.blocks() {
        assert_eq!(st.identifier(), "statement");
        let st = st.body();
        assert_eq!(attr(st, "effect"), &hcl::Expression::from("Allow"));
        for key in ["not_actions", "not_resources", "principals"] {
            assert!(st.attributes().all(|a| a.key() != key), "{key}");
        }
        let hcl::Expression::String(sid) = attr(st, "sid") else {
            panic!("sid is a literal");
        };
        let actions = strings(attr(st, "actions"));
        let resources = only(attr(st, "resources"));
        if actions.contains("sts:AssumeRole") {
            assert!(
                resources.contains(":role/${var.role_name}"),
                "AssumeRole on {resources}"
            );
        } else {
            assert_eq!(resources, r#""*""#);
        }
        assert!(
            statements.insert(sid.clone(), actions).is_none(),
            "sid twice"
        );
    }
    assert_eq!(
        statements,
        shipped_policy_statements(),
        "the module's policy and aws-agent-policy.json differ"
    );
    assert_grants_exactly_the_registry("terraform module", &statements);
}

#[test]
fn terraform_trust_requires_the_external_id() {
    let module = module();
    let role = block(&module, "resource", &["aws_iam_role", "read"]);
    assert_eq!(attr(role, "name").to_string(), "var.role_name");
    assert_eq!(
        attr(role, "assume_role_policy").to_string(),
        "data.aws_iam_policy_document.trust.json"
    );
    for key in [
        "managed_policy_arns",
        "inline_policy",
        "permissions_boundary",
    ] {
        assert!(role.attributes().all(|a| a.key() != key), "{key}");
    }
    let trust = block(&module, "data", &["aws_iam_policy_document", "trust"]);
    let statements: Vec<_> = trust.blocks().collect();
    assert_eq!(statements.len(), 1, "one way in");
    assert_eq!(statements[0].identifier(), "statement");
    let st = statements[0].body();
    assert_eq!(attr(st, "effect"), &hcl::Expression::from("Allow"));
    assert_eq!(
        strings(attr(st, "actions")),
        BTreeSet::from(["sts:AssumeRole".to_owned()])
    );
    let nested = |kind: &str| -> Vec<&hcl::Body> {
        st.blocks()
            .filter(|b| b.identifier() == kind)
            .map(|b| b.body())
            .collect()
    };
    let principals = nested("principals");
    assert_eq!(principals.len(), 1, "only the agent's principal");
    assert_eq!(attr(principals[0], "type"), &hcl::Expression::from("AWS"));
    assert_eq!(
        only(attr(principals[0], "identifiers")),
        "var.agent_principal_arn"
    );
    let conditions = nested("condition");
    assert_eq!(conditions.len(), 1);
    let condition = conditions[0];
    assert_eq!(
        attr(condition, "test"),
        &hcl::Expression::from("StringEquals")
    );
    assert_eq!(
        attr(condition, "variable"),
        &hcl::Expression::from("sts:ExternalId")
    );
    assert_eq!(only(attr(condition, "values")), "var.external_id");
    let external_id = block(&module, "variable", &["external_id"]);
    assert!(
        external_id.attributes().all(|a| a.key() != "default"),
        "the external id has no default: each deployment chooses one"
    );
    let role_name = block(&module, "variable", &["role_name"]);
    assert_eq!(
        attr(role_name, "default"),
        &hcl::Expression::from(DEFAULT_ORGANIZATION_ROLE_NAME)
    );
}
