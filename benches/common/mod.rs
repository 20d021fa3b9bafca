//! What the benchmarks share: their clusters' URLs and their size flags.

#![allow(dead_code)]

use stratum::conninfo;
use stratum::scratch::{Binaries, Cluster};

/// A URL for database `db` of `cluster` (its Unix socket).
pub fn url(cluster: &Cluster, db: &str) -> String {
    let config = cluster.config(db);
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Unix(p) => p.clone(),
        other => panic!("unexpected host {other:?}"),
    };
    format!(
        "postgresql://stratum@/{db}?host={}&port={}",
        host.display(),
        config.get_ports()[0]
    )
}

/// The numbers after `flag` on the command line (`--rows 1000000,10000000`),
/// or `default`. (`cargo bench` adds `--bench`, which is ignored.)
pub fn numbers(flag: &str, default: &[i64]) -> Vec<i64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        Some(i) => args[i + 1]
            .split(',')
            .map(|n| n.trim().parse().expect("sizes are numbers"))
            .collect(),
        None => default.to_vec(),
    }
}

/// A new cluster of `bins` with an empty database `bench`: the cluster
/// (stopped when dropped), the database's URL and a connection to it.
pub async fn bench_database(bins: &Binaries) -> (Cluster, String, tokio_postgres::Client) {
    let cluster = Cluster::start(bins).await.expect("starting PostgreSQL");
    let admin = conninfo::connect(&cluster.config("postgres"))
        .await
        .unwrap();
    admin.batch_execute("CREATE DATABASE bench").await.unwrap();
    let url = url(&cluster, "bench");
    let db = conninfo::connect_url(&url).await.unwrap();
    (cluster, url, db)
}
