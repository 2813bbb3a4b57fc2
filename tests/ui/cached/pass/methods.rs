// `&self` methods, with and without `include_self`, and `self` in the body.
use cache_runtime::cached;
use serde::Serialize;

#[derive(Serialize)]
struct Tenant {
    id: u64,
}

struct Repo {
    name: String,
}

impl Tenant {
    #[cached(ttl = 60, include_self)]
    async fn quota(&self, resource: String) -> u64 {
        self.id + resource.len() as u64
    }
}

impl Tenant {
    // A receiver taken by value.
    #[cached(ttl = 60, include_self)]
    async fn into_label(self) -> String {
        self.id.to_string()
    }
}

impl Repo {
    // `Repo` is not `Serialize`: without `include_self` it is not part of the key.
    #[cached(ttl = 60, prefix = "repo")]
    pub async fn label(&self, id: u64) -> String {
        format!("{}-{id}", self.name)
    }

    #[cached(ttl = 60, skip(verbose))]
    async fn count(&self, verbose: bool) -> Option<usize> {
        if verbose {
            return Some(self.name.len());
        }
        None
    }
}

fn main() {
    let _ = Tenant { id: 1 }.quota(String::new());
    let _ = Tenant { id: 1 }.into_label();
    let repo = Repo {
        name: String::new(),
    };
    let _ = repo.label(1);
    let _ = repo.count(true);
}
