//! The management-group onboarding templates of `deploy/onboarding/azure` (Bicep and its ARM
//! JSON) define a role with exactly the shipped role's control-plane actions, no data actions
//! (Azure does not assign a custom role with data actions at management-group scope),
//! assignable at the target management group and assigned there to the principal parameter.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::calls::policy_tests::{
    assert_read_only, registry_permissions, shipped_role_permissions,
};

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/onboarding/azure")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ARM template's role definition actions must be the shipped role's actions; the
/// registry's remaining needs are the shipped role's data actions, which a management-group
/// role cannot carry.
fn assert_management_group_actions(what: &str, actions: &BTreeSet<String>) {
    let (shipped_actions, shipped_data_actions) = shipped_role_permissions();
    assert_eq!(
        actions, &shipped_actions,
        "{what} and azure-agent-role.json differ"
    );
    let with_data: BTreeSet<String> = actions.union(&shipped_data_actions).cloned().collect();
    assert_eq!(
        with_data,
        registry_permissions(),
        "{what} and the call registry differ beyond the data actions"
    );
    assert_read_only(what, actions);
    assert!(
        actions.iter().all(|a| !a.ends_with("/action")),
        "{what}: a data action among the actions"
    );
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn arm_template_grants_the_registry_at_the_management_group() {
    let template: Value = serde_json::from_str(&read("landmeter-reader.json")).expect("JSON");
    assert!(
        template["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("/managementGroupDeploymentTemplate.json")),
        "a management-group deployment"
    );
    let resources = template["resources"].as_array().expect("resources");
    let of_type =
        |t: &str| -> Vec<&Value> { resources.iter().filter(|r| r["type"] == t).collect() };
    assert_eq!(
        resources.len(),
        2,
        "the role and its assignment, nothing else"
    );
    let definitions = of_type("Microsoft.Authorization/roleDefinitions");
    assert_eq!(definitions.len(), 1);
    let definition = definitions[0];
    let props = &definition["properties"];
    assert_eq!(props["type"], "CustomRole");
    assert_eq!(
        strings(&props["assignableScopes"]),
        BTreeSet::from(["[managementGroup().id]".to_owned()])
    );
    let permissions = props["permissions"].as_array().expect("permissions");
    assert_eq!(permissions.len(), 1);
    for field in ["notActions", "dataActions", "notDataActions"] {
        assert!(strings(&permissions[0][field]).is_empty(), "{field}");
    }
    assert_management_group_actions(
        "landmeter-reader.json",
        &strings(&permissions[0]["actions"]),
    );

    let assignments = of_type("Microsoft.Authorization/roleAssignments");
    assert_eq!(assignments.len(), 1);
    let assignment = assignments[0];
    assert!(
        assignment.get("scope").is_none(),
        "assigned at the deployment's management group"
    );
    let role_id = assignment["properties"]["roleDefinitionId"]
        .as_str()
        .expect("roleDefinitionId");
    let name = definition["name"].as_str().expect("name");
    let name = name.trim_start_matches('[').trim_end_matches(']');
    assert_eq!(
        role_id,
        format!(
            "[extensionResourceId(managementGroup().id, 'Microsoft.Authorization/roleDefinitions', {name})]"
        ),
        "the assignment names the role this template defines"
    );
    assert_eq!(
        assignment["properties"]["principalId"],
        "[parameters('principalId')]"
    );
    assert_eq!(
        strings(&assignment["dependsOn"]),
        BTreeSet::from([role_id.to_owned()])
    );
    assert!(
        template["parameters"]["principalId"]
            .get("defaultValue")
            .is_none(),
        "the principal is always given"
    );
}

/// The items of the one `key: [ ... ]` list in a Bicep file (single-quoted strings unquoted,
/// expressions as written); `key: []` is the empty list.
fn bicep_list(text: &str, key: &str) -> Vec<String> {
    let open = format!("{key}: [");
    let starts: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&open))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 1, "one {key} list");
    let first = text.lines().nth(starts[0]).expect("line").trim();
    if first == format!("{key}: []") {
        return Vec::new();
    }
    assert_eq!(first, open, "{key}: one item a line");
    text.lines()
        .skip(starts[0] + 1)
        .map(str::trim)
        .take_while(|l| *l != "]")
        .map(|l| {
            l.strip_prefix('\'')
                .and_then(|l| l.strip_suffix('\''))
                .unwrap_or(l)
                .to_owned()
        })
        .collect()
}

#[test]
fn bicep_template_is_the_arm_template() {
    let bicep = read("landmeter-reader.bicep");
    let lines: Vec<&str> = bicep.lines().map(str::trim).collect();
    assert!(lines.contains(&"targetScope = 'managementGroup'"));
    let actions: BTreeSet<String> = bicep_list(&bicep, "actions").into_iter().collect();
    assert_management_group_actions("landmeter-reader.bicep", &actions);
    let template: Value = serde_json::from_str(&read("landmeter-reader.json")).expect("JSON");
    let definition = template["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "Microsoft.Authorization/roleDefinitions")
        .expect("a role definition");
    let arm_actions = strings(&definition["properties"]["permissions"][0]["actions"]);
    assert_eq!(actions, arm_actions, "the Bicep and ARM templates differ");
    for key in ["notActions", "dataActions", "notDataActions"] {
        assert!(bicep_list(&bicep, key).is_empty(), "{key}");
    }
    assert_eq!(
        bicep_list(&bicep, "assignableScopes"),
        ["managementGroup().id"]
    );
    let resources: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("resource "))
        .copied()
        .collect();
    assert_eq!(
        resources,
        [
            "resource reader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {",
            "resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
        ]
    );
    for line in [
        "roleDefinitionId: reader.id",
        "principalId: principalId",
        "param principalId string",
    ] {
        assert!(lines.contains(&line), "missing: {line}");
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("scope:")),
        "assigned at the deployment's management group"
    );
}
