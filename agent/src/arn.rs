//! Amazon Resource Names: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
//!
//! Sans-IO parsing used for role ARNs in the configuration, replication destinations
//! (`arn:aws:s3:::bucket`) and KMS key references (key ARN, alias ARN, key id, alias name).

/// A parsed ARN, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Everything after the fifth colon (`role/NAME`, `key/ID`, `alias/NAME`, `bucket`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `s`; `None` when it is not an ARN (too few parts, empty partition or service).
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        if arn.partition.is_empty() || arn.service.is_empty() || arn.resource.is_empty() {
            return None;
        }
        Some(arn)
    }
}

/// Bucket name of an S3 bucket ARN (`arn:aws:s3:::name`); a bare name is returned as is.
pub fn s3_bucket_name(s: &str) -> &str {
    match Arn::parse(s) {
        Some(arn) if arn.service == "s3" => arn.resource,
        _ => s,
    }
}

/// What a KMS key reference (as S3 stores `KMSMasterKeyID` or `ReplicaKmsKeyID`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef<'a> {
    /// `arn:aws:kms:REGION:ACCOUNT:key/ID`
    KeyArn {
        region: &'a str,
        account: &'a str,
        key_id: &'a str,
    },
    /// `arn:aws:kms:REGION:ACCOUNT:alias/NAME` (`alias` is `alias/NAME`).
    AliasArn {
        region: &'a str,
        account: &'a str,
        alias: &'a str,
    },
    /// `alias/NAME`, resolved in the caller's account and the bucket's region.
    AliasName(&'a str),
    /// A bare key id (`1234abcd-...` or `mrk-...`), in the bucket owner's account and region.
    KeyId(&'a str),
}

impl<'a> KeyRef<'a> {
    /// Classifies a raw key reference. Anything that is neither an ARN nor an alias name is
    /// taken as a key id.
    pub fn parse(s: &'a str) -> KeyRef<'a> {
        if let Some(arn) = Arn::parse(s)
            && arn.service == "kms"
        {
            if let Some(key_id) = arn.resource.strip_prefix("key/") {
                return KeyRef::KeyArn {
                    region: arn.region,
                    account: arn.account,
                    key_id,
                };
            }
            if arn.resource.starts_with("alias/") {
                return KeyRef::AliasArn {
                    region: arn.region,
                    account: arn.account,
                    alias: arn.resource,
                };
            }
        }
        if s.starts_with("alias/") {
            return KeyRef::AliasName(s);
        }
        KeyRef::KeyId(s)
    }

    /// The region the reference names, if it is an ARN.
    pub fn region(&self) -> Option<&'a str> {
        match self {
            KeyRef::KeyArn { region, .. } | KeyRef::AliasArn { region, .. }
                if !region.is_empty() =>
            {
                Some(region)
            }
            _ => None,
        }
    }

    /// The account the reference names, if it is an ARN.
    pub fn account(&self) -> Option<&'a str> {
        match self {
            KeyRef::KeyArn { account, .. } | KeyRef::AliasArn { account, .. }
                if !account.is_empty() =>
            {
                Some(account)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (partition, service, region, account, resource)
    type Parts<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

    #[test]
    fn parses_arns() {
        let cases: &[(&str, Option<Parts>)] = &[
            (
                "arn:aws:iam::222222222222:role/landmeter-read",
                Some(("aws", "iam", "", "222222222222", "role/landmeter-read")),
            ),
            (
                "arn:aws:s3:::my-bucket",
                Some(("aws", "s3", "", "", "my-bucket")),
            ),
            (
                "arn:aws-eusc:kms:eusc-de-east-1:111122223333:key/abcd",
                Some((
                    "aws-eusc",
                    "kms",
                    "eusc-de-east-1",
                    "111122223333",
                    "key/abcd",
                )),
            ),
            (
                "arn:aws:iam::222222222222:role/path/with:colon",
                Some(("aws", "iam", "", "222222222222", "role/path/with:colon")),
            ),
            ("arn:aws:s3:::", None),
            ("arn:aws:s3", None),
            ("my-bucket", None),
            ("", None),
        ];
        for (input, expected) in cases {
            let got = Arn::parse(input)
                .map(|a| (a.partition, a.service, a.region, a.account, a.resource));
            assert_eq!(got, *expected, "{input}");
        }
    }

    #[test]
    fn bucket_names_come_from_s3_arns() {
        assert_eq!(s3_bucket_name("arn:aws:s3:::dest-bucket"), "dest-bucket");
        assert_eq!(s3_bucket_name("dest-bucket"), "dest-bucket");
    }

    #[test]
    fn classifies_key_refs() {
        let key_arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            KeyRef::parse(key_arn),
            KeyRef::KeyArn {
                region: "eu-west-1",
                account: "111122223333",
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab"
            }
        );
        assert_eq!(KeyRef::parse(key_arn).region(), Some("eu-west-1"));
        assert_eq!(KeyRef::parse(key_arn).account(), Some("111122223333"));
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/aws/s3"),
            KeyRef::AliasArn {
                region: "us-east-1",
                account: "111122223333",
                alias: "alias/aws/s3"
            }
        );
        assert_eq!(KeyRef::parse("alias/data"), KeyRef::AliasName("alias/data"));
        assert_eq!(KeyRef::parse("mrk-1234"), KeyRef::KeyId("mrk-1234"));
        assert_eq!(KeyRef::parse("mrk-1234").region(), None);
    }
}
