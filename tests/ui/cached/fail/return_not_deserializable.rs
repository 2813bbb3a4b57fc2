use cache_runtime::cached;
use serde::Serialize;

#[derive(Serialize)]
struct Report {
    total: u64,
}

#[cached(ttl = 60)]
async fn report(id: u64) -> Result<Report, String> {
    Ok(Report { total: id })
}

fn main() {}
