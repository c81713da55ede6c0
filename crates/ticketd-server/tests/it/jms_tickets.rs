//! JumpServer dialect tests: jms_tickets.

#[allow(unused_imports)]
use crate::app::spawn_app;
