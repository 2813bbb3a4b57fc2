// Targets in other modules, by path: one entry, every entry of a function, and
// `before`.
mod users {
    use cache_runtime::cached;

    #[cached(ttl = 60)]
    pub async fn get_user(id: u64) -> Option<String> {
        Some(id.to_string())
    }

    #[cached(ttl = 60, prefix = "by-name")]
    pub async fn find_by_name(name: String, tenant: u32) -> Result<u64, String> {
        Ok(name.len() as u64 + u64::from(tenant))
    }
}

mod admin {
    use cache_runtime::invalidate;

    #[invalidate(crate::users::get_user(id), crate::users::find_by_name(name, tenant))]
    pub async fn delete_user(id: u64, name: String, tenant: u32) -> Result<(), String> {
        // The body may move the arguments the targets use.
        drop(name);
        let _ = (id, tenant);
        Ok(())
    }

    #[invalidate(super::users::get_user(..), before)]
    pub async fn forget_users() {}

    #[invalidate(crate::users::get_user(id + 1), crate::users::find_by_name(..))]
    pub async fn shift(id: u64) -> Option<u64> {
        Some(id)
    }
}

// The same function, imported with its companions.
use users::{get_user, get_user_entries, get_user_entry};

#[cache_runtime::invalidate(get_user(id), get_user(..))]
async fn local(id: u64) -> u32 {
    let _ = id;
    0
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(admin::delete_user(1, String::new(), 2));
    assert_send(admin::forget_users());
    assert_send(admin::shift(1));
    assert_send(local(1));
    let _ = (get_user, get_user_entries, get_user_entry);
}
