//! Change events: the outbox rows of one EHR numbered in commit order, and one publisher.

use std::time::Duration;

use uuid::Uuid;

use crate::common::{caller, composition, meta, OPT};
use cdr_store::Store;

#[tokio::test]
async fn one_ehrs_changes_are_published_in_commit_order() {
    let pg = cdr_testkit::fresh_database().await;
    let store = Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    store.put_template(&caller(), OPT).await.unwrap();
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    let first = store
        .create_composition(&caller(), ehr, composition(), meta())
        .await
        .unwrap();
    let mut publisher = store.try_event_publisher().await.unwrap().unwrap();
    let start = publisher.publish().await.unwrap();
    assert!(start >= 2, "the EHR_STATUS and the composition: {start}");

    // A commit of the EHR in flight: a transaction that has written the EHR's outbox row as a
    // commit does (announcing `first` again) and has not ended.
    let (client, conn) = pg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "INSERT INTO event_outbox (ehr_id, contribution_id, vo_ids, versions) \
             SELECT $1, $2, $3, $4 FROM (SELECT pg_advisory_xact_lock(215474401, \
             hashtext($1::uuid::text)) OFFSET 0) AS l",
            &[
                &ehr,
                &Uuid::new_v4(),
                &vec![first.uid.object_id],
                &vec![1i32],
            ],
        )
        .await
        .unwrap();

    // Another commit of the same EHR waits for it to end; one of another EHR does not.
    let s = store.clone();
    let second = tokio::spawn(async move {
        s.create_composition(&caller(), ehr, composition(), meta())
            .await
    });
    let other = tokio::time::timeout(
        Duration::from_secs(10),
        store.create_ehr(&caller(), None, None, meta()),
    )
    .await
    .expect("a commit of another EHR goes on")
    .unwrap()
    .ehr_id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "a commit of the same EHR waits");
    publisher.publish().await.unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    let second = second.await.unwrap().unwrap();

    // The row committed late (its `seq` is below what was moved meanwhile) goes out at the
    // publisher's next read from the start, and the EHR's later row only with it.
    let mut newest = publisher.publish().await.unwrap();
    for _ in 0..40 {
        if store.events_after(start, 100).await.unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        newest = publisher.publish().await.unwrap();
    }
    let events = store.events_after(start, 100).await.unwrap();
    assert_eq!(events.last().unwrap().position, newest);
    let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (start + 1..=newest).collect::<Vec<_>>(),
        "no gaps"
    );
    let of_ehr: Vec<_> = events
        .iter()
        .filter(|e| e.ehr_id == ehr)
        .map(|e| e.uid.clone())
        .collect();
    assert_eq!(of_ehr, [first.uid, second.uid], "in commit order");
    // The other EHR's creation, committed while the first waited, was published first.
    assert_eq!(events[0].ehr_id, other);
    assert_eq!(events[0].event_type(), "ehr_status.created");
}

#[tokio::test]
async fn one_publisher_at_a_time() {
    let store = cdr_testkit::fresh_store().await;
    let first = store.try_event_publisher().await.unwrap();
    assert!(first.is_some());
    assert!(store.try_event_publisher().await.unwrap().is_none());
    drop(first);
    // The lock goes with the publisher's connection.
    let mut again = None;
    for _ in 0..50 {
        again = store.try_event_publisher().await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "another publisher takes over");
}
