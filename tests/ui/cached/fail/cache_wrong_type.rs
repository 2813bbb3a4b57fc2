use cache_runtime::cached;

struct Settings;

static SETTINGS: Settings = Settings;

#[cached(ttl = 60, cache = SETTINGS)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
