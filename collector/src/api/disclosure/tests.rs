//! The release against the differencing attacks of the trust issue, and against an attacker
//! on small random estates: every one-way or two-way row held by fewer than k tenants whose
//! figures a linear combination of the published figures would give.

use super::*;

/// A store of `tenant` in `country` (EU decided by the country), the other dimensions fixed
/// unless set.
fn store(tenant: &str, id: &str, country: &str) -> StoreView {
    let eu = !matches!(country, "US" | "BR" | "GB" | "CH");
    StoreView {
        id: id.into(),
        tenant: tenant.into(),
        provider: "aws".into(),
        provider_parent: "Amazon.com, Inc.".into(),
        region: format!("{}-1", country.to_lowercase()),
        country: country.into(),
        eu,
        jurisdiction: country.into(),
        cloud_act: "yes".into(),
        classification: "intern".into(),
        kind: "bucket".into(),
        bytes: Some(1000),
        ..StoreView::default()
    }
}

fn release_of(stores: &[StoreView], k: u32) -> Release {
    let mut micro = Microdata::default();
    stores.iter().for_each(|s| micro.add(s));
    micro.release(k)
}

/// Every figure the release publishes, as the set of stores it sums (indices into `stores`),
/// after checking that its figures are those of that set.
fn published_sets(stores: &[StoreView], release: &Release) -> Vec<Vec<usize>> {
    let figures_of = |set: &[usize]| {
        let mut f = Figures::default();
        set.iter().for_each(|&i| f.add(Figures::of(&stores[i])));
        f
    };
    let mut sets = Vec::new();
    if let Some(total) = release.total {
        let all: Vec<usize> = (0..stores.len()).collect();
        assert_eq!(figures_of(&all), total);
        sets.push(all);
    }
    for table in &release.tables {
        let keys: Vec<String> = stores.iter().map(|s| table.dimension.key(s)).collect();
        for row in &table.rows {
            let set: Vec<usize> = (0..stores.len()).filter(|&i| keys[i] == row.key).collect();
            assert_eq!(figures_of(&set), row.figures, "{} {}", table.name, row.key);
            sets.push(set);
        }
        if let Some(w) = table.withheld {
            let set: Vec<usize> = (0..stores.len())
                .filter(|&i| !table.rows.iter().any(|r| r.key == keys[i]))
                .collect();
            assert_eq!(figures_of(&set), w.figures, "{} withheld", table.name);
            sets.push(set);
        }
    }
    sets
}

/// The published sets in reduced row-echelon form over the reals (pivot column, row). The
/// matrices here are tiny 0/1 ones, so floating point with a tolerance is exact enough.
fn echelon(rows: &[Vec<f64>]) -> Vec<(usize, Vec<f64>)> {
    let mut m: Vec<Vec<f64>> = rows.to_vec();
    let cols = m.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    let mut r = 0;
    for c in 0..cols {
        let Some(p) = (r..m.len()).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())) else {
            break;
        };
        if m[p][c].abs() < 1e-9 {
            continue;
        }
        m.swap(r, p);
        let lead = m[r][c];
        m[r].iter_mut().for_each(|x| *x /= lead);
        let pivot_row = m[r].clone();
        for (i, row) in m.iter_mut().enumerate() {
            if i != r {
                let f = row[c];
                row.iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(x, p)| *x -= f * p);
            }
        }
        out.push((c, m[r].clone()));
        r += 1;
    }
    out
}

fn in_span(basis: &[(usize, Vec<f64>)], mut v: Vec<f64>) -> bool {
    for (pivot, row) in basis {
        let f = v[*pivot];
        if f.abs() > 1e-12 {
            v.iter_mut().zip(row).for_each(|(x, r)| *x -= f * r);
        }
    }
    v.iter().all(|x| x.abs() < 1e-9)
}

/// The attacker: every row of a one-way or two-way table held by fewer than k tenants (what a
/// tenant-scoped query could show) whose figures a linear combination of the published
/// figures gives, found by exact linear algebra over the stores (not the release's own code).
fn disclosed(stores: &[StoreView], release: &Release, k: usize) -> Vec<Vec<usize>> {
    let n = stores.len();
    let vector = |set: &[usize]| {
        let mut v = vec![0.0; n];
        set.iter().for_each(|&i| v[i] = 1.0);
        v
    };
    let rows: Vec<Vec<f64>> = published_sets(stores, release)
        .iter()
        .map(|s| vector(s))
        .collect();
    let basis = echelon(&rows);
    let keys: Vec<Vec<String>> = stores
        .iter()
        .map(|s| TABLES.iter().map(|(_, d)| d.key(s)).collect())
        .collect();
    let mut rows_of_tables: BTreeSet<Vec<usize>> = BTreeSet::new();
    for t in 0..TABLES.len() {
        for u in t..TABLES.len() {
            for i in 0..n {
                let row: Vec<usize> = (0..n)
                    .filter(|&j| keys[j][t] == keys[i][t] && keys[j][u] == keys[i][u])
                    .collect();
                rows_of_tables.insert(row);
            }
        }
    }
    rows_of_tables
        .into_iter()
        .filter(|set| {
            let tenants: BTreeSet<&str> = set.iter().map(|&i| stores[i].tenant.as_str()).collect();
            tenants.len() < k && in_span(&basis, vector(set))
        })
        .collect()
}

