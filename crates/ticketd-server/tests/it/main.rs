//! End-to-end tests of the ticketd server over real HTTP on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure by design"
)]

mod app;
mod auth;
mod authz;
mod cli;
mod crash;
mod dataarts;
mod edge;
mod jms_admin;
mod jms_flows;
mod jms_openapi;
mod jms_seeds;
mod jms_tickets;
mod limits;
mod malformed;
mod multiprocess;
mod pg;
mod schemathesis;
mod tidy;
mod tophc;
mod zstack;
