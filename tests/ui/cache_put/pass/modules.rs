// Write-through to cached functions in other modules, by path, for each kind of
// return type: `Result` (the `Ok` value), `Option` (the `Some` value), `cache_none`
// (the `Option` itself, so the writer returns it inside a `Result`) and plain values.
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

mod users {
    use cache_runtime::cached;

    use crate::User;

    #[cached(ttl = 60)]
    pub async fn get_user(id: u64) -> Result<User, String> {
        Ok(User {
            id,
            name: String::new(),
        })
    }

    #[cached(ttl = 60)]
    pub async fn find_user(id: u64) -> Option<User> {
        let _ = id;
        None
    }

    #[cached(ttl = 60, cache_none)]
    pub async fn maybe_user(id: u64) -> Option<User> {
        let _ = id;
        None
    }

    #[cached(ttl = 60)]
    pub async fn user_name(id: u64) -> String {
        id.to_string()
    }
}

mod admin {
    use cache_runtime::cache_put;

    use crate::User;

    // The writer's own error type does not matter; only the value type does.
    #[cache_put(crate::users::get_user(user.id), crate::users::find_user(user.id))]
    pub async fn update_user(user: User) -> Result<User, std::io::Error> {
        Ok(user)
    }

    #[cache_put(super::users::get_user(id))]
    pub async fn reload(id: u64) -> Option<User> {
        Some(User {
            id,
            name: String::new(),
        })
    }

    #[cache_put(crate::users::maybe_user(id))]
    pub async fn set_maybe(id: u64, user: Option<User>) -> Result<Option<User>, String> {
        let _ = id;
        Ok(user)
    }

    #[cache_put(crate::users::user_name(id))]
    pub async fn rename(id: u64, name: String) -> String {
        let _ = id;
        name
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(admin::update_user(User {
        id: 1,
        name: String::new(),
    }));
    assert_send(admin::reload(1));
    assert_send(admin::set_maybe(1, None));
    assert_send(admin::rename(1, String::new()));
}