#[test]
fn the_differencing_attack_total_minus_eu_does_not_reveal_the_one_tenant_outside_the_eu() {
    // Four tenants in the EU, one of them also alone in the US: today `total - (eu=EU)`
    // gives that tenant's US figures.
    let stores = vec![
        store("a", "a1", "NL"),
        store("b", "b1", "NL"),
        store("c", "c1", "DE"),
        store("d", "d1", "DE"),
        store("a", "a2", "US"),
    ];
    let release = release_of(&stores, 3);
    assert_eq!(release.total.map(|t| t.stores), Some(5));
    let eu = release.table(Dimension::Field(GroupField::Eu)).unwrap();
    assert!(
        eu.rows.iter().all(|r| r.key != "non-EU"),
        "non-EU is one tenant"
    );
    assert!(
        eu.rows.iter().all(|r| r.key != "EU"),
        "EU published beside the total gives non-EU back: {eu:?}"
    );
    assert_eq!(eu.withheld.map(|w| w.figures.stores), Some(5));
    assert_eq!(disclosed(&stores, &release, 3), Vec::<Vec<usize>>::new());
}

#[test]
fn the_nested_attack_non_eu_minus_its_published_countries_does_not_reveal_one_country() {
    // Non-EU is held by three tenants (published), the US by one only: subtracting the
    // published non-EU countries from non-EU must not leave the US.
    let stores = vec![
        store("a", "a1", "NL"),
        store("b", "b1", "NL"),
        store("c", "c1", "NL"),
        store("a", "a2", "GB"),
        store("b", "b2", "GB"),
        store("c", "c2", "GB"),
        store("d", "d1", "US"),
        store("d", "d2", "NL"),
    ];
    let release = release_of(&stores, 3);
    let country = release
        .table(Dimension::Field(GroupField::Country))
        .unwrap();
    assert!(country.rows.iter().all(|r| r.key != "US"));
    assert_eq!(disclosed(&stores, &release, 3), Vec::<Vec<usize>>::new());
    // What is safe stays published: NL is held by four tenants.
    assert!(country.rows.iter().any(|r| r.key == "NL"), "{country:?}");
}

#[test]
fn a_pool_of_fewer_than_k_tenants_releases_nothing() {
    let stores = vec![store("a", "a1", "NL"), store("b", "b1", "DE")];
    let release = release_of(&stores, 3);
    assert_eq!(release.total, None);
    assert!(release.tables.is_empty());
    assert_eq!(release.summary(&[]).unwrap(), Vec::new());
}

#[test]
fn the_release_does_not_depend_on_the_order_stores_are_read() {
    let mut stores: Vec<StoreView> = (0..30)
        .map(|i| {
            let c = ["NL", "DE", "US", "FR", "GB"][i % 5];
            store(&format!("t{}", i % 7), &format!("s{i}"), c)
        })
        .collect();
    let one = release_of(&stores, 3);
    stores.reverse();
    assert_eq!(release_of(&stores, 3), one);
}

#[test]
fn summary_answers_the_total_and_one_way_tables_and_refuses_the_rest() {
    let stores: Vec<StoreView> = (0..12)
        .map(|i| {
            store(
                &format!("t{}", i % 4),
                &format!("s{i}"),
                ["NL", "DE"][i % 2],
            )
        })
        .collect();
    let release = release_of(&stores, 3);
    assert_eq!(release.summary(&[]).unwrap()[0].stores, 12);
    let by_country = release.summary(&[GroupField::Country]).unwrap();
    assert_eq!(by_country.iter().map(|r| r.stores).sum::<u64>(), 12);
    assert!(
        release
            .summary(&[GroupField::Country, GroupField::Custody])
            .is_err()
    );
    let filtered = StoreFilter {
        eu: Some(false),
        ..StoreFilter::default()
    };
    assert!(check_request(&filtered, &[]).is_err());
    assert!(check_request(&StoreFilter::default(), &[GroupField::Tenant]).is_err());
    assert!(check_request(&StoreFilter::default(), &[GroupField::Account]).is_err());
    assert!(
        check_request(
            &StoreFilter::default(),
            &[GroupField::Country, GroupField::Eu]
        )
        .is_err()
    );
    assert!(check_request(&StoreFilter::default(), &[GroupField::Country]).is_ok());
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn no_random_small_estate_discloses_a_row_of_fewer_than_k_tenants() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let n = 4 + rng.next(9);
        let tenants = 2 + rng.next(5);
        let k = 2 + rng.next(2);
        let stores: Vec<StoreView> = (0..n)
            .map(|i| {
                let mut s = store(
                    &format!("t{}", rng.next(tenants)),
                    &format!("s{i}"),
                    ["NL", "DE", "US", "GB"][rng.next(4)],
                );
                s.classification = ["", "intern", "geheim"][rng.next(3)].into();
                s.custody = rng.next(4) as i32 + 1;
                s.provider = ["aws", "microsoft-azure"][rng.next(2)].into();
                s.bytes = [None, Some(10), Some(2_000)][rng.next(3)];
                s
            })
            .collect();
        let release = release_of(&stores, k as u32);
        let found = disclosed(&stores, &release, k);
        assert!(
            found.is_empty(),
            "seed {seed}: k={k}, {n} stores, sets of < k tenants derivable: {found:?}"
        );
    }
}
