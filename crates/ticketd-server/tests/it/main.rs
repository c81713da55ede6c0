//! End-to-end tests of the ticketd server over real HTTP on loopback.

mod app;
mod auth;
mod cli;
mod edge;
mod tidy;
