//! What the pool's disclosure control costs: the pool release (one-way tables with primary
//! and complementary suppression and the linear audit, `api::disclosure`) against the plain
//! one-way tables with the old per-row k filter, on the same synthetic stores, in one run.
//!
//! The stores are made in memory (no database): the figure is the release's own work, which
//! comes on top of reading every store once (the bench's `ListStores` figures give that).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use clap::Parser;
use landmeter_collector::api::disclosure::{Microdata, TABLES};
use landmeter_proto::v1::StoreView;

#[derive(Debug, Parser)]
#[command(about = "Pool release against plain one-way tables, side by side")]
struct Args {
    /// Stores in the pool.
    #[arg(long, default_value_t = 1_000_000)]
    stores: usize,
    /// Tenants in the pool.
    #[arg(long, default_value_t = 300)]
    tenants: usize,
    /// The pool's k (`pool_min_tenants`).
    #[arg(long, default_value_t = 5)]
    k: u32,
}

/// A deterministic estate: most tenants in a few EU regions, some in rare places, so that
/// small values exist and suppression has work to do.
fn estate(args: &Args) -> Vec<StoreView> {
    const REGIONS: [(&str, &str, bool); 12] = [
        ("eu-west-1", "IE", true),
        ("eu-central-1", "DE", true),
        ("eu-west-3", "FR", true),
        ("westeurope", "NL", true),
        ("northeurope", "IE", true),
        ("eu-north-1", "SE", true),
        ("eu-south-1", "IT", true),
        ("us-east-1", "US", false),
        ("us-west-2", "US", false),
        ("uksouth", "GB", false),
        ("sa-east-1", "BR", false),
        ("ap-southeast-1", "SG", false),
    ];
    const CUSTODY: [i32; 5] = [1, 2, 3, 4, 5];
    const CLASSES: [&str; 4] = ["", "intern", "vertrouwelijk", "geheim"];
    const PROCESSES: [&str; 6] = ["", "payroll", "permits", "social", "tax", "archive"];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    (0..args.stores)
        .map(|i| {
            let tenant = next(args.tenants);
            // Rare regions mostly belong to few tenants.
            let r = if next(100) < 95 {
                next(7)
            } else {
                7 + (tenant % 5)
            };
            let (region, country, eu) = REGIONS[r];
            let azure = region.chars().all(|c| c.is_ascii_lowercase());
            StoreView {
                id: format!("s{i}"),
                tenant: format!("tenant-{tenant:03}"),
                provider: if azure { "microsoft-azure" } else { "aws" }.into(),
                provider_parent: if azure { "Microsoft" } else { "Amazon" }.into(),
                region: region.into(),
                country: country.into(),
                eu,
                jurisdiction: country.into(),
                cloud_act: "yes".into(),
                custody: CUSTODY[next(5)],
                classification: CLASSES[next(4)].into(),
                process: PROCESSES[(tenant + next(2)) % 6].into(),
                kind: if azure { "container" } else { "bucket" }.into(),
                bytes: (next(10) > 0).then(|| next(1 << 30) as i64),
                sov2_indicator: Some(next(5) as i32),
                sov3_indicator: None,
                ..StoreView::default()
            }
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let stores = estate(&args);

    // The plain tables: every value with its figures and tenants, rows under k left out.
    let started = Instant::now();
    let mut plain: Vec<BTreeMap<String, (u64, BTreeSet<&str>)>> =
        vec![BTreeMap::new(); TABLES.len()];
    for v in &stores {
        for (t, (_, d)) in TABLES.iter().enumerate() {
            let e = plain[t].entry(d.key(v)).or_default();
            e.0 += 1;
            e.1.insert(v.tenant.as_str());
        }
    }
    let plain_rows: usize = plain
        .iter()
        .map(|t| {
            t.values()
                .filter(|(_, ts)| ts.len() >= args.k as usize)
                .count()
        })
        .sum();
    let plain_time = started.elapsed();

    let started = Instant::now();
    let mut micro = Microdata::default();
    stores.iter().for_each(|v| micro.add(v));
    let atoms = micro.atoms();
    let release = micro.release(args.k);
    let release_time = started.elapsed();
    let published: usize = release.tables.iter().map(|t| t.rows.len()).sum();
    let withheld: u32 = release
        .tables
        .iter()
        .filter_map(|t| t.withheld.map(|w| w.cells))
        .sum();

    println!(
        "pool of {} stores, {} tenants, k = {}: {} distinct combinations of the tables' keys",
        args.stores, args.tenants, args.k, atoms
    );
    println!("| computation | time | rows published | values withheld |");
    println!("|---|---|---|---|");
    println!(
        "| plain one-way tables, rows under k left out (differencing-open) | {:.0} ms | {plain_rows} | - |",
        plain_time.as_secs_f64() * 1e3
    );
    println!(
        "| pool release (suppression + audit) | {:.0} ms | {published} | {withheld} |",
        release_time.as_secs_f64() * 1e3
    );
    println!(
        "release / plain: {:.2}x",
        release_time.as_secs_f64() / plain_time.as_secs_f64()
    );
}
