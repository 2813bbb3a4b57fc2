// `crate = "..."` with the runtime under another name.
use cache_runtime as rt;

mod inner {
    use super::rt;

    pub static LISTS: rt::CacheGroup = rt::CacheGroup::new("lists");

    #[rt::cached(ttl = 60, crate = "rt", groups(LISTS))]
    pub async fn get(id: u64) -> Option<u64> {
        Some(id)
    }

    #[rt::invalidate(get(id), get(..), LISTS, crate = "rt")]
    pub async fn delete(id: u64) -> Result<(), String> {
        let _ = id;
        Ok(())
    }

    #[rt::invalidate(get(id), LISTS, crate = "crate::rt", cache = rt::global())]
    pub async fn delete_abs(id: u64) -> Result<(), String> {
        let _ = id;
        Ok(())
    }
}

fn main() {
    let _ = inner::delete(1);
    let _ = inner::delete_abs(1);
}
