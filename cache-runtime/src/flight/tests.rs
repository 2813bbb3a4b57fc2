use super::*;

fn key(n: u8) -> CacheKey {
    static FUNCTION: crate::key::FnIdentity = crate::key::FnIdentity::new("flight tests");
    let mut key = crate::key::KeyHasher::new("ns", "f", &FUNCTION);
    key.arg(&n);
    key.finish().expect("a u8 encodes")
}

#[test]
// The `&` is the autoref specialization under test, not a needless borrow.
#[allow(clippy::needless_borrow)]
fn clone_results_are_shared_whole() {
    #[derive(Debug, PartialEq)]
    struct NotClone;
    let result: Result<u8, String> = Err("db down".into());
    let share = (&Probe::<Result<u8, String>>::new()).share();
    let shared = share.pack(&result).expect("a Clone result is shared");
    assert_eq!(share.unpack(&*shared), Some(result));
    let share = (&Probe::<Result<u8, NotClone>>::new()).share();
    assert!(share.pack(&Err::<u8, NotClone>(NotClone)).is_none());
}

fn envelope(bytes: &'static [u8]) -> Landing {
    Landing::Envelope(Arc::from(bytes))
}

fn landed_bytes(followed: Followed) -> Option<Vec<u8>> {
    match followed {
        Followed::Landed(Landing::Envelope(bytes)) => Some(bytes.to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn followers_get_the_landing() {
    let flights = Flights::default();
    let Role::Leader(lead) = flights.join(key(1)) else {
        panic!("the first caller leads");
    };
    let Role::Follower(follow) = flights.join(key(1)) else {
        panic!("the second caller follows");
    };
    assert_eq!(flights.waiting(), 1);
    // Another key has its own flight.
    assert!(matches!(flights.join(key(2)), Role::Leader(_)));
    let read = lead.stamp();
    lead.land(envelope(b"v"), read);
    assert_eq!(
        landed_bytes(follow.wait(Duration::from_secs(5)).await),
        Some(b"v".to_vec())
    );
    assert_eq!(
        flights.waiting(),
        0,
        "a follower that was answered is not waiting"
    );
    // The flight is over: the next caller leads again.
    assert!(matches!(flights.join(key(1)), Role::Leader(_)));
}

#[tokio::test]
async fn followers_that_joined_after_the_read_start_over() {
    let flights = Flights::default();
    let Role::Leader(lead) = flights.join(key(1)) else {
        panic!("the first caller leads");
    };
    let Role::Follower(early) = flights.join(key(1)) else {
        panic!("follows");
    };
    let read = lead.stamp();
    let Role::Follower(late) = flights.join(key(1)) else {
        panic!("a vouched flight takes followers until it lands");
    };
    lead.land(envelope(b"v"), read);
    assert!(landed_bytes(early.wait(Duration::from_secs(5)).await).is_some());
    assert!(matches!(
        late.wait(Duration::from_secs(5)).await,
        Followed::StartOver
    ));
}

#[tokio::test]
async fn callers_arriving_during_an_unvouched_load_wait_for_the_next_one() {
    // The queued leader runs in a task of its own.
    let flights: &'static Flights = Box::leak(Box::default());
    let Role::Leader(first) = flights.join(key(1)) else {
        panic!("the first caller leads");
    };
    let Role::Follower(early) = flights.join(key(1)) else {
        panic!("follows the current load");
    };
    first.unvouched();
    let started = first.stamp();
    let Role::Next(queued) = flights.join(key(1)) else {
        panic!("the first caller after the start leads the next load");
    };
    let Role::Follower(late) = flights.join(key(1)) else {
        panic!("the others follow the next load");
    };
    assert_eq!(flights.waiting(), 3);
    // The queued leader waits for the current load to end.
    let queued = tokio::spawn(async move {
        let lead = queued.wait(Duration::from_secs(5)).await;
        let read = lead.stamp();
        lead.land(envelope(b"second"), read);
    });
    first.land(envelope(b"first"), started);
    assert_eq!(
        landed_bytes(early.wait(Duration::from_secs(5)).await),
        Some(b"first".to_vec())
    );
    assert_eq!(
        landed_bytes(late.wait(Duration::from_secs(5)).await),
        Some(b"second".to_vec())
    );
    queued.await.expect("the queued leader lands");
    assert_eq!(flights.waiting(), 0);
    assert!(matches!(flights.join(key(1)), Role::Leader(_)));
}

#[tokio::test]
async fn a_queued_leader_that_gives_up_releases_its_followers() {
    let flights = Flights::default();
    let Role::Leader(first) = flights.join(key(1)) else {
        panic!("leads");
    };
    first.unvouched();
    let Role::Next(queued) = flights.join(key(1)) else {
        panic!("queued");
    };
    let Role::Follower(late) = flights.join(key(1)) else {
        panic!("follows the next load");
    };
    drop(queued);
    assert!(matches!(
        late.wait(Duration::from_secs(5)).await,
        Followed::StartOver
    ));
    drop(first);
    assert!(matches!(flights.join(key(1)), Role::Leader(_)));
}

#[tokio::test]
async fn a_dropped_leader_releases_its_followers() {
    let flights = Flights::default();
    let lead = flights.join(key(1));
    let Role::Follower(follow) = flights.join(key(1)) else {
        panic!("the second caller follows");
    };
    drop(lead);
    assert!(matches!(
        follow.wait(Duration::from_secs(5)).await,
        Followed::StartOver
    ));
    assert!(matches!(flights.join(key(1)), Role::Leader(_)));
}

#[tokio::test]
async fn followers_give_up_after_the_limit() {
    let flights = Flights::default();
    let _lead = flights.join(key(1));
    let Role::Follower(follow) = flights.join(key(1)) else {
        panic!("the second caller follows");
    };
    assert!(matches!(
        follow.wait(Duration::from_millis(1)).await,
        Followed::TimedOut
    ));
}
