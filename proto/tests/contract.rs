//! The current wire contract only adds to the contracts in the field (compat/README.md): a
//! removed or renumbered field, a changed type, a message moved into or out of a oneof or a
//! dropped method would break agents or collectors already deployed.

use std::collections::BTreeMap;

use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    ServiceDescriptorProto,
};

const CURRENT: &[u8] = landmeter_proto::FILE_DESCRIPTOR_SET;
const WAVE1: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compat_wave1.bin"));
const WAVE2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compat_wave2.bin"));

/// Everything a contract declares, by fully qualified name.
#[derive(Default)]
struct Contract {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
    services: BTreeMap<String, ServiceDescriptorProto>,
}

fn contract(bytes: &[u8]) -> Contract {
    let set = FileDescriptorSet::decode(bytes).expect("a descriptor set");
    let mut c = Contract::default();
    for file in set.file {
        let package = file.package().to_owned();
        if !package.starts_with("landmeter.") {
            continue;
        }
        for m in &file.message_type {
            add_message(&mut c, &package, m);
        }
        for e in &file.enum_type {
            c.enums.insert(format!("{package}.{}", e.name()), e.clone());
        }
        for s in &file.service {
            c.services
                .insert(format!("{package}.{}", s.name()), s.clone());
        }
    }
    c
}

fn add_message(c: &mut Contract, scope: &str, m: &DescriptorProto) {
    let name = format!("{scope}.{}", m.name());
    for nested in &m.nested_type {
        add_message(c, &name, nested);
    }
    for e in &m.enum_type {
        c.enums.insert(format!("{name}.{}", e.name()), e.clone());
    }
    c.messages.insert(name, m.clone());
}

/// What a field is on the wire and in JSON: its name, type, label and oneof.
fn shape(m: &DescriptorProto, f: &FieldDescriptorProto) -> String {
    let oneof = f
        .oneof_index
        .filter(|_| !f.proto3_optional())
        .and_then(|i| m.oneof_decl.get(i as usize))
        .map(|o| o.name().to_owned())
        .unwrap_or_default();
    format!(
        "{} {:?} {:?} {} oneof={oneof}",
        f.name(),
        f.label(),
        f.r#type(),
        f.type_name()
    )
}

/// Every way `new` breaks what `old` promised, in words.
fn breaks(old: &Contract, new: &Contract) -> Vec<String> {
    let mut out = Vec::new();
    for (name, m) in &old.messages {
        let Some(n) = new.messages.get(name) else {
            out.push(format!("message {name} removed"));
            continue;
        };
        for f in &m.field {
            match n.field.iter().find(|g| g.number() == f.number()) {
                None => out.push(format!(
                    "{name} field {} ({}) removed",
                    f.number(),
                    f.name()
                )),
                Some(g) if shape(m, f) != shape(n, g) => out.push(format!(
                    "{name} field {}: {} became {}",
                    f.number(),
                    shape(m, f),
                    shape(n, g)
                )),
                Some(_) => {}
            }
        }
    }
    for (name, e) in &old.enums {
        let Some(n) = new.enums.get(name) else {
            out.push(format!("enum {name} removed"));
            continue;
        };
        for v in &e.value {
            if !n
                .value
                .iter()
                .any(|w| w.number() == v.number() && w.name() == v.name())
            {
                out.push(format!(
                    "{name} value {} = {} removed or renamed",
                    v.name(),
                    v.number()
                ));
            }
        }
    }
    for (name, s) in &old.services {
        let Some(n) = new.services.get(name) else {
            out.push(format!("service {name} removed"));
            continue;
        };
        for m in &s.method {
            let same = n.method.iter().any(|k| {
                k.name() == m.name()
                    && k.input_type() == m.input_type()
                    && k.output_type() == m.output_type()
                    && k.client_streaming() == m.client_streaming()
                    && k.server_streaming() == m.server_streaming()
            });
            if !same {
                out.push(format!("{name}.{} removed or changed", m.name()));
            }
        }
    }
    out
}

#[test]
fn the_current_contract_only_adds_to_wave1() {
    let old = contract(WAVE1);
    assert!(old.services.contains_key("landmeter.v1.IngestService"));
    assert_eq!(breaks(&old, &contract(CURRENT)), Vec::<String>::new());
}

#[test]
fn the_current_contract_only_adds_to_wave2() {
    let old = contract(WAVE2);
    assert!(old.services.contains_key("landmeter.v1.EnrolService"));
    assert_eq!(breaks(&old, &contract(CURRENT)), Vec::<String>::new());
}

/// The check itself catches what it is for: wave 2 against wave 1 reversed (wave 1 as the
/// "new" contract) lacks the fields, messages and services wave 2 added.
#[test]
fn a_contract_that_drops_fields_is_caught() {
    let found = breaks(&contract(WAVE2), &contract(WAVE1));
    assert!(
        found
            .iter()
            .any(|b| b == "service landmeter.v1.EnrolService removed"),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|b| b.starts_with("landmeter.v1.ScanBegin field 5 (providers) removed")),
        "{found:#?}"
    );
}

/// A renumbered or retyped field is a break even when the name stays.
#[test]
fn a_changed_field_type_is_caught() {
    let old = contract(WAVE2);
    let mut new = contract(CURRENT);
    let hello = new.messages.get_mut("landmeter.v1.Hello").expect("Hello");
    let field = hello
        .field
        .iter_mut()
        .find(|f| f.name() == "agent_name")
        .expect("agent_name");
    field.set_type(prost_types::field_descriptor_proto::Type::Bytes);
    let found = breaks(&old, &new);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("landmeter.v1.Hello field 2: agent_name"),
        "{found:#?}"
    );
}
