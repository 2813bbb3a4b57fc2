// `crate = "..."` with a renamed path: nothing in the expansion needs the name
// `cache_runtime`.
use cache_runtime as rt;

mod inner {
    use super::rt;

    #[rt::cached(ttl = 60, crate = "rt")]
    pub async fn get(id: u64) -> Option<u64> {
        Some(id)
    }

    #[rt::cached(ttl = 60, crate = "crate::rt", cache_none)]
    pub async fn get_abs(id: u64) -> Option<u64> {
        Some(id)
    }

    #[rt::cached(ttl = 60, crate = "super::rt", cache = rt::global())]
    pub async fn get_rel(id: u64) -> Result<u64, String> {
        Ok(id)
    }
}

fn main() {
    let _ = inner::get(1);
    let _ = inner::get_abs(1);
    let _ = inner::get_rel(1);
}
