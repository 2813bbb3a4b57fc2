use super::*;

fn breaker(open_for: Duration) -> Breaker {
    Breaker::new(
        BreakerSettings {
            failure_threshold: 3,
            open_for,
            close_after: 2,
        },
        "test".into(),
        Duration::from_secs(1),
    )
}

fn fail(breaker: &Breaker) {
    let permit = breaker.admit().expect("admitted");
    breaker.record::<()>(permit, &Err(BackendError::Timeout(Duration::ZERO)));
}

fn succeed(breaker: &Breaker) {
    let permit = breaker.admit().expect("admitted");
    breaker.record(permit, &Ok(()));
}

#[test]
fn opens_after_consecutive_failures_only() {
    let breaker = breaker(Duration::from_secs(60));
    fail(&breaker);
    fail(&breaker);
    succeed(&breaker);
    fail(&breaker);
    fail(&breaker);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the success reset the count"
    );
    fail(&breaker);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert!(matches!(breaker.admit(), Err(BackendError::CircuitOpen)));
    assert_eq!(breaker.counts(), (1, 1));
}

#[test]
fn probes_one_at_a_time_then_closes() {
    let breaker = breaker(Duration::ZERO);
    for _ in 0..3 {
        fail(&breaker);
    }
    let probe = breaker.admit().expect("the open interval is over: a probe");
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert!(breaker.admit().is_err(), "one probe at a time");
    breaker.record(probe, &Ok(()));
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "one success of two"
    );
    succeed(&breaker);
    assert_eq!(breaker.state(), BreakerState::Closed);
    succeed(&breaker);
}

#[test]
fn a_failed_probe_reopens_and_a_cancelled_one_frees_the_slot() {
    let breaker = breaker(Duration::ZERO);
    for _ in 0..3 {
        fail(&breaker);
    }
    drop(breaker.admit().expect("a probe"));
    let probe = breaker.admit().expect("the cancelled probe freed its slot");
    breaker.record::<()>(probe, &Err(BackendError::Timeout(Duration::ZERO)));
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.counts().0, 1, "reopening is not a new opening");
}

#[test]
fn outcomes_from_before_a_transition_do_not_count() {
    let breaker = breaker(Duration::ZERO);
    let old: Vec<_> = (0..3).map(|_| breaker.admit().expect("closed")).collect();
    for _ in 0..3 {
        fail(&breaker);
    }
    succeed(&breaker);
    succeed(&breaker);
    assert_eq!(breaker.state(), BreakerState::Closed, "probed and closed");
    // Admitted before it opened, failing only now: not failures of this closing.
    for permit in old {
        breaker.record::<()>(permit, &Err(BackendError::Timeout(Duration::ZERO)));
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker);
    fail(&breaker);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "counting starts over"
    );
}

#[test]
fn a_probe_that_is_never_finished_gives_up_the_slot() {
    let breaker = Breaker::new(
        BreakerSettings {
            failure_threshold: 1,
            open_for: Duration::ZERO,
            close_after: 1,
        },
        "test".into(),
        Duration::from_millis(1),
    );
    fail(&breaker);
    let stuck = breaker.admit().expect("a probe");
    assert!(breaker.admit().is_err(), "one probe at a time");
    // Time passing is the event here: the probe outlives twice the deadline.
    std::thread::sleep(Duration::from_millis(5));
    let next = breaker.admit().expect("the stuck probe expired");
    drop(stuck);
    assert!(
        breaker.admit().is_err(),
        "the expired probe did not free the slot of the next one"
    );
    breaker.record(next, &Ok(()));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn concurrent_callers_run_one_probe_at_a_time() {
    use std::sync::atomic::AtomicUsize;
    let breaker = Breaker::new(
        BreakerSettings {
            failure_threshold: 1,
            open_for: Duration::ZERO,
            close_after: 3,
        },
        "test".into(),
        Duration::from_secs(60),
    );
    let probing = AtomicUsize::new(0);
    let most = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (breaker, probing, most) = (&breaker, &probing, &most);
            scope.spawn(move || {
                for round in 0..5_000 {
                    let Ok(permit) = breaker.admit() else {
                        continue;
                    };
                    let probe = permit.probe_started_ms.is_some();
                    if probe {
                        let now = probing.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        probing.fetch_sub(1, Ordering::SeqCst);
                    }
                    let outcome = if (round + thread) % 7 == 0 {
                        Err(BackendError::Timeout(Duration::ZERO))
                    } else {
                        Ok(())
                    };
                    breaker.record(permit, &outcome);
                }
            });
        }
    });
    assert_eq!(most.load(Ordering::SeqCst), 1, "never two probes at once");
    assert!(breaker.counts().0 >= 1);
}

#[cfg(feature = "redis")]
#[test]
fn server_replies_are_not_failures() {
    let wrong_type = RedisError::from((
        ErrorKind::Server(ServerErrorKind::ResponseError),
        "WRONGTYPE",
    ));
    assert!(!counts_as_failure(&BackendError::Redis(wrong_type)));
    let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    assert!(counts_as_failure(&BackendError::Redis(refused)));
    assert!(counts_as_failure(&BackendError::Timeout(Duration::ZERO)));
}

#[test]
fn a_zero_threshold_never_opens() {
    let breaker = Breaker::new(
        BreakerSettings {
            failure_threshold: 0,
            ..BreakerSettings::default()
        },
        "test".into(),
        Duration::from_secs(1),
    );
    for _ in 0..100 {
        fail(&breaker);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}
