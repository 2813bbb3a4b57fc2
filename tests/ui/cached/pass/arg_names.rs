// Arguments named like a module or type used in the signature, and raw names.
use cache_runtime::cached;

mod user {
    #[derive(serde::Serialize)]
    pub struct Id(pub u64);
}

#[allow(non_camel_case_types)]
#[derive(serde::Serialize)]
struct name {
    text: String,
}

#[cached(ttl = 60)]
async fn lookup(user: user::Id, name: name, r#type: u8) -> u64 {
    user.0 + name.text.len() as u64 + u64::from(r#type)
}

fn main() {
    let _ = lookup(
        user::Id(1),
        name {
            text: String::new(),
        },
        2,
    );
}
