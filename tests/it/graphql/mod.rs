//! The GraphQL server: its schema, the gateway in front of it, and the transports to it.

mod fanout;
mod gateway;
mod transport;
mod websocket;

#[test]
fn schema_graphql_matches_the_code() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql is checked in");
    assert!(
        checked_in == switchboard::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}
