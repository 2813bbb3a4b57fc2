use cache_runtime::cached;

#[cached(ttl = 60)]
async fn describe(value: impl std::fmt::Debug) -> String {
    format!("{value:?}")
}

fn main() {}
