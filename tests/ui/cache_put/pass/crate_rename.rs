// `crate = "..."` with the runtime under another name.
use cache_runtime as rt;

mod inner {
    use super::rt;

    #[rt::cached(ttl = 60, crate = "rt")]
    pub async fn get(id: u64) -> Option<u64> {
        Some(id)
    }

    #[rt::cache_put(get(id), crate = "rt")]
    pub async fn set(id: u64, value: u64) -> Result<u64, String> {
        let _ = id;
        Ok(value)
    }

    #[rt::cache_put(get(id), crate = "crate::rt")]
    pub async fn set_abs(id: u64, value: u64) -> Option<u64> {
        let _ = id;
        Some(value)
    }
}

fn main() {
    let _ = inner::set(1, 2);
    let _ = inner::set_abs(1, 2);
}
