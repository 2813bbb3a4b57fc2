// Correct code compiles without warnings: a one-expression body, a private function
// whose companions go unused, arguments used by the key only.
#![deny(warnings)]

use cache_runtime::cached;

#[cached(ttl = 60)]
async fn answer() -> u32 {
    42
}

#[cached(ttl = 60, prefix = "user")]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[cached(ttl = 60)]
async fn checked(id: u64) -> Result<u64, String> {
    if id == 0 { Err("zero".into()) } else { Ok(id) }
}

struct Repo;

impl Repo {
    #[cached(ttl = 60)]
    async fn count(&self, id: u64) -> u64 {
        id
    }

    #[cached(ttl = 60)]
    async fn assoc(id: u64) -> u64 {
        id
    }
}

fn main() {
    let _ = (answer(), get_user(1), checked(1));
    let _ = (Repo.count(1), Repo::assoc(1));
}
