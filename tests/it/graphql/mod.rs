//! The GraphQL server: its schema, the gateway in front of it, the transports to it, and the
//! one execution that many subscribers of a subscription share.

mod fanout;
mod gateway;
mod graphiql;
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
