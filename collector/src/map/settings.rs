//! Account and region settings (EBS encryption by default and its default key per region):
//! what the newest answers say, in words, and which leave new stores less protected. A
//! setting whose read failed is unknown with its call and error, never "off".

use landmeter_proto::v1::{AccountSetting, Fact, fact::Body};

/// The agents' setting names (`Setting.name`; subjects are `<name>@<region>`).
pub const EBS_ENCRYPTION_BY_DEFAULT: &str = "ebs-encryption-by-default";
pub const EBS_DEFAULT_KMS_KEY: &str = "ebs-default-kms-key";

/// One row per stored answer (a setting or the failed read of one), ordered by tenant,
/// account, region and name. Other facts are skipped.
pub fn interpret<'a>(facts: impl IntoIterator<Item = (&'a str, &'a Fact)>) -> Vec<AccountSetting> {
    let mut out: Vec<AccountSetting> = facts
        .into_iter()
        .filter_map(|(tenant, fact)| row(tenant, fact))
        .collect();
    out.sort_by(|a, b| {
        (&a.tenant, &a.account, &a.region, &a.name)
            .cmp(&(&b.tenant, &b.account, &b.region, &b.name))
    });
    // A subject answered and failed by two calls keeps both (each says something); the same
    // name from two facts of one subject cannot happen: the facts table keeps one per call.
    out
}

fn row(tenant: &str, fact: &Fact) -> Option<AccountSetting> {
    let (name, region) = fact
        .subject
        .split_once('@')
        .unwrap_or((fact.subject.as_str(), ""));
    let mut setting = AccountSetting {
        tenant: tenant.to_owned(),
        account: fact.account.clone(),
        region: region.to_owned(),
        name: name.to_owned(),
        api_call: fact.api_call.clone(),
        observed_at_ms: fact.observed_at_ms,
        ..Default::default()
    };
    match fact.body.as_ref()? {
        Body::Setting(s) => {
            setting.name = s.name.clone();
            if !s.region.is_empty() {
                setting.region = s.region.clone();
            }
            setting.value = s.value.clone();
            setting.known = true;
            let (meaning, concern) = meaning(&s.name, &s.value);
            setting.meaning = meaning;
            setting.concern = concern;
        }
        Body::Gap(g) => {
            setting.known = false;
            setting.unknown_reason = format!("{} failed: {} {}", g.call, g.code, g.message)
                .trim_end()
                .to_owned();
            setting.meaning = "unknown: the read failed".to_owned();
        }
        _ => return None,
    }
    Some(setting)
}

/// What a known value means for custody, and whether it is a concern.
fn meaning(name: &str, value: &str) -> (String, bool) {
    match name {
        EBS_ENCRYPTION_BY_DEFAULT => match value {
            "true" => (
                "new EBS volumes and snapshot copies in this region are encrypted".to_owned(),
                false,
            ),
            "false" => (
                "new EBS volumes in this region are unencrypted unless their creator asks \
                 (custody none)"
                    .to_owned(),
                true,
            ),
            other => (format!("unrecognised value {other:?}"), false),
        },
        EBS_DEFAULT_KMS_KEY => {
            if is_aws_managed_ebs_key(value) {
                (
                    "the AWS managed key aws/ebs: the provider holds the key (custody provider)"
                        .to_owned(),
                    false,
                )
            } else {
                (
                    format!("a customer managed key ({value}): custody at least customer-managed"),
                    false,
                )
            }
        }
        _ => (String::new(), false),
    }
}

/// `alias/aws/ebs`, as an alias or an alias ARN (`GetEbsDefaultKmsKeyId` answers either).
fn is_aws_managed_ebs_key(value: &str) -> bool {
    value == "alias/aws/ebs" || value.ends_with(":alias/aws/ebs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::{FactTopic, Gap, GapKind, Setting};

    fn setting(subject: &str, name: &str, region: &str, value: &str) -> Fact {
        Fact {
            account: "111122223333".into(),
            subject: subject.into(),
            observed_at_ms: 5,
            api_call: "ec2:GetEbsEncryptionByDefault".into(),
            body: Some(Body::Setting(Setting {
                name: name.into(),
                region: region.into(),
                value: value.into(),
            })),
        }
    }

    #[test]
    fn encryption_off_by_default_is_a_concern_and_on_is_not() {
        let off = setting(
            "ebs-encryption-by-default@eu-west-1",
            EBS_ENCRYPTION_BY_DEFAULT,
            "eu-west-1",
            "false",
        );
        let on = setting(
            "ebs-encryption-by-default@eu-central-1",
            EBS_ENCRYPTION_BY_DEFAULT,
            "eu-central-1",
            "true",
        );
        let rows = interpret([("t", &off), ("t", &on)]);
        assert_eq!(rows.len(), 2);
        // Ordered by region.
        assert_eq!(rows[0].region, "eu-central-1");
        assert!(rows[0].known && !rows[0].concern);
        assert_eq!(rows[1].region, "eu-west-1");
        assert!(rows[1].known && rows[1].concern);
        assert!(
            rows[1].meaning.contains("unencrypted"),
            "{}",
            rows[1].meaning
        );
    }

    #[test]
    fn the_default_key_says_who_holds_it() {
        let managed = setting(
            "ebs-default-kms-key@eu-west-1",
            EBS_DEFAULT_KMS_KEY,
            "eu-west-1",
            "arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs",
        );
        let customer = setting(
            "ebs-default-kms-key@us-east-1",
            EBS_DEFAULT_KMS_KEY,
            "us-east-1",
            "arn:aws:kms:us-east-1:111122223333:key/1234",
        );
        let rows = interpret([("t", &managed), ("t", &customer)]);
        assert!(
            rows[0].meaning.contains("custody provider"),
            "{}",
            rows[0].meaning
        );
        assert!(
            rows[1].meaning.contains("customer managed"),
            "{}",
            rows[1].meaning
        );
        assert!(rows[1].meaning.contains("key/1234"));
    }

    #[test]
    fn a_failed_read_is_unknown_with_its_reason_never_off() {
        let gap = Fact {
            account: "111122223333".into(),
            subject: "ebs-encryption-by-default@eu-west-1".into(),
            observed_at_ms: 5,
            api_call: "ec2:GetEbsEncryptionByDefault".into(),
            body: Some(Body::Gap(Gap {
                kind: GapKind::AccessDenied as i32,
                code: "UnauthorizedOperation".into(),
                message: "not allowed".into(),
                call: "ec2:GetEbsEncryptionByDefault".into(),
                topic: FactTopic::Setting as i32,
            })),
        };
        let rows = interpret([("t", &gap)]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.name.as_str(), r.region.as_str()),
            (EBS_ENCRYPTION_BY_DEFAULT, "eu-west-1")
        );
        assert!(!r.known && !r.concern && r.value.is_empty());
        assert!(
            r.unknown_reason.contains("UnauthorizedOperation"),
            "{}",
            r.unknown_reason
        );
        assert!(r.meaning.starts_with("unknown"));
    }
}
