//! The demo: moto with a seeded municipal estate (buckets, and every other AWS store kind:
//! databases, tables, volumes, snapshots, file systems, backup vaults, log groups), an Azure
//! estate (a local HTTPS server playing Azure Resource Manager with storage accounts and
//! every other Azure store kind, and Azurite for the Blob containers), a Google Cloud project
//! (fake-gcs-server for its buckets, the GCP test server for the token, Cloud KMS, Cloud
//! Monitoring and, where no emulator exists, Cloud SQL instances, disks and snapshots), two European S3-compatible providers (OVHcloud and Exoscale, each an s3rver
//! persona), a collector, one agent scan of all five, the map.
//!
//! `scripts/demo.sh` runs it after installing moto, Azurite, fake-gcs-server and s3rver
//! (`scripts/setup.sh`) and building the workspace. It
//! prints `landmeter summary --by provider,country,custody`, `summary --by
//! kind,country,custody` and `landmeter stores`, then keeps the collector
//! (and moto) serving until Ctrl-C, so the CLI and the web UI (its URL, with an admin token in
//! the fragment, is printed) can be tried against it; `--exit` stops after printing (CI).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use landmeter_e2e::arm_server::ArmServer;
use landmeter_e2e::aws_kinds_estate;
use landmeter_e2e::azurite::{self, Azurite};
use landmeter_e2e::estate::{self, Aws};
use landmeter_e2e::multi_cloud::{DEMO_GCS_BUCKETS, EuropeanClouds, GoogleCloud};
use landmeter_e2e::{
    AGENT_ROLE_ARN, Collector, Moto, TempDir, multi_cloud, run_cli, run_cli_listing, workspace_root,
};

#[derive(Debug, Parser)]
#[command(
    about = "landmeter demo: seeded AWS, Azure, Google Cloud and European estates, a collector and one agent scan"
)]
struct Args {
    /// Address the collector listens on.
    #[arg(long, default_value = "127.0.0.1:7400")]
    listen: String,
    /// Address of the collector's HTTP side (JSON API and web UI); loopback only.
    #[arg(long, default_value = "127.0.0.1:7401")]
    http_listen: String,
    /// The collector's SQLite database (recreated on every run).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Port for moto (default: a free one).
    #[arg(long)]
    moto_port: Option<u16>,
    /// Stop after printing the map instead of serving until Ctrl-C.
    #[arg(long)]
    exit: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = args
        .db
        .unwrap_or_else(|| workspace_root().join(".demo").join("map.db"));
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }

    let moto = Moto::start_on(args.moto_port)?;
    eprintln!("moto on {}", moto.endpoint());
    let aws = Aws::connect(&moto.endpoint()).await?;
    let truth = estate::seed(&aws, estate::DEMO).await?;
    eprintln!(
        "seeded {} buckets in accounts {} and {}",
        truth.len(),
        estate::MAIN_ACCOUNT,
        estate::SECOND_ACCOUNT
    );
    let kinds = aws_kinds_estate::seed(&aws).await?;
    eprintln!(
        "seeded {} databases, tables, volumes, snapshots, file systems, vaults and log groups in {} and {}",
        kinds.stores().len(),
        aws_kinds_estate::EU,
        aws_kinds_estate::US
    );

    let collector = Collector::start_with(
        TempDir::new("landmeter-demo")?,
        &db,
        &args.listen,
        &["--http-listen", &args.http_listen],
    )?;
    let http = landmeter_e2e::browser::http_addr(&collector, std::time::Duration::from_secs(10))?;
    eprintln!(
        "collector on {} (database {})",
        collector.url(),
        db.display()
    );
    // Azure: Azurite for the containers when installed, the ARM test server for the rest.
    let azurite = match Azurite::start() {
        Ok(a) => {
            a.create_containers(azurite::DEMO_CONTAINERS).await?;
            eprintln!("azurite on {}", a.blob_endpoint());
            Some(a)
        }
        Err(e) => {
            eprintln!("azurite unavailable, Azure containers skipped: {e:#}");
            None
        }
    };
    let arm = ArmServer::start_with_azurite_and_kinds(azurite.as_ref().map(Azurite::blob_endpoint))
        .await?;
    eprintln!("Azure Resource Manager test server on {}", arm.endpoint());
    // Google Cloud: fake-gcs-server's buckets when installed, else the test server's own.
    let gcp = match GoogleCloud::with_emulated_buckets(DEMO_GCS_BUCKETS).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("fake-gcs-server unavailable, the GCP test server lists the buckets: {e:#}");
            GoogleCloud::start().await?
        }
    };
    eprintln!(
        "Google Cloud: buckets on {}, token, Cloud KMS and Monitoring on {}",
        gcp.storage_endpoint(),
        gcp.server.endpoint()
    );
    let europe = EuropeanClouds::start().context("s3rver (run scripts/setup.sh)")?;
    eprintln!("OVHcloud and Exoscale personas on s3rver");

    // One agent, one scan, five clouds: the AWS accounts (the credential chain's and the
    // second account by role), every Azure subscription the ARM server serves, the GCP
    // project and the two European providers' accounts. The AWS kinds are listed in the
    // estate's two regions, not in all of moto's 38.
    let config = multi_cloud::config(&arm, &collector.url(), &moto.endpoint(), None)?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&format!(
        "regions = [\"{}\", \"{}\"]\n[[aws.accounts]]\nrole_arn = \"{AGENT_ROLE_ARN}\"\n",
        aws_kinds_estate::EU,
        aws_kinds_estate::US
    ));
    // After the `[aws]` keys above: these sections open tables of their own.
    text.push_str(&gcp.section_with_kinds());
    text.push_str(&europe.section());
    std::fs::write(&config, text)?;
    let run = multi_cloud::run_agent_with_aws_kinds(&collector.url(), &config)
        .await?
        .success()?;
    eprintln!(
        "agent scan done (aws, microsoft-azure, google-cloud, ovhcloud and exoscale in one scan)\n{}",
        run.stderr.lines().last().unwrap_or_default()
    );

    let server = collector.url();
    println!("$ landmeter summary --server {server} --by provider,country,custody");
    print!(
        "{}",
        run_cli(
            &server,
            collector.token(),
            &["summary", "--by", "provider,country,custody"]
        )?
    );
    println!("\n$ landmeter summary --server {server} --by kind,country,custody");
    print!(
        "{}",
        run_cli(
            &server,
            collector.token(),
            &["summary", "--by", "kind,country,custody"]
        )?
    );
    println!("\n$ landmeter stores --server {server}");
    // Exit status 3 is expected here: the estate has parts no scan could read on purpose
    // (a denied subscription, unknown keys), and the listing says so under the table.
    let (stores, incomplete) = run_cli_listing(&server, collector.token(), &["stores"])?;
    print!("{stores}");
    if let Some(note) = incomplete {
        println!("{note}");
    }

    // The fragment never reaches the server or a log; the UI trades it for an HttpOnly cookie.
    println!(
        "\nweb UI (dashboard, map, stores, changes, coverage, exit):\n  http://{http}/ui/#token={}",
        collector.token()
    );
    if args.exit {
        return Ok(());
    }
    println!(
        "\nserving on {server} (plaintext, loopback only). An admin token for queries:\n  export LANDMETER_TOKEN={}\n  target/debug/landmeter stores --server {server} --custody-at-least byok\nCtrl-C to stop",
        collector.token()
    );
    tokio::signal::ctrl_c().await?;
    drop(collector);
    drop(europe);
    drop(gcp);
    drop(arm);
    drop(azurite);
    drop(moto);
    Ok(())
}
